"""Honest-evaluation checks run on every benchmark: signs of gradient masking and broken attacks.

Model-level checks are the evaluation's (:mod:`art_ext.evaluation.masking`: PGD steps, loss along
the steps, robust accuracy against eps, whole-range eps, Square vs PGD, transfer from a surrogate)
at a reference eps on a subset. A failed model-level check flags every white-box result
("gradient masking suspected").

Row-level checks on the suite's own results flag single rows: ``eps-monotonic`` (robust
accuracy rising with eps), ``exceeds-eps`` (perturbation larger than the budget),
``single-step-beats-iterative`` (FGSM stronger than PGD), ``black-box-beats-white-box``
at the same eps and ``minimal-attack-converged`` (a minimal-perturbation attack that still leaves
far more examples robust than the best attack at the largest eps of its norm: it stopped before
converging, as ART's C&W-L2 with ART's defaults did, and its rows would read as a robust model).
"""

from __future__ import annotations

import itertools
import logging
from typing import Any

import numpy as np

from art_ext.bench.config import BenchConfig
from art_ext.bench.metrics import prefix_robust_accuracy
from art_ext.bench.setup import BenchTarget
from art_ext.evaluation.masking import check_record as _check
from art_ext.evaluation.masking import gradient_masking_checks, tolerance
from art_ext.model_io import cached_small_cnn, dataset_classifier

logger = logging.getLogger(__name__)

MASKING_FLAG = "gradient-masking"


def model_checks(
    target: BenchTarget, dataset: Any, x: np.ndarray, y: np.ndarray, config: BenchConfig, eps_ref: float,
    progress: Any = None,
) -> list[dict[str, Any]]:
    """The evaluation's gradient-masking checks (:mod:`art_ext.evaluation.masking`) at ``eps_ref``
    (Linf), with an independently trained SmallCNN as the transfer surrogate."""
    classifier = target.classifier
    surrogate_model, _ = cached_small_cnn(
        dataset.x_train, dataset.y_train, int(classifier.nb_classes), seed=config.seed + 1,
        epochs=config.epochs, cache_dir=config.cache_path(), tag="surrogate", normalisation=dataset.normalisation,
    )
    surrogate = dataset_classifier(surrogate_model, dataset, nb_classes=int(classifier.nb_classes))
    return gradient_masking_checks(classifier, x, y, eps=eps_ref, norm="inf", seed=config.seed,
                                   surrogate=surrogate, progress=progress)


MODEL_CHECK_STEPS = 5


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
    checks.append(_minimal_attack_check(grouped))
    return checks


#: how far (in robust accuracy, on top of the sampling tolerance) a minimal attack may stay above the
#: best attack at the largest eps before it counts as not converged
MINIMAL_GAP = 0.2


def _minimal_attack_check(grouped: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    bad = []
    for norm in sorted({r["norm"] for g in grouped.values() for r in g}):
        rows = [r for g in grouped.values() for r in g if r["norm"] == norm]
        largest = max(r["eps"] for r in rows)
        at_largest = [r for r in rows if r["eps"] == largest]
        for row in (r for r in at_largest if r.get("eps_mode") == "threshold"):
            n = min(r["n"] for r in at_largest)
            best = min(prefix_robust_accuracy(r, n) for r in at_largest)
            robust = prefix_robust_accuracy(row, n)
            if robust > best + MINIMAL_GAP + tolerance(n):
                _add_flag(row, "minimal-attack-converged")
                bad.append(f"{row['attack']} leaves {100 * robust:.1f}% robust at {norm} eps {largest:g}, the best "
                           f"attack {100 * best:.1f}% (first {n} examples): raise its iterations or constants")
    return _check("minimal-attack-converged", not bad,
                  "every minimal attack reaches within 20 points of the best attack at the largest eps" if not bad
                  else "; ".join(bad))


def apply_model_flags(rows: list[dict[str, Any]], checks: list[dict[str, Any]]) -> list[str]:
    """Flag every white-box/ensemble row when a model-level check failed; returns the failures."""
    failed = [c["name"] for c in checks if not c["passed"]]
    if failed:
        for row in rows:
            if row.get("threat") in ("white-box", "semi-white-box", "ensemble"):
                _add_flag(row, MASKING_FLAG)
    return failed
