"""Gradient-masking checks (Athalye et al. 2018; Carlini et al. 2019, "On evaluating adversarial
robustness"), run on any classifier, in float32, with the core's PGD:

* ``pgd-steps``: robust accuracy must not rise with more PGD steps (10, 50, 100);
* ``loss-rises-with-steps``: the attack's mean loss must not fall along the PGD-100 run
  (compared at steps 10, 50 and 100);
* ``robust-falls-with-eps``: robust accuracy must not rise with the budget (eps/2, eps, 1.5 eps);
* ``huge-eps``: PGD with a budget covering the whole input range must reach (almost) 0%;
* ``black-box-vs-white-box``: a score-based black-box attack (ART's Square, 300 queries) must
  not beat PGD;
* ``transfer-vs-white-box`` (when a surrogate is given): PGD crafted on an independently trained
  model must not beat PGD on the model itself.

A failed check is a sign that the white-box numbers overstate robustness.
"""

from __future__ import annotations

import itertools
import logging
from typing import Any

import numpy as np
import torch

from art_ext import checks
from art_ext.core import perturb
from art_ext.core.device import eval_mode
from art_ext.evaluation.attacks import eval_module, pgd_batch_masks
from art_ext.evaluation.report import EvaluationReport, robust_mask

logger = logging.getLogger(__name__)

__all__ = ["PGD_STEPS", "check_record", "gradient_masking_checks", "tolerance"]

PGD_STEPS = (10, 50, 100)


def tolerance(n: int) -> float:
    """Slack for comparing two robust accuracies on ``n`` examples: 2 points or 2 examples."""
    return max(0.02, 2.0 / max(n, 1))


def check_record(name: str, passed: bool, detail: str, **values: Any) -> dict[str, Any]:
    return {"name": name, "passed": bool(passed), "detail": detail, "values": values}


def gradient_masking_checks(
    classifier: Any,
    x: np.ndarray,
    y: np.ndarray,
    *,
    eps: float,
    norm: str = "inf",
    seed: int = 0,
    report: EvaluationReport | None = None,
    surrogate: Any = None,
    square_queries: int = 300,
    progress: Any = None,
    channels_last: bool | None = None,
) -> list[dict[str, Any]]:
    """The checks of the module docstring on ``(x, y)``; each a dict ``name, passed, detail, values``.
    ``channels_last`` as in :func:`~art_ext.evaluation.attacks.eval_module`."""
    if getattr(classifier, "clip_values", None) is None:
        raise ValueError("classifier: the gradient-masking checks need clip_values (their unbounded-eps check "
                         "attacks the whole input range); build the classifier with clip_values=(min, max)")
    x = checks.images(x, input_shape=tuple(classifier.input_shape), clip_values=classifier.clip_values)
    y = checks.class_indices(y, nb_classes=int(classifier.nb_classes), n=len(x))
    key = checks.parse_norm(norm)
    checks.seed(seed)
    with eval_module(classifier, channels_last) as (model, device, _):
        return _run_checks(classifier, model, device, x, y, key=key, eps=eps, seed=seed, report=report,
                           surrogate=surrogate, square_queries=square_queries, progress=progress)


