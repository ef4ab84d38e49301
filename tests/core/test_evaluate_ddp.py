"""``evaluate`` under torchrun: two gloo processes on CPU return the one-process report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torchrun_helpers import torchrun

from art_ext.core.distributed import current_group
from art_ext.data import load_digits
from art_ext.models import SmallCNN, train_model

WORKER = Path(__file__).with_name("_evaluate_worker.py")


@pytest.mark.slow
def test_two_processes_return_the_one_process_report(tmp_path):
    if not torch.distributed.is_available():
        pytest.skip("torch.distributed not available in this build")
    data = load_digits()
    torch.manual_seed(0)
    model = SmallCNN(data.input_shape, 10)
    train_model(model, data.x_train[:600], data.y_train[:600], epochs=3, seed=0)
    torch.save(model.state_dict(), tmp_path / "w.pt")
    torchrun(2, WORKER, tmp_path / "w.pt", tmp_path)
    torchrun(1, WORKER, tmp_path / "w.pt", tmp_path)
    one = json.loads((tmp_path / "w1-rank0.json").read_text())
    for rank in (0, 1):
        two = json.loads((tmp_path / f"w2-rank{rank}.json").read_text())
        assert two["info"]["processes"] == 2
        assert two["clean"]["mask"] == one["clean"]["mask"]
        assert set(two["attacks"]) == set(one["attacks"]) == {"PGD-5x2", "autoattack-fast"}
        for name, result in one["attacks"].items():
            assert two["attacks"][name]["robust_mask"] == result["robust_mask"], (rank, name)
            assert two["attacks"][name].get("extra", {}).get("broken_by") == result.get("extra", {}).get("broken_by")
    # the attacks did work: something was broken, and the check is not vacuous
    assert one["worst_case"]["accuracy"] < one["clean"]["accuracy"]
    assert one["attacks"]["autoattack-fast"]["extra"]["broken_by"]["apgd-ce"] > 0


def test_distributed_true_without_a_group_is_refused():
    with pytest.raises(ValueError, match="distributed=True needs an initialised process group"):
        current_group(True)
    assert current_group(None).world_size == 1 and current_group(False).world_size == 1
