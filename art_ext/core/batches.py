"""Batch sources: numpy arrays / tensors, torch ``DataLoader``s and ART ``DataGenerator``s.

Each source yields host or device batches as tuples of tensors for a given epoch, starting at a
given step (for resume), and knows how many batches an epoch has.

* :class:`TensorSource` keeps the data as one tensor (on the device when it fits, so an epoch is
  pure on-device indexing; else pinned host memory and non-blocking copies). The epoch's order is
  ``torch.randperm`` from a generator seeded with ``(seed, epoch)``: it needs no saved state, so
  resuming at step *k* of an epoch is exact and costs nothing. Under DDP every rank draws the same
  order and takes its own slice of each global batch.
* :class:`LoaderSource` iterates a ``DataLoader``; the trainer restores the RNG state of the
  epoch's start before creating the iterator and skips the batches already done, so the data order
  on resume is exact for loaders whose shuffling draws from torch's global RNG (the default).
* ART's ``NumpyDataGenerator`` and ``PyTorchDataGenerator`` are unwrapped to the two above; any
  other ``DataGenerator`` is read through ``get_batch()`` (resume then restarts its stream).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch import Tensor

logger = logging.getLogger(__name__)

Batch = tuple[Any, ...]

__all__ = ["Batch", "BatchSource", "GeneratorSource", "LoaderSource", "TensorSource", "make_source"]


def _to_tensor(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(value))
    return value


def as_batch(raw: Any) -> Any:
    """A loader's item as a tuple of tensors (numpy converted); dicts pass through."""
    if isinstance(raw, dict):
        return {k: _to_tensor(v) for k, v in raw.items()}
    if isinstance(raw, (list, tuple)):
        return tuple(_to_tensor(v) for v in raw)
    return (_to_tensor(raw),)


class BatchSource:
    """Base class: ``len(source)`` batches per epoch, ``source.epoch(epoch, start)`` iterates them."""

    #: True when the source's order depends on the global RNG state at the epoch's start
    uses_global_rng: bool = False

    def __len__(self) -> int:
        raise NotImplementedError

    def epoch(self, epoch: int, start: int = 0) -> Iterator[Any]:
        raise NotImplementedError

    @property
    def num_examples(self) -> int | None:
        return None


class TensorSource(BatchSource):
    """Tensors ``(x, y, ...)`` of equal length, shuffled per epoch from ``(seed, epoch)``."""

    def __init__(
        self,
        tensors: tuple[Tensor, ...],
        batch_size: int,
        *,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
        rank: int = 0,
        world_size: int = 1,
        device: torch.device | None = None,
        pin_memory: bool = False,
    ) -> None:
        if not tensors:
            raise ValueError("TensorSource needs at least one tensor")
        n = len(tensors[0])
        if any(len(t) != n for t in tensors):
            raise ValueError(f"tensors of unequal length: {[len(t) for t in tensors]}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.n = n
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.seed = int(seed)
        self.rank = rank
        self.world_size = world_size
        # under DDP a last global batch smaller than the number of ranks would leave a rank empty
        self.drop_last = drop_last or (world_size > 1 and n % batch_size != 0 and n % batch_size < world_size)
        self.device = device
        if device is not None:
            tensors = tuple(t.to(device) for t in tensors)
            self.index_device = device
        else:
            if pin_memory:
                tensors = tuple(t.pin_memory() for t in tensors)
            self.index_device = torch.device("cpu")
        self.tensors = tensors

    @property
    def num_examples(self) -> int:
        return self.n

    def __len__(self) -> int:
        return self.n // self.batch_size if self.drop_last else math.ceil(self.n / self.batch_size)

    def order(self, epoch: int) -> Tensor:
        """The epoch's permutation (identical on every rank)."""
        if not self.shuffle:
            return torch.arange(self.n)
        generator = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
        return torch.randperm(self.n, generator=generator)

    def epoch(self, epoch: int, start: int = 0) -> Iterator[Batch]:
        order = self.order(epoch).to(self.index_device)
        for step in range(start, len(self)):
            index = order[step * self.batch_size : (step + 1) * self.batch_size]
            if self.world_size > 1:
                index = torch.tensor_split(index, self.world_size)[self.rank]
            yield tuple(t[index] for t in self.tensors)


class LoaderSource(BatchSource):
    """A ``torch.utils.data.DataLoader`` (or any re-iterable of batches with ``len``)."""

    uses_global_rng = True

    def __init__(self, loader: Any) -> None:
        self.loader = loader
        try:
            self._len = len(loader)
        except TypeError as error:
            raise TypeError("a DataLoader source needs a length (a map-style dataset or a sized iterable)") from error

    @property
    def num_examples(self) -> int | None:
        dataset = getattr(self.loader, "dataset", None)
        try:
            return len(dataset) if dataset is not None else None
        except TypeError:
            return None

    def __len__(self) -> int:
        return self._len

    def epoch(self, epoch: int, start: int = 0) -> Iterator[Any]:
        """Creates the loader's iterator and skips ``start`` batches *now* (not lazily), so that
        any RNG the loader draws is drawn under the RNG state current at this call."""
        sampler = getattr(self.loader, "sampler", None)
        if sampler is not None and hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch)  # DistributedSampler
        iterator = iter(self.loader)
        for _ in range(start):
            next(iterator)
        return (as_batch(raw) for raw in iterator)


