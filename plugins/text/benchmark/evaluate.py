"""Evaluation half of the text benchmark: one trained model against every attack x preset.

:func:`evaluate_model` measures, on one MR split (``validation`` for choices, ``test`` for the
figures that are reported): clean accuracy on every sentence (95% Wilson interval and the
per-sentence mask); each attack (``hotflip``, ``wordswap``, ``charswap``, ``pgd``: embedding
PGD projected onto real words) under each constraint preset on a fixed seeded subset, with the
successful examples, every swap's constraint values and the sentiment check (VADER); and
embedding-space PGD robust accuracy at a few budgets. :func:`compare` pairs models on the same
sentences (:func:`art_ext.evaluation.stats.paired_difference`).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from art_ext_plugins.text.attacks.embedding_pgd import EmbeddingPGD
from art_ext_plugins.text.benchmark.sentiment import sentiment_flips

from art_ext.core.checkpoint import atomic_write_text
from art_ext.evaluation.robust import mask_to_string, string_to_mask
from art_ext.evaluation.stats import paired_difference, wilson_interval

logger = logging.getLogger(__name__)

__all__ = ["ATTACKS", "FinishedCells", "attack_cell", "compare", "evaluate_model", "evaluation_identity", "make_attack",
           "subset"]

#: benchmark name -> registered attack name
ATTACKS: dict[str, str] = {"hotflip": "text-hotflip", "wordswap": "text-wordswap", "charswap": "text-charswap",
                           "pgd": "text-embedding-pgd"}
#: the subset of attacked sentences is the same for every model and seed
SUBSET_SEED = 0
#: successful examples kept per attack x preset (a seeded sample; the summary counts all)
MAX_EXAMPLES = 60


def subset(n_total: int, n: int | None, seed: int = SUBSET_SEED) -> np.ndarray:
    """Sorted indices of ``n`` of ``n_total`` items drawn with ``seed`` (all of them for None)."""
    if n is None or n >= n_total:
        return np.arange(n_total)
    return np.sort(np.random.default_rng(seed).permutation(n_total)[:n])


def split_data(data: Any, split: str) -> tuple[list[str], np.ndarray]:
    if split == "test":
        return list(data.test_texts), np.asarray(data.y_test)
    if split == "validation":
        return list(data.val_texts), np.asarray(data.y_val)
    raise ValueError(f"split must be 'test' or 'validation', got {split!r}")


def make_attack(clf: Any, attack: str, preset: str, settings: Any, word_encoder: Any) -> Any:
    """The registered attack for a benchmark cell (shared settings: budget 20% of words)."""
    import art_ext

    common: dict[str, Any] = {"constraints": preset, "max_perturb_ratio": 0.2, "word_encoder": word_encoder,
                              "sentence_encoder": settings.sentence_encoder}
    if attack == "pgd":
        common.update(eps=settings.pgd_text_eps, max_iter=settings.pgd_steps, norm="2", per="token")
    if attack == "wordswap":
        common.update(candidate_embeddings=settings.candidate_embeddings)
    if attack == "charswap":
        common.update(n_candidates=settings.charswap_candidates)
    return art_ext.get_attack(ATTACKS[attack], clf, **common)


def attack_cell(clf: Any, attack: str, preset: str, texts: list[str], labels: np.ndarray, settings: Any,
                word_encoder: Any) -> dict[str, Any]:
    """One attack x preset on the given sentences: summary, masks, successful examples, sentiment."""
    start = time.perf_counter()
    result = make_attack(clf, attack, preset, settings, word_encoder).attack_text(texts, labels)
    cell = result.to_dict(examples=False)
    cell["seconds"] = time.perf_counter() - start

    cell["robust_mask"] = mask_to_string(result.robust())
    successes = [i for i, ok in enumerate(result.success) if ok]
    if len(successes) > MAX_EXAMPLES:  # a seeded sample keeps the results files small
        successes = sorted(np.random.default_rng(0).choice(successes, MAX_EXAMPLES, replace=False).tolist())
    cell["examples"] = [result.example(i) for i in successes]
    if attack != "charswap":
        cell["sentiment"] = sentiment_flips((s.old, s.new) for _, s in result.accepted_swaps())
    logger.info("%s / %s: %s", attack, preset, {k: cell["summary"][k] for k in ("success_rate", "attacked")})
    return cell


class FinishedCells:
    """The cells of one model's evaluation finished so far, kept in a JSON file so that an evaluation
    cut off (a session's end, ``kill``) resumes at the first unfinished cell.

    The file holds the evaluation's identity (split, subset, budgets, encoders); a file of another
    evaluation is set aside, never mixed in. ``path`` ``None``: nothing is kept.
    """

    def __init__(self, path: Path | None, identity: dict[str, Any]) -> None:
        self.path, self.identity = path, identity
        self.cells: dict[str, Any] = {}
        if path is not None and path.is_file():
            saved = json.loads(path.read_text())
            if saved.get("identity") == identity:
                self.cells = dict(saved["cells"])
                logger.info("resuming the evaluation in %s: %d cells done", path, len(self.cells))
            else:
                logger.warning("%s holds another evaluation; starting this one afresh", path)

    def get(self, key: str, compute: Callable[[], Any]) -> Any:
        """The cell ``key``: recorded, or computed now and recorded before the next one starts."""
        if key not in self.cells:
            self.cells[key] = compute()
            if self.path is not None:
                atomic_write_text(self.path, json.dumps({"identity": self.identity, "cells": self.cells}, default=float))
        return self.cells[key]


def evaluation_identity(settings: Any, n_texts: int) -> dict[str, Any]:
    """What makes two evaluations of one model the same (their cells interchangeable)."""
    idx = subset(n_texts, settings.n_attack)
    return {"split": settings.split, "subset_sha": _digest(idx), "n_pgd": settings.n_pgd, "pgd_eps": list(settings.pgd_eps),
            "pgd_steps": settings.pgd_steps, "pgd_text_eps": settings.pgd_text_eps,
            "charswap_candidates": settings.charswap_candidates, "sentence_encoder": settings.sentence_encoder,
            "candidate_embeddings": settings.candidate_embeddings}


def evaluate_model(clf: Any, data: Any, settings: Any, word_encoder: Any = None, resume_file: Path | None = None) -> dict[str, Any]:
    """Clean accuracy, every attack x preset, embedding-space PGD, on ``settings.split``.

    ``resume_file``: where finished cells are kept (:class:`FinishedCells`); the model must be the
    one the file's cells were measured on (the caller's cache folder makes it so).
    """
    texts, labels = split_data(data, settings.split)
    done = FinishedCells(resume_file, evaluation_identity(settings, len(texts)))
    out: dict[str, Any] = {"split": settings.split}
    out["clean"] = done.get("clean", partial(_clean_cell, clf, texts, labels))
    idx = subset(len(texts), settings.n_attack)
    sub_texts, sub_labels = [texts[i] for i in idx], labels[idx]
    out["subset"] = {"n": len(idx), "seed": SUBSET_SEED, "indices_sha": _digest(idx)}
    out["attacks"] = {}
    for attack in settings.attacks:
        out["attacks"][attack] = {}
        for preset in settings.presets:
            out["attacks"][attack][preset] = done.get(
                f"{attack}/{preset}", partial(attack_cell, clf, attack, preset, sub_texts, sub_labels, settings, word_encoder))
    n_pgd = min(len(idx), settings.n_pgd)
    by_eps = {str(eps): done.get(f"embedding-pgd/{eps}", partial(_pgd_cell, clf, eps, sub_texts[:n_pgd], sub_labels[:n_pgd], settings))
              for eps in settings.pgd_eps}
    out["embedding_pgd"] = {"n": n_pgd, "steps": settings.pgd_steps, "norm": "L2 per token",
                            "eps_unit": f"embedding scale {clf.embedding_scale:.4f}", "by_eps": by_eps}
    return out


def _clean_cell(clf: Any, texts: list[str], labels: np.ndarray) -> dict[str, Any]:
    start = time.perf_counter()
    correct = clf.predict(texts).argmax(1) == labels
    return {"accuracy": float(correct.mean()), "ci95": list(wilson_interval(int(correct.sum()), len(correct))),
            "n": len(correct), "mask": mask_to_string(correct), "seconds": time.perf_counter() - start}


def _pgd_cell(clf: Any, eps: float, texts: list[str], labels: np.ndarray, settings: Any) -> dict[str, Any]:
    start = time.perf_counter()
    pgd = EmbeddingPGD(clf, eps=eps, max_iter=settings.pgd_steps, norm="2", per="token", batch_size=32)
    robust = pgd.generate_result(np.array(texts, dtype=object), labels).robust()
    return {"robust_acc": float(robust.mean()), "ci95": list(wilson_interval(int(robust.sum()), len(robust))),
            "mask": mask_to_string(robust), "seconds": time.perf_counter() - start}


def _digest(idx: np.ndarray) -> str:
    import hashlib

    return hashlib.sha256(np.asarray(idx, dtype=np.int64).tobytes()).hexdigest()[:12]


def _mask(text: str) -> np.ndarray:
    return string_to_mask(text)


def success_drop(base: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    """Success of ``base`` minus ``other`` on the sentences both attacked (both correct clean),
    paired (bootstrap 95% interval and McNemar), plus the two unpaired rates."""
    a_ok, b_ok = _mask(base["success_mask"]), _mask(other["success_mask"])
    both = np.array([s != "-" for s in base["status"]]) & np.array([s != "-" for s in other["status"]])
    out: dict[str, Any] = {"base_rate": base["summary"]["success_rate"], "other_rate": other["summary"]["success_rate"],
                           "unpaired_drop": base["summary"]["success_rate"] - other["summary"]["success_rate"],
                           "n_common": int(both.sum())}
    if both.any():
        out["paired"] = paired_difference(a_ok[both], b_ok[both])
    return out


def compare(models: dict[str, Any], standard: str, variants: list[str], presets: tuple[str, ...] = ("a2t",),
            attacks: tuple[str, ...] = ("hotflip", "wordswap")) -> dict[str, Any]:
    """Each variant against ``standard``: paired clean-accuracy difference, success drops."""
    base = models[standard]
    out: dict[str, Any] = {}
    for name in variants:
        model = models[name]
        entry: dict[str, Any] = {"clean": paired_difference(_mask(model["clean"]["mask"]), _mask(base["clean"]["mask"]))}
        for attack in attacks:
            for preset in presets:
                a = base.get("attacks", {}).get(attack, {}).get(preset)
                b = model.get("attacks", {}).get(attack, {}).get(preset)
                if a and b:
                    entry[f"{attack}/{preset}"] = success_drop(a, b)
        out[name] = entry
    return out
