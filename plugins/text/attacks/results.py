"""The one result type of every text attack: :class:`TextAttackResult`.

``HotFlip.attack_text``, ``WordSwap.attack_text``, ``CharSwap.attack_text`` and the embedding
attacks' ``attack_text`` (nearest-token projection) all return it, so reports, benchmarks and
tables read every attack the same way.

Per sentence (lists aligned with the input): original and adversarial text, the label the
attack used (the true label, or the target when ``targeted``), prediction and confidence
(softmax probability of the predicted class) before and after, ``status`` (``"success"``,
``"failed"`` -- also when no word of a correctly classified sentence may change -- or
``"skipped"``: already misclassified, nothing to attack), words changed,
model queries, seconds, and ``swaps``: every accepted change with the value of every constraint
(:class:`SwapRecord`).

**Success** is decided on the returned *string*, re-tokenized and classified again: the
prediction differs from the label (untargeted) or equals the target (targeted). The success
rate is successes / sentences the model classified correctly (the skipped ones, already
misclassified, excluded), with its 95% Wilson interval.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from art_ext.evaluation.robust import robust_mask
from art_ext.evaluation.stats import wilson_interval

__all__ = ["STATUS_CODES", "HotFlipResults", "SwapRecord", "TextAttackResult"]

#: one character per sentence status in ``to_dict()["status"]``
STATUS_CODES = {"success": "S", "failed": "F", "skipped": "-"}


@dataclass
class SwapRecord:
    """One accepted change: word ``index``, ``old`` -> ``new``, and each constraint's value."""

    index: int
    old: str
    new: str
    kind: str = "word"
    values: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TextAttackResult:
    """Per-sentence outcome of a text attack (see the module docstring)."""

    original_texts: list[str]
    adversarial_texts: list[str]
    labels: list[int]
    original_pred: list[int]
    adversarial_pred: list[int]
    success: list[bool]
    status: list[str]
    words_changed: list[int]
    n_words: list[int]
    queries: list[int]
    seconds: list[float]
    adversarial_ids: list[list[int]] = field(default_factory=list)
    original_confidence: list[float] = field(default_factory=list)
    adversarial_confidence: list[float] = field(default_factory=list)
    swaps: list[list[SwapRecord]] = field(default_factory=list)
    attack: str = ""
    targeted: bool = False
    constraints: list[dict[str, Any]] = field(default_factory=list)

    @property
    def attacked(self) -> int:
        return sum(s != "skipped" for s in self.status)

    @property
    def success_rate(self) -> float:
        return sum(self.success) / self.attacked if self.attacked else 0.0

    def success_interval(self) -> tuple[float, float]:
        """95% Wilson interval of :attr:`success_rate`."""
        return wilson_interval(sum(self.success), self.attacked)

    def robust(self) -> np.ndarray:
        """Per sentence: correct clean and correct after the attack (the shared definition,
        :func:`art_ext.evaluation.robust.robust_mask`); untargeted results only."""
        if self.targeted:
            raise ValueError("robust(): labels of a targeted result are targets, not true labels")
        y = np.asarray(self.labels)
        return np.asarray(robust_mask(y, np.asarray(self.original_pred), np.asarray(self.adversarial_pred)), bool)

    def summary(self) -> dict[str, Any]:
        done = [i for i, s in enumerate(self.status) if s != "skipped"]
        ok = [i for i in done if self.success[i]]
        out: dict[str, Any] = {
            "attack": self.attack,
            "n": len(self.status),
            "attacked": len(done),
            "skipped": len(self.status) - len(done),
            "successes": len(ok),
            "success_rate": self.success_rate,
            "success_ci95": list(self.success_interval()),
            "mean_words_changed": float(np.mean([self.words_changed[i] for i in ok])) if ok else 0.0,
            "mean_fraction_changed": float(np.mean([self.words_changed[i] / max(self.n_words[i], 1) for i in ok])) if ok else 0.0,
            "max_fraction_changed": max((self.words_changed[i] / max(self.n_words[i], 1) for i in done), default=0.0),
            "queries_per_sentence": float(np.mean([self.queries[i] for i in done])) if done else 0.0,
            "seconds_per_sentence": float(np.mean([self.seconds[i] for i in done])) if done else 0.0,
            "targeted": self.targeted,
        }
        if not self.targeted and self.labels:
            robust = self.robust()
            out["accuracy_after_attack"] = float(robust.mean())
            out["accuracy_after_attack_ci95"] = list(wilson_interval(int(robust.sum()), len(robust)))
        return out

    def accepted_swaps(self) -> list[tuple[int, SwapRecord]]:
        """``(sentence index, swap)`` for every swap of every successful sentence."""
        return [(i, s) for i, ok in enumerate(self.success) if ok for s in (self.swaps[i] if self.swaps else [])]

    def example(self, i: int) -> dict[str, Any]:
        """Sentence ``i`` as a JSON-able dict (what reports show)."""
        return {
            "index": i, "original": self.original_texts[i], "adversarial": self.adversarial_texts[i],
            "label": self.labels[i], "status": self.status[i],
            "original_pred": self.original_pred[i], "adversarial_pred": self.adversarial_pred[i],
            "original_confidence": self.original_confidence[i] if self.original_confidence else None,
            "adversarial_confidence": self.adversarial_confidence[i] if self.adversarial_confidence else None,
            "words_changed": self.words_changed[i], "n_words": self.n_words[i], "queries": self.queries[i],
            "swaps": [s.to_dict() for s in self.swaps[i]] if self.swaps else [],
        }

    def to_dict(self, examples: bool = True) -> dict[str, Any]:
        """Summary, constraints and (``examples``) every sentence, JSON-able."""
        out: dict[str, Any] = {"summary": self.summary(), "constraints": self.constraints,
                               "success_mask": "".join("1" if s else "0" for s in self.success),
                               "status": "".join(STATUS_CODES[s] for s in self.status)}
        if examples:
            out["examples"] = [self.example(i) for i in range(len(self.status))]
        return out

    @classmethod
    def concatenate(cls, parts: list[TextAttackResult]) -> TextAttackResult:
        """One result from several (batches of the same attack)."""
        if not parts:
            raise ValueError("parts: nothing to concatenate")
        merged: dict[str, Any] = {}
        for name in cls.__dataclass_fields__:
            values = [getattr(p, name) for p in parts]
            merged[name] = [v for part in values for v in part] if isinstance(values[0], list) and name != "constraints" else values[0]
        return cls(**merged)


#: the former name of the result type (``HotFlip.attack_text`` returned it)
HotFlipResults = TextAttackResult
