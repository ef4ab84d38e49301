"""Atomic checkpoints, RNG capture, exact resume (in process, after SIGTERM, after SIGKILL)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from art_ext.core.checkpoint import atomic_save, capture_rng, load_checkpoint, restore_rng

WORKER = Path(__file__).with_name("_resume_worker.py")
ROOT = Path(__file__).resolve().parents[2]


def test_atomic_save_and_weights_only_load(tmp_path):
    target = tmp_path / "sub" / "state.pt"
    atomic_save({"a": torch.arange(3), "b": [1, 2.5, "x"]}, target)
    atomic_save({"a": torch.arange(4)}, target)  # overwrite
    state = load_checkpoint(target)
    assert torch.equal(state["a"], torch.arange(4))
    assert [p.name for p in target.parent.iterdir()] == ["state.pt"]  # no temp files left
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not readable"):
        load_checkpoint(tmp_path / "bad.pt")
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.pt")


def test_rng_roundtrip_through_weights_only(tmp_path):
    g = torch.Generator().manual_seed(5)
    state = capture_rng({"data": g})
    atomic_save(state, tmp_path / "rng.pt")
    first = (torch.rand(3), np.random.rand(3), random.random(), torch.rand(2, generator=g))
    restore_rng(load_checkpoint(tmp_path / "rng.pt"), {"data": g})
    second = (torch.rand(3), np.random.rand(3), random.random(), torch.rand(2, generator=g))
    assert torch.equal(first[0], second[0]) and np.array_equal(first[1], second[1])
    assert first[2] == second[2] and torch.equal(first[3], second[3])


def _reference(tmp_path):
    sys.path.insert(0, str(WORKER.parent))
    try:
        import _resume_worker as worker
    finally:
        sys.path.pop(0)
    data, clf, art_ext = worker.build()
    trainer = worker.make_trainer(art_ext, clf, str(tmp_path / "ref"), False)
    trainer.fit(data.x_train[: worker.N], data.y_train[: worker.N])
    return clf.model.state_dict(), worker


def test_in_process_resume_is_exact(tmp_path):
    reference, worker = _reference(tmp_path)
    # stop after epoch 1 by training 1 epoch, then resume to 2 from the checkpoint
    data, clf, art_ext = worker.build()
    trainer = worker.make_trainer(art_ext, clf, str(tmp_path / "run"), False)
    trainer.fit(data.x_train[: worker.N], data.y_train[: worker.N], nb_epochs=1)
    data, clf2, _ = worker.build()
    resumed = worker.make_trainer(art_ext, clf2, str(tmp_path / "run"), True)
    resumed.fit(data.x_train[: worker.N], data.y_train[: worker.N])
    for key, value in reference.items():
        assert torch.equal(value, clf2.model.state_dict()[key]), key
    assert [h["epoch"] for h in resumed.history] == [1, 2]


def _wait_for_step(path: Path, proc: subprocess.Popen, min_epoch: int, min_step: int, timeout: float = 120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"worker exited early with {proc.returncode}: {proc.stderr.read().decode()[-2000:]}")
        if path.is_file():
            try:
                state = torch.load(path, weights_only=True)
            except Exception:
                state = None
            if state and (state["epoch"], state["step_in_epoch"]) >= (min_epoch, min_step):
                return state
        time.sleep(0.1)
    raise AssertionError("worker made no progress")


def _spawn(ckpt: Path, out: Path, resume: bool, sleep: float) -> subprocess.Popen:
    env = {**os.environ, "RESUME_WORKER_SLEEP": str(sleep), "PYTHONWARNINGS": "ignore"}
    cmd = [sys.executable, str(WORKER), str(ckpt), str(out)] + (["--resume"] if resume else [])
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.mark.slow
def test_sigterm_then_sigkill_mid_epoch_then_resume_is_bit_identical(tmp_path):
    reference, _ = _reference(tmp_path)
    ckpt, out = tmp_path / "ckpt", tmp_path / "final.pt"
    # 1) SIGTERM in epoch 1: the worker saves a checkpoint and exits cleanly with 128 + 15
    proc = _spawn(ckpt, out, False, 0.2)
    _wait_for_step(ckpt / "last.pt", proc, 0, 3)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 128 + signal.SIGTERM
    after_term = torch.load(ckpt / "last.pt", weights_only=True)
    assert after_term["epoch"] == 0 and after_term["step_in_epoch"] >= 3
    # 2) resume, then SIGKILL in the middle of epoch 2: no chance to save anything
    proc = _spawn(ckpt, out, True, 0.2)
    _wait_for_step(ckpt / "last.pt", proc, 1, 2)
    proc.kill()
    proc.wait(30)
    killed_at = torch.load(ckpt / "last.pt", weights_only=True)
    assert killed_at["epoch"] == 1 and 0 < killed_at["step_in_epoch"] < 10
    assert not out.exists()
    # 3) resume to the end
    proc = _spawn(ckpt, out, True, 0.0)
    assert proc.wait(180) == 0, proc.stderr.read().decode()[-2000:]
    final = torch.load(out, weights_only=True)
    for key, value in reference.items():
        assert torch.equal(value, final[key]), key
