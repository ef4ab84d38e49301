"""``art-ext train`` as a user runs it (real subprocesses on digits): the report, the run folder's
lock, refusals of a used folder, kill -9 and resume, resume of a different run, checkpoints that
``--model`` loads."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

#: small runs; the final report's AutoAttack list (standard by default) only where a test reads it
REPORTED = ["--n-train", "400", "--n-test", "60", "--param", "eval_steps=5", "--param", "eval_restarts=1"]
FAST = [*REPORTED, "--param", "eval_autoattack=none"]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    return {**os.environ, "OMP_NUM_THREADS": "1", "ART_EXT_CACHE": str(tmp_path_factory.mktemp("train-cache")),
            "ART_EXT_BLOCK_PLUGINS": "clash,raising", "PYTHONWARNINGS": "ignore"}


def train(env, *args, timeout=300):
    return subprocess.run([sys.executable, "-m", "art_ext", "train", *args], capture_output=True, text=True,
                          env=env, timeout=timeout)


def one_error_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and lines[0].startswith("art-ext: error: "), result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def finished_run(env, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "pgd"
    result = train(env, "--trainer", "pgd", "--epochs", "2", "--out", str(out), *REPORTED, "--json")
    assert result.returncode == 0, result.stderr
    return out, json.loads(result.stdout)


def test_report_names_each_metric_and_its_split(finished_run):
    out, result = finished_run
    assert result["init"] == "clean"  # the default: fine-tuning the cached clean model
    assert "fine-tuning the clean SmallCNN" in result["ran"]["model"]
    assert result["n_train"] + result["n_validation"] == 400 and result["n_validation"] == 40
    assert result["n_test"] == 60
    assert "validation hold-out 40" in result["ran"]["data"] and "test on 60" in result["ran"]["data"]
    assert result["test_clean_accuracy"] > 0.8  # one or two epochs from the clean model do not look broken
    lo, hi = result["test_clean_ci95"]
    assert lo <= result["test_clean_accuracy"] <= hi
    assert 0 <= result["test_robust_accuracy"] <= result["test_clean_accuracy"]
    assert "PGD, 5 steps" in result["test_robust_attack"] and "1 random restarts" in result["test_robust_attack"]
    assert result["test_autoattack_label"] == "AutoAttack (standard)"  # Croce & Hein's list, by default
    assert result["test_worst_case_accuracy"] <= min(result["test_autoattack_accuracy"], result["test_robust_accuracy"])
    assert result["evaluation"]["attacks"]["autoattack-standard"]["params"]["attacks"] == [
        "apgd-ce", "apgd-t", "fab-t", "square"]
    assert result["val_epoch"] == 2 and "val_clean_acc" in result and "val_robust_acc" in result
    assert "validation hold-out" in result["val_robust_attack"]
    assert result["wall_time_s"] >= result["train_time_s"] + result["eval_time_s"]
    assert result["command_wall_time_s"] >= result["wall_time_s"]
    assert result["threads"] == 1 and result["ran"]["threads"] == "1"
    assert str(out / "results.json") in result["outputs"] and str(out / "model.pt") in result["outputs"]
    saved = json.loads((out / "results.json").read_text())
    assert saved["test_robust_accuracy"] == result["test_robust_accuracy"]


def test_human_output_mentions_results_json_and_wall_time(env, tmp_path):
    out = tmp_path / "human"
    result = train(env, "--trainer", "fbf", "--epochs", "1", "--out", str(out), *FAST)
    assert result.returncode == 0, result.stderr
    assert "art-ext train --trainer fbf" in result.stdout and f"{out / 'results.json'}" in result.stdout
    assert "wall time " in result.stdout and "test_robust_accuracy" in result.stdout


@pytest.mark.parametrize("name", ["model.pt", "checkpoints/best.pt", "checkpoints/last.pt"])
def test_every_file_train_writes_loads_with_model(finished_run, env, name):
    out, result = finished_run
    attack = subprocess.run([sys.executable, "-m", "art_ext", "attack", "art.fgsm", "--model", str(out / name),
                             "--n-test", "60", "--json"], capture_output=True, text=True, env=env, timeout=300)
    assert attack.returncode == 0, attack.stderr
    if name == "model.pt":  # the final weights: the same clean accuracy as the report
        assert json.loads(attack.stdout)["clean_accuracy"] == result["test_clean_accuracy"]


def test_used_folder_is_refused_without_resume_or_overwrite(finished_run, env, tmp_path):
    out, _ = finished_run
    line = one_error_line(train(env, "--trainer", "pgd", "--epochs", "1", "--out", str(out), *FAST))
    assert f"--out {out} is not empty" in line and "--resume" in line and "--overwrite" in line
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "notes.txt").write_text("mine")
    again = train(env, "--trainer", "fbf", "--epochs", "1", "--out", str(copy), "--overwrite", *FAST, "--json")
    assert again.returncode == 0, again.stderr
    assert (copy / "notes.txt").read_text() == "mine"  # --overwrite discards the run, not the user's files


def test_resume_of_a_different_run_lists_the_differing_fields(finished_run, env):
    out, _ = finished_run
    line = one_error_line(train(env, "--trainer", "trades", "--eps", "0.3", "--epochs", "3", "--out", str(out),
                                "--resume", *FAST))
    assert "resume refused" in line and "trainer" in line and "eps" in line


def test_resume_with_a_new_learning_rate_needs_allow_change(finished_run, env):
    out, _ = finished_run
    line = one_error_line(train(env, "--trainer", "pgd", "--epochs", "2", "--out", str(out), "--resume", *FAST,
                                "--param", "lr=0.01"))
    assert "lr" in line and "--allow-change" in line


def test_init_and_model_exclude_each_other(env, finished_run, tmp_path):
    out, _ = finished_run
    line = one_error_line(train(env, "--trainer", "pgd", "--model", str(out / "model.pt"), "--init", "random",
                                "--out", str(tmp_path / "x"), *FAST))
    assert "--init: not with --model" in line


def _wait_for(path: Path, proc: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"the run ended early: {proc.stderr.read() if proc.stderr else ''}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} did not appear")
        time.sleep(0.1)


def test_second_writer_fails_fast_and_a_killed_runs_lock_is_free(env, tmp_path):
    out = tmp_path / "busy"
    args = ["--trainer", "pgd", "--epochs", "200", "--out", str(out), *FAST]
    first = subprocess.Popen([sys.executable, "-m", "art_ext", "train", *args], stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True, env=env)
    try:
        _wait_for(out / "checkpoints" / "last.pt", first)  # the lock is held and one epoch is saved
        start = time.monotonic()
        second = train(env, *args)
        line = one_error_line(second)
        assert f"run folder {out} is in use by another process (pid {first.pid}" in line
        assert time.monotonic() - start < 60  # fails at once: no waiting on the lock
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=60)
    assert first.returncode == -signal.SIGKILL
    resumed = train(env, "--trainer", "pgd", "--epochs", "2", "--out", str(out), "--resume", *FAST, "--json")
    assert resumed.returncode == 0, resumed.stderr  # the dead process's lock is free again
    assert json.loads(resumed.stdout)["val_epoch"] >= 1


def test_run_folder_and_checkpoint_folder_that_are_files_get_one_line(env, tmp_path):
    afile = tmp_path / "a-file"
    afile.write_text("x")
    line = one_error_line(train(env, "--trainer", "pgd", "--out", str(afile), *FAST))
    assert f"run folder {afile} is a file" in line
    line = one_error_line(train(env, "--trainer", "pgd", "--out", str(tmp_path / "ok"), "--checkpoint-dir", str(afile),
                                "--epochs", "1", *FAST))
    assert str(afile) in line


def test_art_trainers_are_pointed_to_the_bench(env, tmp_path):
    line = one_error_line(train(env, "--trainer", "art.madry_pgd", "--out", str(tmp_path / "art")))
    assert "trainer 'art.madry_pgd' is ART's own" in line and "art-ext bench trainers" in line
