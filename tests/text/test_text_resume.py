"""Exact resume of the text trainers after SIGKILL in a real subprocess (tiny BERT): the resumed
run ends with bit-identical weights to an uninterrupted one (issue 12)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("transformers", reason="the text plugin needs transformers (pip install art-ext[text])")

WORKER = Path(__file__).with_name("_text_resume_worker.py")
ROOT = Path(__file__).resolve().parents[2]


def _spawn(name: str, ckpt: Path, out: Path, resume: bool, sleep: float) -> subprocess.Popen:
    env = {**os.environ, "RESUME_WORKER_SLEEP": str(sleep), "PYTHONWARNINGS": "ignore"}
    cmd = [sys.executable, str(WORKER), name, str(ckpt), str(out)] + (["--resume"] if resume else [])
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)



@pytest.mark.slow
@pytest.mark.parametrize("name", ["text-standard", "freelb", "text-a2t"])
def test_sigkill_mid_epoch_then_resume_is_bit_identical(name, tmp_path, wait_for_step):
    reference_out = tmp_path / "reference.pt"
    reference = _spawn(name, tmp_path / "ref", reference_out, False, 0.0)
    ckpt, out = tmp_path / "ckpt", tmp_path / "final.pt"
    proc = _spawn(name, ckpt, out, False, 0.15)
    wait_for_step(ckpt / "last.pt", proc, 1, 2)  # in the middle of epoch 2 (8 steps per epoch)
    proc.kill()
    proc.wait(30)
    killed_at = torch.load(ckpt / "last.pt", weights_only=True)
    assert killed_at["epoch"] == 1 and 0 < killed_at["step_in_epoch"] < 8 and not out.exists()
    resumed = _spawn(name, ckpt, out, True, 0.0)
    assert resumed.wait(180) == 0, resumed.stderr.read().decode()[-2000:]
    assert reference.wait(180) == 0, reference.stderr.read().decode()[-2000:]
    expected, final = torch.load(reference_out, weights_only=True), torch.load(out, weights_only=True)
    assert expected.keys() == final.keys()
    for key, value in expected.items():
        assert torch.equal(value, final[key]), key
    if name == "freelb":
        assert "swaps" in killed_at["sums"], "the adv_swaps option ran in the killed epoch"
    if name == "text-a2t":
        assert "adv_loss" in killed_at["sums"], "the attack ran in the killed epoch"
