"""The report of an evaluation: robust accuracy's one definition and the per-example masks.

**Definition.** An example is *robust* under an attack when the model classifies it correctly
both clean and after the attack (:func:`robust_mask`; RobustBench's convention: a clean mistake
is never robust). Robust accuracy is the share of robust examples among all evaluated ones; it
exists only where an attack ran. The worst case over several attacks is robust only where every
attack failed.

:class:`EvaluationReport` keeps the per-example masks (which images each attack broke), so the
worst case is exact and attacks can be added later without rerunning the others; every accuracy
comes with its 95% Wilson interval. The attacks are in :mod:`art_ext.evaluation.attacks`, the
driver in :mod:`art_ext.evaluation.robust`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from art_ext import checks
from art_ext.evaluation.stats import wilson_interval

__all__ = [
    "AUTOATTACK_LISTS",
    "LEGACY_LABELS",
    "LEGACY_LIST_NAMES",
    "NATIVE_LIST_NAMES",
    "AttackResult",
    "EvaluationReport",
    "autoattack_label",
    "mask_to_string",
    "pgd_label",
    "recorded_label",
    "robust_mask",
    "string_to_mask",
    "summary_rows",
]

#: the named AutoAttack attack lists and what each holds
AUTOATTACK_LISTS: dict[str, str] = {
    "standard": "AutoAttack, Croce & Hein's standard list, torch-native: APGD-CE, APGD-T (9 targets), "
    "FAB-T (9 targets), 100 iterations each, Square (5,000 queries); each attacks what the earlier ones left",
    "fast": "reduced AA list 'fast' (not AutoAttack), torch-native: APGD-CE and APGD-DLR (100 iterations), "
    "Square (1,000 queries)",
    "art-default": "ART's AutoAttack with ART's default list, run through ART: APGD-CE and APGD-DLR (100 "
    "iterations, 5 restarts each), DeepFool (100 iterations), Square (5,000 queries, 5 restarts)",
    "art-fast": "ART's APGD-CE and APGD-DLR (100 iterations, 1 restart each) and Square (1,000 queries), run "
    "through ART (the list results files of schema 1 call 'fast')",
}
#: the lists art-ext runs on the model's device (the others go through ART)
NATIVE_LIST_NAMES = ("standard", "fast")
#: what a list name meant in results files written before the native lists (schema 1)
LEGACY_LIST_NAMES = {"standard": "art-default", "fast": "art-fast"}

_LABELS = {"standard": "AutoAttack (standard)", "fast": "reduced AA list 'fast'",
           "art-default": "ART AutoAttack (ART's default list)", "art-fast": "ART reduced list 'art-fast'"}


def robust_mask(y: Any, clean_pred: Any, adv_pred: Any) -> Any:
    """Per-example robustness: correct clean **and** correct under attack (numpy or torch)."""
    return (clean_pred == y) & (adv_pred == y)


def pgd_label(steps: int, restarts: int, loss: str = "ce") -> str:
    """The table name of a PGD evaluation, e.g. ``"PGD-50x10"`` (``"PGD-50x10-margin"``)."""
    return f"PGD-{steps}x{restarts}" + ("" if loss == "ce" else f"-{loss}")


#: the labels results files of schema 1 gave ART's lists, and what those lists are called now
LEGACY_LABELS = {"AutoAttack (standard)": _LABELS["art-default"], "reduced AA list 'fast'": _LABELS["art-fast"]}


def recorded_label(label: str, schema: int) -> str:
    """A list label read from a results file, in today's names (schema 1 files named ART's lists
    ``standard`` and ``fast``, before the native lists took those names)."""
    return LEGACY_LABELS.get(label, label) if schema < 2 else label


def autoattack_label(version: str) -> str:
    """The table name of an AutoAttack list: only Croce & Hein's standard list is called AutoAttack
    unqualified; ART's lists say they are ART's."""
    checks.choice(version, "autoattack", tuple(AUTOATTACK_LISTS))
    return _LABELS[version]


def mask_to_string(mask: Any) -> str:
    """``"0110..."`` (1 = robust), the form masks take in results files."""
    return "".join("1" if bool(v) else "0" for v in np.asarray(mask).reshape(-1))


def string_to_mask(text: str) -> np.ndarray:
    """Inverse of :func:`mask_to_string`."""
    if set(text) - {"0", "1"}:
        raise ValueError(f"a mask string holds only 0 and 1, got {text[:20]!r}...")
    return np.frombuffer(text.encode(), dtype=np.uint8) == ord("1")


# --------------------------------------------------------------------------- the report


@dataclass
class AttackResult:
    """One attack's per-example outcome inside an :class:`EvaluationReport`."""

    name: str
    description: str
    robust: np.ndarray
    seconds: float = 0.0
    params: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def accuracy(self) -> float:
        return float(np.mean(self.robust)) if len(self.robust) else float("nan")

    def to_dict(self) -> dict[str, Any]:
        k, n = int(np.sum(self.robust)), len(self.robust)
        return {"name": self.name, "description": self.description, "accuracy": self.accuracy,
                "ci95": list(wilson_interval(k, n)), "n": n, "seconds": self.seconds, "params": self.params,
                "robust_mask": mask_to_string(self.robust), **({"extra": self.extra} if self.extra else {})}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AttackResult:
        return cls(data["name"], data["description"], string_to_mask(data["robust_mask"]), data.get("seconds", 0.0),
                   dict(data.get("params", {})), dict(data.get("extra", {})))


