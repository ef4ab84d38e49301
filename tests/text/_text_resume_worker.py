"""Subprocess used by test_text_resume.py: a text trainer on a tiny BERT with a checkpoint every
step. argv: trainer checkpoint_dir out_path [--resume]; env RESUME_WORKER_SLEEP adds a pause per
step so the parent can kill it mid-epoch. Trainers: ``text-standard``, ``freelb`` (adv_swaps=1), ``text-a2t`` (half of each batch attacked)."""

from __future__ import annotations

import os
import sys
import time
import warnings
from pathlib import Path

import torch

warnings.filterwarnings("ignore")
torch.set_num_threads(1)
sys.path.insert(0, str(Path(__file__).parent))

EPOCHS, BATCH = 2, 4
TRAINERS = {"text-standard": {}, "freelb": {"adv_swaps": 1, "relative": True},
            "text-a2t": {"constraints": "none", "adv_ratio": 0.5}}


def build():
    from art_ext_plugins.text.model.estimator import HuggingFaceTextClassifier
    from text_helpers import FALLBACK_CORPUS, fixed_tokenizer, tiny_bert

    tokenizer = fixed_tokenizer(FALLBACK_CORPUS)
    clf = HuggingFaceTextClassifier(tiny_bert(len(tokenizer), seed=0), tokenizer, max_length=32)
    labels = [i % 2 for i in range(len(FALLBACK_CORPUS))]
    return clf, FALLBACK_CORPUS, labels


def make_trainer(name, clf, checkpoint_dir, resume):
    import art_ext

    pause = float(os.environ.get("RESUME_WORKER_SLEEP", "0"))
    trainer = art_ext.get_trainer(name, clf, lr=1e-3, nb_epochs=EPOCHS, batch_size=BATCH, seed=0, verbose=False,
                                  checkpoint_dir=checkpoint_dir, checkpoint_every=1, resume=resume, **TRAINERS[name])
    if pause:
        step = trainer.train_step

        def slow(batch):
            out = step(batch)
            time.sleep(pause)
            return out

        trainer.train_step = slow
    return trainer


def main() -> int:
    from art_ext.core import TrainingInterrupted

    name, checkpoint_dir, out = sys.argv[1], sys.argv[2], sys.argv[3]
    clf, texts, labels = build()
    trainer = make_trainer(name, clf, checkpoint_dir, "--resume" in sys.argv)
    try:
        trainer.fit(texts, labels)
    except TrainingInterrupted as stop:
        return 128 + stop.signum
    torch.save(clf.model.state_dict(), out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
