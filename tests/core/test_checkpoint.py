"""Atomic checkpoints, RNG capture, exact resume (in process, after SIGTERM, after SIGKILL)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
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
    with pytest.raises(ValueError, match=r"bad\.pt: not a torch file"):
        load_checkpoint(tmp_path / "bad.pt")
    torch.save({"x": Unpicklable()}, tmp_path / "pickled.pt")
    with pytest.raises(ValueError, match=r"pickled\.pt: it holds pickled Python objects .*Unpicklable"):
        load_checkpoint(tmp_path / "pickled.pt")
    target.write_bytes(target.read_bytes()[:200])  # truncated
    with pytest.raises(ValueError, match=r"state\.pt: truncated or corrupt"):
        load_checkpoint(target)
    (tmp_path / "folder.pt").mkdir()
    with pytest.raises(ValueError, match=r"folder\.pt: is a folder"):
        load_checkpoint(tmp_path / "folder.pt")
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_checkpoint(tmp_path / "missing.pt")


class Unpicklable:
    """A class weights_only loading refuses."""


def test_rng_roundtrip_through_weights_only(tmp_path):
    g = torch.Generator().manual_seed(5)
    state = capture_rng({"data": g})
    atomic_save(state, tmp_path / "rng.pt")
    first = (torch.rand(3), np.random.rand(3), random.random(), torch.rand(2, generator=g))
    restore_rng(load_checkpoint(tmp_path / "rng.pt"), {"data": g})
    second = (torch.rand(3), np.random.rand(3), random.random(), torch.rand(2, generator=g))
    assert torch.equal(first[0], second[0]) and np.array_equal(first[1], second[1])
    assert first[2] == second[2] and torch.equal(first[3], second[3])


def _worker():
    sys.path.insert(0, str(WORKER.parent))
    try:
        import _resume_worker as worker
    finally:
        sys.path.pop(0)
    return worker


def _reference(tmp_path, name="pgd"):
    """Every module's weights after an uninterrupted run in this process."""
    worker = _worker()
    data, clf = worker.build()
    trainer = worker.make_trainer(name, clf, str(tmp_path / f"ref-{name}"), False, pause=0)
    trainer.fit(data.x_train[: worker.N], data.y_train[: worker.N])
    return {f"{m}.{k}": v.clone() for m, module in trainer.modules.items() for k, v in module.state_dict().items()}, worker


def _assert_same(reference, final):
    assert set(reference) == set(final)
    for key, value in reference.items():
        assert torch.equal(value, final[key]), key


def test_in_process_resume_is_exact(tmp_path):
    reference, worker = _reference(tmp_path)
    data, clf = worker.build()
    trainer = worker.make_trainer("pgd", clf, str(tmp_path / "run"), False, pause=0)
    trainer.fit(data.x_train[: worker.N], data.y_train[: worker.N], nb_epochs=1)
    data, clf2 = worker.build()
    resumed = worker.make_trainer("pgd", clf2, str(tmp_path / "run"), True, pause=0)
    resumed.fit(data.x_train[: worker.N], data.y_train[: worker.N])
    _assert_same(reference, {f"{m}.{k}": v for m, mod in resumed.modules.items() for k, v in mod.state_dict().items()})
    assert [h["epoch"] for h in resumed.history] == [1, 2]



def _spawn(name: str, ckpt: Path, out: Path, resume: bool, sleep: float) -> subprocess.Popen:
    env = {**os.environ, "RESUME_WORKER_SLEEP": str(sleep), "PYTHONWARNINGS": "ignore"}
    cmd = [sys.executable, str(WORKER), name, str(ckpt), str(out)] + (["--resume"] if resume else [])
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.mark.slow
def test_sigterm_then_sigkill_mid_epoch_then_resume_is_bit_identical(tmp_path, wait_for_step):
    reference, _ = _reference(tmp_path)
    ckpt, out = tmp_path / "ckpt", tmp_path / "final.pt"
    # 1) SIGTERM in epoch 1: the worker saves a checkpoint and exits cleanly with 128 + 15
    proc = _spawn("pgd", ckpt, out, False, 0.2)
    wait_for_step(ckpt / "last.pt", proc, 0, 3)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 128 + signal.SIGTERM
    after_term = torch.load(ckpt / "last.pt", weights_only=True)
    assert after_term["epoch"] == 0 and after_term["step_in_epoch"] >= 3
    # 2) resume, then SIGKILL in the middle of epoch 2: no chance to save anything
    proc = _spawn("pgd", ckpt, out, True, 0.2)
    wait_for_step(ckpt / "last.pt", proc, 1, 2)
    proc.kill()
    proc.wait(30)
    killed_at = torch.load(ckpt / "last.pt", weights_only=True)
    assert killed_at["epoch"] == 1 and 0 < killed_at["step_in_epoch"] < 6
    assert not out.exists()
    # 3) resume to the end
    proc = _spawn("pgd", ckpt, out, True, 0.0)
    assert proc.wait(180) == 0, proc.stderr.read().decode()[-2000:]
    _assert_same(reference, torch.load(out, weights_only=True))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["trades", "free", "fbf", "nfgsm", "gradalign", "advgan"])
def test_every_trainer_resumes_bit_identical_after_sigkill(tmp_path, name, wait_for_step):
    reference, _ = _reference(tmp_path, name)
    ckpt, out = tmp_path / "ckpt", tmp_path / "final.pt"
    proc = _spawn(name, ckpt, out, False, 0.15)
    wait_for_step(ckpt / "last.pt", proc, 1, 2)
    proc.kill()
    proc.wait(30)
    killed_at = torch.load(ckpt / "last.pt", weights_only=True)
    assert killed_at["epoch"] == 1 and 0 < killed_at["step_in_epoch"] < 6
    proc = _spawn(name, ckpt, out, True, 0.0)
    assert proc.wait(180) == 0, proc.stderr.read().decode()[-2000:]
    _assert_same(reference, torch.load(out, weights_only=True))
