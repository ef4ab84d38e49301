"""Calibrate the word and sentence similarity thresholds of the ``a2t`` preset on MR validation.

    python benchmarks/text_calibration.py --model-cache ~/.cache/art-ext/text-models \\
        --out benchmarks/results/text-validation/calibration.json

A2T's thresholds (word-embedding cosine >= 0.8 in counter-fitted vectors, sentence-BERT
similarity >= 0.9) were set for encoders that are not available offline. With the encoders we
have (all-MiniLM-L6-v2's input embeddings, and the all-MiniLM-L6-v2 sentence encoder applied to
single words or to the sentence) the same numbers mean something else, so each candidate
configuration is *run* (HotFlip and wordswap, A2T's structure: stop words, at most
``max(ceil(10% of words), 2)`` words) on the standard model over ``--n`` validation sentences,
and the share of accepted swaps that replace a word by one of opposite sentiment (VADER lexicon)
is measured. The rule: the configuration with the highest mean success of the two attacks among
those whose opposite-sentiment share (pooled over both attacks) is at most 10%.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
import warnings
from pathlib import Path
from typing import Any

from art_ext.data import data_root

#: name -> (word encoder: "input" | "sentence" | None, word threshold, sentence threshold)
CONFIGS: dict[str, tuple[str | None, float, float]] = {
    "a2t-literal (input 0.8, sentence 0.9)": ("input", 0.8, 0.9),
    "sentence 0.9 only": (None, 0.0, 0.9),
    "sentence 0.85 only": (None, 0.0, 0.85),
    "input 0.5, sentence 0.9": ("input", 0.5, 0.9),
    "input 0.6, sentence 0.9": ("input", 0.6, 0.9),
    "st-word 0.6, sentence 0.9": ("sentence", 0.6, 0.9),
    "st-word 0.7, sentence 0.9": ("sentence", 0.7, 0.9),
    "st-word 0.8, sentence 0.9": ("sentence", 0.8, 0.9),
    "st-word 0.7, sentence 0.85": ("sentence", 0.7, 0.85),
}


def constraints(config: tuple[str | None, float, float], base_model: str, sentence_encoder: str | None) -> list[Any]:
    from art_ext_plugins.text.attacks.constraints import (
        MaxWordsChanged,
        SentenceSimilarity,
        Stopwords,
        WordEmbeddingCosine,
    )
    from art_ext_plugins.text.model.encoders import SentenceEncoder, TokenEmbeddingEncoder

    kind, word_min, sentence_min = config
    out: list[Any] = [Stopwords(), MaxWordsChanged(max_fraction=0.1, min_words=2)]
    if kind == "input":
        out.append(WordEmbeddingCosine(word_min, TokenEmbeddingEncoder.from_pretrained(base_model)))
    elif kind == "sentence":
        out.append(WordEmbeddingCosine(word_min, SentenceEncoder(sentence_encoder)))
    out.append(SentenceSimilarity(sentence_min, sentence_encoder))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-cache", required=True)
    parser.add_argument("--stage", default="standard")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--data-dir", default=str(data_root() / "mr"))
    parser.add_argument("--n", type=int, default=150)
    parser.add_argument("--sentence-encoder", default=None)
    parser.add_argument("--pgd-eps", type=float, nargs="+", default=[1.0, 2.0, 3.0, 4.0])
    parser.add_argument("--out", default="benchmarks/results/text-validation/calibration.json")
    args = parser.parse_args()
    import os

    import torch

    torch.set_num_threads(1)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for noisy in ("transformers", "art_ext.core", "sentence_transformers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from art_ext_plugins.text.attacks.hotflip import HotFlip
    from art_ext_plugins.text.attacks.wordswap import WordSwap
    from art_ext_plugins.text.benchmark.evaluate import subset
    from art_ext_plugins.text.benchmark.sentiment import sentiment_flips
    from art_ext_plugins.text.benchmark.suite import TextBenchSettings, train_stage

    from art_ext.data import load_mr

    settings = TextBenchSettings(data_dir=args.data_dir, epochs=args.epochs, seed=args.seed, split="validation",
                                 model_cache=os.path.expanduser(args.model_cache))
    data = load_mr(args.data_dir, seed=0)
    clf, info = train_stage(args.stage, data, settings)
    idx = subset(len(data.val_texts), args.n)
    texts, labels = [data.val_texts[i] for i in idx], data.y_val[idx]
    rows: dict[str, Any] = {}
    for name, config in CONFIGS.items():
        row: dict[str, Any] = {"config": list(config)}
        pairs = []
        for attack_name, cls, extra in (("hotflip", HotFlip, {}), ("wordswap", WordSwap, {"candidate_embeddings": settings.base_model})):
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                attack = cls(clf, constraints=constraints(config, settings.base_model, args.sentence_encoder), **extra)
                result = attack.attack_text(texts, labels)
            swaps = [(s.old, s.new) for _, s in result.accepted_swaps()]
            pairs += swaps
            row[attack_name] = {"success_rate": result.success_rate, "ci95": list(result.success_interval()),
                                "attacked": result.attacked, "sentiment": sentiment_flips(swaps),
                                "seconds": time.perf_counter() - start}
        row["sentiment_pooled"] = sentiment_flips(pairs)
        row["mean_success"] = (row["hotflip"]["success_rate"] + row["wordswap"]["success_rate"]) / 2
        rows[name] = row
        logging.info("%s: hotflip %.3f wordswap %.3f opposite %.3f of %d", name, row["hotflip"]["success_rate"],
                     row["wordswap"]["success_rate"], row["sentiment_pooled"]["rate"], row["sentiment_pooled"]["swaps"])
    # the budget of the projected embedding-PGD text attack: the smallest relative L2-per-token eps
    # of the grid at which it succeeds on at least half of the attacked sentences under "none"
    from art_ext_plugins.text.attacks.embedding_pgd import EmbeddingPGD

    pgd_rows: dict[str, Any] = {}
    for eps in args.pgd_eps:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            result = EmbeddingPGD(clf, eps=eps, max_iter=10).attack_text(texts[:60], labels[:60])
        pgd_rows[str(eps)] = {"success_rate": result.success_rate, "attacked": result.attacked,
                              "mean_words_changed": result.summary()["mean_words_changed"]}
        logging.info("pgd text eps %s: %.3f", eps, result.success_rate)
    pgd_eps = next((e for e in args.pgd_eps if pgd_rows[str(e)]["success_rate"] >= 0.5), args.pgd_eps[-1])
    eligible = {k: r for k, r in rows.items() if r["sentiment_pooled"]["rate"] <= 0.10}
    chosen = max(eligible, key=lambda k: eligible[k]["mean_success"]) if eligible else None
    out = {"rule": "highest mean success of HotFlip and wordswap among configurations whose pooled opposite-"
                   "sentiment share of accepted swaps is <= 10% (MR validation, standard model)",
           "n": len(idx), "model": info.get("reused", "trained"), "configs": rows, "chosen": chosen,
           "pgd_text": {"rule": "smallest eps with success >= 50% under none (60 sentences)", "by_eps": pgd_rows,
                        "chosen": pgd_eps}}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1))
    logging.info("chosen: %s", chosen)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
