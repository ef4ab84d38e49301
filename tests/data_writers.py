"""Small files in the layouts of the image formats art-ext reads (the formats' own writers' layouts),
for the data-format and preset tests."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np

RNG = np.random.default_rng(0)


def write_idx(path: Path, array: np.ndarray, magic: int) -> None:
    header = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as handle:
        handle.write(header + array.astype(np.uint8).tobytes())


def write_cifar10(folder: Path, per_batch: int = 6) -> Path:
    """A cifar-10-batches-py folder as the official archive lays it out (protocol 2 pickles of dicts
    with bytes keys, uint8 rows of 3,072 values, CHW order), with ``per_batch`` images per batch."""
    root = folder / "cifar-10-batches-py"
    root.mkdir(parents=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"batch_label": name.encode(), b"labels": [int(v) for v in RNG.integers(0, 10, per_batch)],
                 b"data": RNG.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
                 b"filenames": [f"{i}.png".encode() for i in range(per_batch)]}
        (root / name).write_bytes(pickle.dumps(batch, protocol=2))
    meta = {b"label_names": [n.encode() for n in ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog",
                                                   "horse", "ship", "truck")], b"num_cases_per_batch": per_batch}
    (root / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return root


def write_cifar100(folder: Path, n: int = 8) -> Path:
    root = folder / "cifar-100-python"
    root.mkdir(parents=True)
    for name in ("train", "test"):
        batch = {b"fine_labels": [int(v) for v in RNG.integers(0, 100, n)], b"coarse_labels": [0] * n,
                 b"data": RNG.integers(0, 256, (n, 3072), dtype=np.uint8)}
        (root / name).write_bytes(pickle.dumps(batch, protocol=2))
    (root / "meta").write_bytes(pickle.dumps({b"fine_label_names": [f"c{i}".encode() for i in range(100)]}, protocol=2))
    return root


def write_folder(root: Path, classes: tuple[str, ...] = ("cat", "dog", "eel"), per_class: int = 5,
                 size: tuple[int, int] = (12, 10), mode: str = "RGB") -> Path:
    from PIL import Image

    for name in classes:
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            channels = 3 if mode == "RGB" else 1
            pixels = RNG.integers(0, 256, (size[1], size[0], channels), dtype=np.uint8)
            Image.fromarray(pixels if channels == 3 else pixels[:, :, 0], mode).save(root / name / f"{i}.png")
    return root
