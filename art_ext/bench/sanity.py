"""Honest-evaluation checks run on every benchmark: signs of gradient masking and broken attacks.

Model-level checks (Athalye et al. 2018, Carlini et al. 2019 "On evaluating adversarial
robustness"), run with ART's PGD at a reference eps on a subset:

* ``pgd-steps``: robust accuracy must not rise with more PGD steps (10, 40, 100);
* ``huge-eps``: PGD with eps covering the whole input range must reach ~0% robust accuracy;
* ``black-box-vs-white-box``: a score-based black-box attack (Square) must not beat PGD;
* ``transfer-vs-white-box``: PGD crafted on an independently trained surrogate must not beat
  PGD on the model itself.

A failed model-level check flags every white-box result ("gradient masking suspected").
Row-level checks on the suite's own results flag single rows: ``eps-monotonic`` (robust
accuracy rising with eps), ``exceeds-eps`` (perturbation larger than the budget),
``single-step-beats-iterative`` (FGSM stronger than PGD) and ``black-box-beats-white-box``
at the same eps.
"""

from __future__ import annotations

import itertools
import logging
from typing import Any

import numpy as np

from art_ext.bench.config import BenchConfig
from art_ext.bench.metrics import prefix_robust_accuracy
from art_ext.bench.setup import BenchTarget, cached_small_cnn

logger = logging.getLogger(__name__)

PGD_STEPS = (10, 40, 100)
MASKING_FLAG = "gradient-masking"


def tolerance(n: int) -> float:
    """Slack for comparing two robust accuracies on ``n`` examples: 2 points or 2 examples."""
    return max(0.02, 2.0 / max(n, 1))


def _pgd(classifier: Any, eps: float, steps: int, batch_size: int, random_init: int = 1) -> Any:
    from art.attacks.evasion import ProjectedGradientDescent

    return ProjectedGradientDescent(
        classifier, norm=np.inf, eps=eps, eps_step=2.5 * eps / steps, max_iter=steps,
        num_random_init=random_init, batch_size=batch_size, verbose=False,
    )


def _robust(classifier: Any, x_adv: np.ndarray, y: np.ndarray, batch_size: int, x: np.ndarray | None = None) -> float:
    """Share of examples classified correctly both clean (``x``, when given) and attacked."""
    pred = np.argmax(classifier.predict(x_adv.astype(np.float32), batch_size=batch_size), axis=1)
    ok = pred == y
    if x is not None:
        ok &= np.argmax(classifier.predict(x.astype(np.float32), batch_size=batch_size), axis=1) == y
    return float(np.mean(ok))


def _check(name: str, passed: bool, detail: str, **values: Any) -> dict[str, Any]:
    return {"name": name, "passed": bool(passed), "detail": detail, "values": values}


def model_checks(
    target: BenchTarget, dataset: Any, x: np.ndarray, y: np.ndarray, config: BenchConfig, eps_ref: float,
    progress: Any = None,
) -> list[dict[str, Any]]:
    """The four model-level checks on ``(x, y)`` at ``eps_ref`` (Linf)."""
    from art.attacks.evasion import SquareAttack

    from art_ext.bench.attacks import seed_everything
    from art_ext.models import make_classifier

    classifier = target.classifier
    n = len(y)
    tol = tolerance(n)
    bs = config.batch_size
    checks: list[dict[str, Any]] = []

    def tick(label: str) -> None:
        if progress is not None:
            progress.set_postfix_str(label)
            progress.update(1)

    robust_by_steps: dict[int, float] = {}
    for steps in PGD_STEPS:
        seed_everything(config.seed)
        robust_by_steps[steps] = _robust(classifier, _pgd(classifier, eps_ref, steps, bs).generate(x, y=y), y, bs, x)
        tick(f"PGD-{steps}")
    rises = [(a, b) for a, b in itertools.pairwise(PGD_STEPS) if robust_by_steps[b] > robust_by_steps[a] + tol]
    values = ", ".join(f"PGD-{s}: {100 * r:.1f}%" for s, r in robust_by_steps.items())
    checks.append(_check(
        "pgd-steps", not rises,
        f"robust accuracy at eps={eps_ref:g} by PGD steps: {values}"
        + (" (rises with more steps)" if rises else " (does not rise)"),
        eps=eps_ref, robust_accuracy={str(k): v for k, v in robust_by_steps.items()}, tolerance=tol,
    ))
    pgd_robust = min(robust_by_steps.values())

    low, high = classifier.clip_values
    huge = float(high - low)
    seed_everything(config.seed)
    huge_robust = _robust(classifier, _pgd(classifier, huge, 40, bs).generate(x, y=y), y, bs, x)
    tick("huge eps")
    limit = max(0.01, 1.0 / n)
    checks.append(_check(
        "huge-eps", huge_robust <= limit,
        f"PGD-40 with eps={huge:g} (the whole input range) leaves {100 * huge_robust:.1f}% robust "
        f"accuracy (must be <= {100 * limit:.1f}%)",
        eps=huge, robust_accuracy=huge_robust, limit=limit,
    ))

    seed_everything(config.seed)
    square = SquareAttack(classifier, norm=np.inf, eps=eps_ref, max_iter=300, verbose=False)
    square_robust = _robust(classifier, square.generate(x, y=y), y, bs, x)
    tick("Square")
    checks.append(_check(
        "black-box-vs-white-box", square_robust >= pgd_robust - tol,
        f"Square (300 iterations, score-based) {100 * square_robust:.1f}% vs best PGD "
        f"{100 * pgd_robust:.1f}% robust accuracy at eps={eps_ref:g}",
        eps=eps_ref, black_box=square_robust, white_box=pgd_robust, tolerance=tol,
    ))

    surrogate_model, _ = cached_small_cnn(
        dataset.x_train, dataset.y_train, int(classifier.nb_classes), seed=config.seed + 1,
        epochs=config.epochs, cache_dir=config.cache_path(), tag="surrogate",
    )
    surrogate = make_classifier(surrogate_model, dataset.input_shape, int(classifier.nb_classes),
                                clip_values=(float(low), float(high)))
    seed_everything(config.seed)
    transfer_robust = _robust(classifier, _pgd(surrogate, eps_ref, 40, bs).generate(x, y=y), y, bs, x)
    tick("transfer")
    checks.append(_check(
        "transfer-vs-white-box", transfer_robust >= pgd_robust - tol,
        f"PGD-40 transferred from a surrogate SmallCNN {100 * transfer_robust:.1f}% vs white-box "
        f"PGD {100 * pgd_robust:.1f}% robust accuracy at eps={eps_ref:g}",
        eps=eps_ref, transfer=transfer_robust, white_box=pgd_robust, tolerance=tol,
    ))
    return checks


