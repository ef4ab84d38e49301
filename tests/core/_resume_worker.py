"""Subprocess used by test_checkpoint.py: a registered trainer on a digits subset with a
checkpoint every step. argv: TRAINER checkpoint_dir out_path [--resume]; env RESUME_WORKER_SLEEP
adds a pause per step so the parent can kill it mid-epoch."""

from __future__ import annotations

import os
import sys
import time
import warnings

import torch

warnings.filterwarnings("ignore")
torch.set_num_threads(1)

N, EPOCHS, BATCH = 192, 2, 32
#: per trainer: settings small enough for a subprocess test
SETTINGS = {
    "pgd": {"max_iter": 2},
    "trades": {"max_iter": 2, "beta": 1.0},
    "free": {"replays": 2},
    "fbf": {"cyclic_lr": True},
    "nfgsm": {},
    "gradalign": {"lam": 1.0},
    "advgan": {"g_steps": 1},
}


def build():
    from art_ext.data import load_digits
    from art_ext.models import SmallCNN, make_classifier

    data = load_digits()
    torch.manual_seed(0)
    model = SmallCNN(data.input_shape, 10)
    clf = make_classifier(model, data.input_shape, 10, data.clip_values)
    return data, clf


def make_trainer(name, clf, checkpoint_dir, resume, pause=None):
    import art_ext

    pause = float(os.environ.get("RESUME_WORKER_SLEEP", "0")) if pause is None else pause
    trainer = art_ext.get_trainer(name, clf, eps=0.2, nb_epochs=EPOCHS, batch_size=BATCH, seed=0, verbose=False,
                                  checkpoint_dir=checkpoint_dir, checkpoint_every=1, resume=resume,
                                  overwrite=not resume, eval_max_iter=1, **SETTINGS[name])
    if trainer_guard := getattr(trainer, "guard", None):
        trainer_guard.every = 2  # check often, so its state is part of what resumes
    if pause:
        trainer.step_hooks.append(lambda _: time.sleep(pause))
    return trainer


def main() -> int:
    from art_ext.core import TrainingInterrupted

    name, checkpoint_dir, out = sys.argv[1], sys.argv[2], sys.argv[3]
    resume = "--resume" in sys.argv
    data, clf = build()
    trainer = make_trainer(name, clf, checkpoint_dir, resume)
    try:
        trainer.fit(data.x_train[:N], data.y_train[:N])
    except TrainingInterrupted as stop:
        return 128 + stop.signum
    state = {f"{m}.{k}": v for m, module in trainer.modules.items() for k, v in module.state_dict().items()}
    torch.save(state, out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
