"""``art-ext train`` through the core's runner (``run_train``) and the lead's CLI."""

from __future__ import annotations

import argparse
import json

import pytest
import torch


def _args(tmp_path, **overrides):
    values = dict(name="fbf", dataset="digits", data_dir=None, model=None, eps=0.2, norm="inf", targeted=False,
                  epochs=2, batch_size=64, n_train=400, n_test=200, seed=0, out=str(tmp_path / "out"),
                  device=None, params={"init": "clean", "eval_steps": 10, "eval_restarts": 1, "eval_autoattack": "none"},
                  checkpoint_dir=None, resume=False, json=True)
    values.update(overrides)
    return argparse.Namespace(**values)


@pytest.mark.smoke
def test_run_train_saves_model_and_reports_accuracy(tmp_path, monkeypatch):
    from art_ext.cli.train import run_train

    monkeypatch.setenv("ART_EXT_CACHE", str(tmp_path / "cache"))
    result = run_train(_args(tmp_path))
    assert 0.0 <= result["test_robust_accuracy"] <= result["test_clean_accuracy"] <= 1.0
    assert result["test_clean_accuracy"] > 0.5
    state = torch.load(tmp_path / "out" / "model.pt", weights_only=True)
    assert "classifier.3.weight" in state
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    assert saved["test_robust_accuracy"] == result["test_robust_accuracy"]
    assert (tmp_path / "out" / "checkpoints" / "last.pt").is_file()
    # resume a finished run: nothing left to train, same weights
    again = run_train(_args(tmp_path, resume=True))
    assert again["test_clean_accuracy"] == result["test_clean_accuracy"]


def test_run_train_rejects_bad_param(tmp_path):
    from art_ext.cli.train import run_train

    with pytest.raises(ValueError, match="init"):
        run_train(_args(tmp_path, params={"init": "pretrained"}))
    with pytest.raises(ValueError, match="eps"):
        run_train(_args(tmp_path, eps=-1.0, params={}))


@pytest.mark.slow
def test_train_cli_under_torchrun_reports_once(tmp_path):
    """`torchrun -m art_ext train`: both ranks train, only rank 0 evaluates, saves and prints."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "art_ext",
           "train", "--trainer", "fbf", "--epochs", "1", "--eps", "0.1", "--n-train", "400", "--n-test", "100",
           "--param", "eval_autoattack=none", "--out", str(out), "--json"]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.count('"test_clean_accuracy"') == 1
    result = json.loads((out / "results.json").read_text())
    assert result["world_size"] == 2 and (out / "model.pt").is_file()