class GeneratorSource(BatchSource):
    """Any ART ``DataGenerator``, read through ``get_batch()``: ceil(size / batch_size) per epoch."""

    uses_global_rng = True

    def __init__(self, generator: Any) -> None:
        size = generator.size
        if size is None:
            raise ValueError("DataGenerator.size is None: cannot tell how many batches make an epoch")
        self.generator = generator
        self._len = math.ceil(size / generator.batch_size)
        self._size = size

    @property
    def num_examples(self) -> int:
        return int(self._size)

    def __len__(self) -> int:
        return self._len

    def epoch(self, epoch: int, start: int = 0) -> Iterator[Any]:
        if start:
            logger.warning("resuming a generic DataGenerator mid-epoch: its stream restarts, order is not exact")
        for _ in range(start, self._len):
            yield as_batch(self.generator.get_batch())


def make_source(
    data: Any,
    *,
    batch_size: int = 128,
    shuffle: bool = True,
    seed: int = 0,
    rank: int = 0,
    world_size: int = 1,
    device: torch.device | None = None,
    pin_memory: bool = False,
) -> BatchSource:
    """A :class:`BatchSource` from a tuple of arrays/tensors, a ``DataLoader`` or an ART ``DataGenerator``."""
    from art.data_generators import DataGenerator, NumpyDataGenerator, PyTorchDataGenerator

    if isinstance(data, BatchSource):
        return data
    if isinstance(data, NumpyDataGenerator):
        tensors = (_to_tensor(np.asarray(data.x)), _to_tensor(np.asarray(data.y)))
        return TensorSource(tensors, data.batch_size, shuffle=data.shuffle, seed=seed,
                            drop_last=data.drop_remainder, rank=rank, world_size=world_size,
                            device=device, pin_memory=pin_memory)
    if isinstance(data, PyTorchDataGenerator):
        return LoaderSource(data.iterator)
    if isinstance(data, DataGenerator):
        return GeneratorSource(data)
    if isinstance(data, (tuple, list)) and all(isinstance(t, (np.ndarray, Tensor)) for t in data):
        tensors = tuple(_to_tensor(t) for t in data)
        return TensorSource(tensors, batch_size, shuffle=shuffle, seed=seed, rank=rank,
                            world_size=world_size, device=device, pin_memory=pin_memory)
    if hasattr(data, "__iter__") and hasattr(data, "__len__"):
        return LoaderSource(data)
    raise TypeError(
        f"training data must be (x, y) arrays, a torch DataLoader or an ART DataGenerator, got {type(data).__name__}"
    )