@dataclass
class EvaluationReport:
    """Clean correctness and per-attack robustness of one model on one set of examples."""

    eps: float
    norm: str
    clean: np.ndarray
    attacks: dict[str, AttackResult] = field(default_factory=dict)
    precision: str = "fp32"
    info: dict[str, Any] = field(default_factory=dict)
    checks: list[dict[str, Any]] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.clean)

    def add(self, result: AttackResult) -> None:
        """Add (or replace) an attack's result: a boolean mask over the same examples, robust only
        where the example is correct clean (:func:`robust_mask`)."""
        robust = np.asarray(result.robust)
        if robust.shape != (self.n,):
            covered = robust.shape[0] if robust.ndim == 1 else robust.shape
            raise ValueError(f"attack {result.name!r} covers {covered} examples, the report {self.n}")
        if robust.dtype != np.bool_:
            raise TypeError(f"attack {result.name!r}: robust must be a boolean mask, got dtype {robust.dtype}")
        wrong = robust & ~np.asarray(self.clean, dtype=bool)
        if wrong.any():
            raise ValueError(
                f"attack {result.name!r} marks {int(wrong.sum())} examples robust that are misclassified clean "
                f"(first: {int(np.nonzero(wrong)[0][0])}); robust means correct clean and under attack (robust_mask)"
            )
        self.attacks[result.name] = result

    def mask(self, name: str) -> np.ndarray:
        """Per-example robustness under ``name``, ``"clean"`` or ``"worst"``."""
        if name == "clean":
            return self.clean
        if name == "worst":
            return self.worst_case
        try:
            return self.attacks[name].robust
        except KeyError:
            raise KeyError(f"no attack {name!r} in this report; it has {sorted(self.attacks)}") from None

    @property
    def worst_case(self) -> np.ndarray:
        """Robust under every attack in the report (and correct clean).

        :raises ValueError: the report holds no attack (no attack means no robust figure)."""
        if not self.attacks:
            raise ValueError("no attack in this report: it has clean accuracy only, no robust or worst-case figure")
        mask = self.clean.copy()
        for result in self.attacks.values():
            mask &= result.robust
        return mask

    def accuracy(self, name: str = "worst") -> float:
        mask = self.mask(name)
        return float(np.mean(mask)) if len(mask) else float("nan")

    def interval(self, name: str = "worst") -> tuple[float, float]:
        mask = self.mask(name)
        return wilson_interval(int(np.sum(mask)), len(mask))

    def to_dict(self) -> dict[str, Any]:
        k, n = int(np.sum(self.clean)), self.n
        worst = self.worst_case if self.attacks else None
        return {
            "eps": self.eps, "norm": self.norm, "n": n, "precision": self.precision,
            "definition": "robust = correct clean and correct under attack; worst case = robust under every attack",
            "clean": {"accuracy": k / n if n else float("nan"), "ci95": list(wilson_interval(k, n)),
                      "mask": mask_to_string(self.clean)},
            "attacks": {name: r.to_dict() for name, r in self.attacks.items()},
            "worst_case": None if worst is None else {
                "accuracy": float(np.mean(worst)) if n else float("nan"),
                "ci95": list(wilson_interval(int(np.sum(worst)), n)), "mask": mask_to_string(worst),
                "attacks": sorted(self.attacks)},
            "info": self.info, "checks": self.checks,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EvaluationReport:
        report = cls(float(data["eps"]), str(data["norm"]), string_to_mask(data["clean"]["mask"]),
                     precision=data.get("precision", "fp32"), info=dict(data.get("info", {})),
                     checks=list(data.get("checks", [])))
        for result in data.get("attacks", {}).values():
            report.add(AttackResult.from_dict(result))
        return report


def summary_rows(reports: Sequence[EvaluationReport]) -> list[dict[str, Any]]:
    """Flat rows (attack, accuracy, interval) of several reports, for tables."""
    rows = []
    for report in reports:
        for name in ["clean", *report.attacks, *(["worst"] if report.attacks else [])]:
            low, high = report.interval(name)
            rows.append({"attack": name, "accuracy": report.accuracy(name), "ci95": [low, high], "n": report.n})
    return rows
