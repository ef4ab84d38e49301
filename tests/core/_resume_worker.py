"""Subprocess used by test_checkpoint.py: PGD training on a digits subset with a checkpoint
every step. argv: checkpoint_dir out_path [--resume] ; env RESUME_WORKER_SLEEP adds a pause
per step so the parent can kill it mid-epoch."""

from __future__ import annotations

import os
import sys
import time
import warnings

import torch

warnings.filterwarnings("ignore")
torch.set_num_threads(1)

N, EPOCHS, BATCH = 300, 2, 32


def build():
    import art_ext
    from art_ext.data import load_digits
    from art_ext.models import SmallCNN, make_classifier

    data = load_digits()
    torch.manual_seed(0)
    model = SmallCNN(data.input_shape, 10)
    clf = make_classifier(model, data.input_shape, 10, data.clip_values)
    return data, clf, art_ext


def make_trainer(art_ext, clf, checkpoint_dir, resume):
    from art_ext_plugins.trainers.pgd import PGDAdversarialTrainer

    pause = float(os.environ.get("RESUME_WORKER_SLEEP", "0"))

    class Slow(PGDAdversarialTrainer):
        def train_step(self, batch):
            out = super().train_step(batch)
            if pause:
                time.sleep(pause)
            return out

    return Slow(clf, eps=0.2, max_iter=2, nb_epochs=EPOCHS, batch_size=BATCH, seed=0, verbose=False,
                checkpoint_dir=checkpoint_dir, checkpoint_every=1, resume=resume)


def main() -> int:
    from art_ext.core import TrainingInterrupted

    checkpoint_dir, out = sys.argv[1], sys.argv[2]
    resume = "--resume" in sys.argv
    data, clf, art_ext = build()
    trainer = make_trainer(art_ext, clf, checkpoint_dir, resume)
    try:
        trainer.fit(data.x_train[:N], data.y_train[:N])
    except TrainingInterrupted as stop:
        return 128 + stop.signum
    torch.save(clf.model.state_dict(), out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