MODEL_CHECK_STEPS = len(PGD_STEPS) + 3


def _by_attack(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if row.get("error") is None and row.get("eps") is not None:
            grouped.setdefault(row["attack"], []).append(row)
    return grouped


def _add_flag(row: dict[str, Any], flag: str) -> None:
    if flag not in row["flags"]:
        row["flags"].append(flag)


def row_checks(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Row-level checks; flags the offending rows in place and returns check records."""
    checks: list[dict[str, Any]] = []
    grouped = _by_attack(rows)

    bad: list[str] = []
    for name, group in grouped.items():
        group = sorted(group, key=lambda r: r["eps"])
        for before, after in itertools.pairwise(group):
            if after["robust_accuracy"] > before["robust_accuracy"] + tolerance(after["n"]):
                _add_flag(after, "eps-monotonic")
                bad.append(f"{name} eps {before['eps']:g}->{after['eps']:g}")
    checks.append(_check("eps-monotonic", not bad, "robust accuracy never rises with eps" if not bad
                         else "robust accuracy rises with eps: " + "; ".join(bad)))

    bad = []
    for row in rows:
        if row.get("error") is None and row.get("eps_mode") == "fixed":
            used = row["max_linf_all"] if row["norm"] == "inf" else row["max_l2_all"]
            if used is not None and used > row["eps"] * (1 + 1e-4) + 1e-5:
                _add_flag(row, "exceeds-eps")
                bad.append(f"{row['attack']} eps {row['eps']:g} used {used:.4g}")
    checks.append(_check("exceeds-eps", not bad, "every fixed-eps attack stays within its budget" if not bad
                         else "perturbation larger than eps: " + "; ".join(bad)))

    def at(kind: Any, eps: float, norm: str) -> list[dict[str, Any]]:
        return [r for g in grouped.values() for r in g
                if r["eps"] == eps and r["norm"] == norm and kind(r)]

    bad = []
    eps_points = sorted({(r["norm"], r["eps"]) for g in grouped.values() for r in g})
    for norm, eps in eps_points:
        white = at(lambda r: r["threat"] == "white-box" and r["attack"] != "art.fgsm", eps, norm)
        black = at(lambda r: r["threat"] == "black-box", eps, norm)
        if not white or not black:
            continue
        for row in black:
            n = min([row["n"], *(w["n"] for w in white)])
            best_white = min(prefix_robust_accuracy(w, n) for w in white)
            black_robust = prefix_robust_accuracy(row, n)
            if black_robust < best_white - tolerance(n):
                for w in white:
                    _add_flag(w, "black-box-beats-white-box")
                bad.append(f"{row['attack']} {100 * black_robust:.1f}% < white-box "
                           f"{100 * best_white:.1f}% at eps {eps:g} (first {n} examples)")
    checks.append(_check("black-box-beats-white-box", not bad,
                         "no black-box attack beats the best white-box one at the same eps" if not bad
                         else "; ".join(bad)))

    bad = []
    for eps in sorted({r["eps"] for r in grouped.get("art.fgsm", [])}):
        fgsm = [r for r in grouped.get("art.fgsm", []) if r["eps"] == eps]
        pgd = [r for name in ("art.pgd", "foolbox.linf_pgd") for r in grouped.get(name, []) if r["eps"] == eps]
        for p in pgd:
            n = min(p["n"], fgsm[0]["n"]) if fgsm else p["n"]
            if fgsm and prefix_robust_accuracy(fgsm[0], n) < prefix_robust_accuracy(p, n) - tolerance(n):
                _add_flag(p, "single-step-beats-iterative")
                bad.append(f"FGSM {100 * prefix_robust_accuracy(fgsm[0], n):.1f}% < {p['attack']} "
                           f"{100 * prefix_robust_accuracy(p, n):.1f}% at eps {eps:g}")
    checks.append(_check("single-step-beats-iterative", not bad,
                         "FGSM never beats PGD" if not bad else "; ".join(bad)))
    return checks


def apply_model_flags(rows: list[dict[str, Any]], checks: list[dict[str, Any]]) -> list[str]:
    """Flag every white-box/ensemble row when a model-level check failed; returns the failures."""
    failed = [c["name"] for c in checks if not c["passed"]]
    if failed:
        for row in rows:
            if row.get("threat") in ("white-box", "semi-white-box", "ensemble"):
                _add_flag(row, MASKING_FLAG)
    return failed
