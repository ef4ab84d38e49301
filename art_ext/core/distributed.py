"""DistributedDataParallel helpers: detect ``torchrun``, initialise, reduce.

Under ``torchrun`` (``WORLD_SIZE > 1`` in the environment) the trainer initialises the default
process group itself if nobody did: ``nccl`` when training on CUDA, ``gloo`` on CPU.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistInfo:
    """Rank, world size and local rank of this process (1 process: 0, 1, 0)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    initialised_here: bool = False

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def env_world_size() -> int:
    """``WORLD_SIZE`` from the environment (1 when unset)."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        return 1


def backend_for(device: torch.device) -> str:
    """``nccl`` for CUDA, ``gloo`` otherwise."""
    return "nccl" if device.type == "cuda" else "gloo"


def setup(distributed: bool | None, device: torch.device) -> DistInfo:
    """Join (or start) the process group when running distributed.

    :param distributed: ``None``: when ``WORLD_SIZE > 1`` or a group is already initialised.
    """
    if not dist.is_available():
        if distributed:
            raise ValueError("distributed=True but torch.distributed is not available in this build")
        return DistInfo()
    already = dist.is_initialized()
    wanted = distributed if distributed is not None else (already or env_world_size() > 1)
    if not wanted:
        return DistInfo()
    here = False
    if not already:
        if env_world_size() <= 1 and "MASTER_ADDR" not in os.environ:
            raise ValueError("distributed=True needs torchrun (RANK, WORLD_SIZE, MASTER_ADDR in the environment)")
        dist.init_process_group(backend=backend_for(device))
        here = True
    info = DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", dist.get_rank())), here)
    logger.info("distributed: rank %d of %d (%s)", info.rank, info.world_size, dist.get_backend())
    return info


def all_reduce_sum(tensor: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Sum ``tensor`` over ranks (in place; a no-op with one process)."""
    if info.enabled:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def current_group(distributed: bool | None = None) -> DistInfo:
    """The process group this process already belongs to, without starting one (for work that
    shards itself over the ranks someone else started, like :func:`art_ext.evaluation.evaluate`).

    :param distributed: ``None``: the group if one is initialised; ``False``: one process whatever
        runs; ``True``: the group, refusing to run without one.
    """
    joined = dist.is_available() and dist.is_initialized()
    if distributed is True and not joined:
        raise ValueError("distributed=True needs an initialised process group (torchrun, then "
                         "torch.distributed.init_process_group or a trainer's fit)")
    if distributed is False or not joined:
        return DistInfo()
    return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", dist.get_rank())))


def all_gather_objects(value: object, info: DistInfo) -> list[object]:
    """``value`` of every rank, in rank order (``[value]`` with one process); picklable values only,
    exchanged between the ranks of this job, never read from a file."""
    if not info.enabled:
        return [value]
    gathered: list[object] = [None] * info.world_size
    dist.all_gather_object(gathered, value)
    return gathered


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def teardown(info: DistInfo) -> None:
    """Destroy the process group if this module created it, once every rank got here: gloo aborts
    a rank ("terminate called without an active exception") whose peer tears the group down while
    its last exchange is still in flight."""
    if info.initialised_here and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