def _run_checks(
    classifier: Any, model: torch.nn.Module, device: torch.device, x: np.ndarray, y: np.ndarray, *, key: str,
    eps: float, seed: int, report: EvaluationReport | None, surrogate: Any, square_queries: int, progress: Any,
) -> list[dict[str, Any]]:
    from art.attacks.evasion import SquareAttack  # ART's own, on demand

    bounds = checks.clip_bounds(classifier.clip_values, tuple(classifier.input_shape))
    clip = None if bounds is None else tuple(torch.as_tensor(b, dtype=torch.float32, device=device) for b in bounds)
    xt = torch.as_tensor(np.asarray(x, dtype=np.float32), device=device)
    yt = torch.as_tensor(y, device=device)
    n = len(y)
    tol = tolerance(n)
    out: list[dict[str, Any]] = []

    def tick(label: str) -> None:
        if progress is not None:
            progress.set_postfix_str(label)
            progress.update(1)

    def robust_at(budget: float, steps: int, trace: list[torch.Tensor] | None = None) -> float:
        generator = torch.Generator(device=device).manual_seed(seed)
        with eval_mode(classifier.model):
            _, mask = pgd_batch_masks(model, xt, yt, eps=budget, norm=key, steps=steps, restarts=1,
                                      clip_values=clip, generator=generator, trace=trace)
        return float(mask.float().mean())

    trace: list[torch.Tensor] = []
    by_steps = {steps: robust_at(eps, steps, trace if steps == PGD_STEPS[-1] else None) for steps in PGD_STEPS}
    tick("PGD steps")
    rises = [(a, b) for a, b in itertools.pairwise(PGD_STEPS) if by_steps[b] > by_steps[a] + tol]
    shown = ", ".join(f"PGD-{s}: {100 * r:.1f}%" for s, r in by_steps.items())
    out.append(check_record("pgd-steps", not rises, f"robust accuracy at eps={eps:g} by PGD steps: {shown}"
                      + (" (rises with more steps)" if rises else " (does not rise)"),
                      eps=eps, robust_accuracy={str(k): v for k, v in by_steps.items()}, tolerance=tol))
    pgd_robust = min(by_steps.values())

    losses = torch.stack(trace).cpu().numpy() if trace else np.zeros(0)
    points = [p for p in (10, 50, 100) if p <= len(losses)]
    at = {p: float(losses[p - 1]) for p in points}
    slack = 0.02 * max(abs(v) for v in at.values()) + 1e-3 if at else 0.0
    falls = [(a, b) for a, b in itertools.pairwise(points) if at[b] < at[a] - slack]
    out.append(check_record("loss-rises-with-steps", not falls,
                      "mean PGD loss " + ", ".join(f"step {p}: {v:.3f}" for p, v in at.items())
                      + (" (falls)" if falls else " (does not fall)"), loss=at, slack=slack))

    span = checks.input_span(classifier.clip_values)
    budgets = [eps / 2, eps, 1.5 * eps]
    if span is not None and key == "inf":
        budgets = [min(b, span) for b in budgets]
    by_eps = {b: robust_at(b, 50) for b in budgets}
    tick("eps grid")
    bad = [(a, b) for a, b in itertools.pairwise(budgets) if by_eps[b] > by_eps[a] + tol]
    out.append(check_record("robust-falls-with-eps", not bad, "PGD-50 robust accuracy " + ", ".join(
        f"eps {b:g}: {100 * r:.1f}%" for b, r in by_eps.items()) + (" (rises with eps)" if bad else " (falls or holds)"),
        robust_accuracy={f"{b:g}": r for b, r in by_eps.items()}, tolerance=tol))

    if span is not None:
        huge = span if key == "inf" else span * float(np.sqrt(np.prod(classifier.input_shape)))
        huge_robust = robust_at(huge, 40)
        limit = max(0.01, 1.0 / n)
        out.append(check_record("huge-eps", huge_robust <= limit,
                          f"PGD-40 with eps={huge:g} (the whole input range) leaves {100 * huge_robust:.1f}% robust "
                          f"accuracy (must be <= {100 * limit:.1f}%)", eps=huge, robust_accuracy=huge_robust, limit=limit))
        tick("huge eps")

    np.random.seed(seed)
    square = SquareAttack(classifier, norm=checks.norm_order(key), eps=eps, max_iter=square_queries, verbose=False)
    with eval_mode(classifier.model):
        x_sq = square.generate(np.asarray(x, dtype=np.float32), y=y)
        clean_pred = classifier.predict(np.asarray(x, dtype=np.float32)).argmax(1)
        sq_pred = classifier.predict(x_sq).argmax(1)
    square_robust = float(np.mean(robust_mask(y, clean_pred, sq_pred)))
    tick("Square")
    out.append(check_record("black-box-vs-white-box", square_robust >= pgd_robust - tol,
                      f"Square ({square_queries} queries) {100 * square_robust:.1f}% vs best PGD {100 * pgd_robust:.1f}% "
                      f"robust accuracy at eps={eps:g}", black_box=square_robust, white_box=pgd_robust, tolerance=tol))
    if report is not None:
        for result in report.attacks.values():
            broken = result.extra.get("broken_by", {})
            # ART names the member SquareAttack, the native lists square / square-1000
            squares = sum(v for k, v in broken.items() if k.startswith(("SquareAttack", "square")))
            if broken:
                out.append(check_record("autoattack-square-adds-little", squares <= tol * report.n,
                                  f"inside {result.name}, Square broke {squares} of {report.n} examples the "
                                  "gradient-based members left robust", square_broke=squares, n=report.n))
    if surrogate is not None:
        with eval_module(surrogate) as (s_model, s_device, _), eval_mode(surrogate.model):
            generator = torch.Generator(device=s_device).manual_seed(seed)
            x_tr = perturb.pgd(s_model, xt.to(s_device), yt.to(s_device), eps, 2.5 * eps / 40, 40, norm=key,
                               clip_values=None if clip is None else (clip[0].to(s_device), clip[1].to(s_device)),
                               generator=generator)
        with eval_mode(classifier.model), torch.no_grad():
            tr_pred = model(x_tr.to(device)).argmax(1)
            clean_t = model(xt).argmax(1)
        transfer_robust = float(robust_mask(yt, clean_t, tr_pred).float().mean())
        tick("transfer")
        out.append(check_record("transfer-vs-white-box", transfer_robust >= pgd_robust - tol,
                          f"PGD-40 transferred from a surrogate {100 * transfer_robust:.1f}% vs white-box PGD "
                          f"{100 * pgd_robust:.1f}% robust accuracy at eps={eps:g}",
                          transfer=transfer_robust, white_box=pgd_robust, tolerance=tol))
    failed = [c["name"] for c in out if not c["passed"]]
    if failed:
        logger.warning("gradient-masking checks failed: %s", ", ".join(failed))
    return out
