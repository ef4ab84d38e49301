"""The run folder: one writer at a time, no silent overwrite, resume only of the same run,
clear errors for bad files and a full disk."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import time

import pytest
import torch

import art_ext
from art_ext.core.checkpoint import CheckpointWriteError, atomic_save
from art_ext.core.run_folder import RunFolder, RunFolderBusy, RunFolderError, RunMismatchError

HOLD = """
import sys, time
from art_ext.core.run_folder import RunFolder
folder = RunFolder(sys.argv[1]); folder.acquire(); print("locked", flush=True); time.sleep(60)
"""


def _trainer(clf, folder, name="pgd", **params):
    defaults = {"eps": 0.2, "nb_epochs": 1, "batch_size": 64, "seed": 0, "verbose": False, "eval_max_iter": 1}
    if name in ("pgd", "trades"):
        defaults["max_iter"] = 2
    return art_ext.get_trainer(name, clf, checkpoint_dir=folder, **{**defaults, **params})


def test_second_writer_fails_fast_and_a_killed_holder_frees_the_lock(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        start = time.perf_counter()
        with pytest.raises(RunFolderBusy, match=rf"{tmp_path} is in use by another process \(pid {holder.pid} "):
            RunFolder(tmp_path).acquire()
        assert time.perf_counter() - start < 5
    finally:
        holder.kill()
        holder.wait(10)
    folder = RunFolder(tmp_path)  # kill -9 left the lock file, not the lock
    folder.acquire()
    folder.release()


def test_a_folder_with_a_run_is_refused_unless_resumed_or_overwritten(digits, fresh_classifier, tmp_path):
    x, y = digits.x_train[:128], digits.y_train[:128]
    _trainer(fresh_classifier(), tmp_path).fit(x, y)
    with pytest.raises(RunFolderError, match=rf"{tmp_path} already holds a run .*resume.*overwrite"):
        _trainer(fresh_classifier(), tmp_path).fit(x, y)
    again = _trainer(fresh_classifier(), tmp_path, overwrite=True)
    again.fit(x, y)
    assert [h["epoch"] for h in again.history] == [1]
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 1, "the old run's log is gone, not interleaved"
    with pytest.raises(ValueError, match="contradict"):
        _trainer(fresh_classifier(), tmp_path, overwrite=True, resume=True)


def test_resume_refuses_a_different_run_naming_every_field(digits, fresh_classifier, tmp_path):
    x, y = digits.x_train[:128], digits.y_train[:128]
    _trainer(fresh_classifier(), tmp_path).fit(x, y)
    with pytest.raises(RunMismatchError) as caught:
        _trainer(fresh_classifier(), tmp_path, name="trades", eps=0.3, resume=True, nb_epochs=2).fit(x, y)
    message = str(caught.value)
    assert "\n" not in message and "resume refused" in message
    assert "trainer: saved 'art_ext_plugins.trainers.pgd.PGDAdversarialTrainer', now 'art_ext_plugins.trainers.trades" in message
    assert "params.eps: saved 0.2, now 0.3" in message and "params.beta" in message
    with pytest.raises(RunMismatchError, match="data.sha256"):
        _trainer(fresh_classifier(), tmp_path, resume=True, nb_epochs=2).fit(x[:96], y[:96])
    # more epochs is the same run
    longer = _trainer(fresh_classifier(), tmp_path, resume=True, nb_epochs=2)
    longer.fit(x, y)
    assert [h["epoch"] for h in longer.history] == [1, 2]


def test_a_new_learning_rate_needs_allowing_and_is_then_applied(digits, fresh_classifier, tmp_path):
    from art_ext.models import make_classifier

    x, y = digits.x_train[:128], digits.y_train[:128]
    _trainer(fresh_classifier(), tmp_path).fit(x, y)
    clf = fresh_classifier()
    faster = make_classifier(clf.model, digits.input_shape, 10, digits.clip_values, lr=5e-3)
    with pytest.raises(RunMismatchError, match=r"optimizer.lr: saved 0.001, now 0.005.*allow lr"):
        _trainer(faster, tmp_path, resume=True, nb_epochs=2).fit(x, y)
    resumed = _trainer(faster, tmp_path, resume=True, nb_epochs=2, allow_changes=("lr",))
    resumed.fit(x, y)
    assert resumed.optimizer.param_groups[0]["lr"] == 5e-3 and resumed.history[-1]["lr"] == 5e-3
    with pytest.raises(ValueError, match="allow_changes"):
        _trainer(faster, tmp_path, resume=True, allow_changes=("eps",))


def test_bad_run_folder_contents(digits, fresh_classifier, tmp_path):
    x, y = digits.x_train[:64], digits.y_train[:64]
    (tmp_path / "last.pt").mkdir()
    with pytest.raises(RunFolderError, match="last.pt is a folder, expected a file"):
        _trainer(fresh_classifier(), tmp_path, resume=True).fit(x, y)  # at once, not after an epoch
    file_folder = tmp_path / "a-file"
    file_folder.write_text("x")
    with pytest.raises(RunFolderError, match="is a file, not a folder"):
        _trainer(fresh_classifier(), file_folder).fit(x, y)


def test_full_disk_is_one_line_and_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    target = tmp_path / "last.pt"
    atomic_save({"epoch": 1}, target)

    def full(*args, **kwargs):
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 512 vs 448")

    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(CheckpointWriteError, match=rf"cannot write checkpoint {target} \(no space left on device; "
                                                   r"[\d.]+ MiB free in .*\); the previous checkpoint there, if any, is intact"):
        atomic_save({"epoch": 2}, target)

    def enospc(obj, handle):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", enospc)
    with pytest.raises(CheckpointWriteError, match="no space left on device"):
        atomic_save({"epoch": 2}, target)
    monkeypatch.undo()
    assert torch.load(target, weights_only=True) == {"epoch": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]


def test_fingerprint_file_and_stale_owner(digits, fresh_classifier, tmp_path):
    x, y = digits.x_train[:64], digits.y_train[:64]
    (tmp_path / ".owner").write_text(json.dumps({"pid": 999999, "host": "elsewhere", "since": "yesterday"}))
    trainer = _trainer(fresh_classifier(), tmp_path)
    trainer.fit(x, y)
    fingerprint = json.loads((tmp_path / "fingerprint.json").read_text())
    assert fingerprint["params"]["eps"] == 0.2 and fingerprint["data"]["n"] == 64
    assert fingerprint["optimizer"]["class"] == "Adam" and fingerprint["versions"]["torch"] == str(torch.__version__)
    assert not (tmp_path / ".owner").exists(), "the owner file goes with the lock"
    assert os.path.exists(tmp_path / ".lock")
