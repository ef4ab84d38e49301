"""DistributedDataParallel: a 2-process gloo job on CPU under torchrun."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torchrun_helpers import torchrun

WORKER = Path(__file__).with_name("_ddp_worker.py")


def _torchrun(nproc: int, out: Path) -> None:
    torchrun(nproc, WORKER, out)


@pytest.mark.slow
def test_two_process_gloo_matches_one_process(tmp_path):
    if not torch.distributed.is_available():
        pytest.skip("torch.distributed not available in this build")
    _torchrun(2, tmp_path)
    _torchrun(1, tmp_path)
    rank0 = torch.load(tmp_path / "w2-rank0.pt", weights_only=True)
    rank1 = torch.load(tmp_path / "w2-rank1.pt", weights_only=True)
    single = torch.load(tmp_path / "w1-rank0.pt", weights_only=True)
    for key in rank0:
        assert torch.equal(rank0[key], rank1[key]), f"ranks differ in {key}"
    # same start (rank 0's weights, broadcast; rank 1's copy was perturbed), same global batches
    assert all(torch.isfinite(single[k]).all() for k in single)
    two = json.loads((tmp_path / "w2-rank0.json").read_text())
    one = json.loads((tmp_path / "w1-rank0.json").read_text())
    assert two["steps"] == one["steps"]  # global batch size is kept: same number of steps
    assert abs(two["clean"] - one["clean"]) <= 0.05, (two, one)
    assert abs(two["robust"] - one["robust"]) <= 0.07, (two, one)
    assert one["robust"] > 0.2 and two["robust"] > 0.2  # both actually learned robustness
