"""Text data sets: every loader returns a :class:`TextDataset` (sentences as strings, int64 labels,
the class names kept for reports).

* ``load_mr(data_dir)``: Movie Review sentence polarity (``rt-polarity.pos``/``.neg``, Latin-1). A
  stratified split with ``seed`` (default 0): 8,530 train / 1,066 validation / 1,066 test; labels
  1 = positive, 0 = negative. Each split is in a seeded random order (the files list all positive
  sentences first, so ``train_texts[:n]`` would otherwise be one class).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from art_ext.data.common import DataError, TextDataset, stratified_split

__all__ = ["MR_FILES", "TEXT_DATASETS", "load_mr"]

MR_FILES = {1: "rt-polarity.pos", 0: "rt-polarity.neg"}
TEXT_DATASETS = ("mr",)


def load_mr(data_dir: str | os.PathLike[str], seed: int = 0, sizes: tuple[int, int] = (1066, 1066)) -> TextDataset:
    """MR sentence polarity, stratified seeded split (default 8,530 / 1,066 / 1,066)."""
    directory = Path(data_dir)
    texts: list[str] = []
    labels: list[int] = []
    for label, filename in MR_FILES.items():
        path = directory / filename
        if not path.is_file():
            raise DataError(f"{path}: file not found; expected MR sentence polarity v1.0 ({filename}, Latin-1, one sentence per line)")
        # split on "\n" only: Latin-1 text holds \x85 (NEL), which splitlines() would break on
        lines = [line.strip() for line in path.read_text(encoding="latin-1").split("\n")]
        lines = [line for line in lines if line]
        if not lines:
            raise DataError(f"{path}: no sentences; expected one sentence per line")
        texts.extend(lines)
        labels.extend([label] * len(lines))
    y = np.asarray(labels, dtype=np.int64)
    val_size, test_size = sizes
    train, val, test = stratified_split(y, (len(y) - val_size - test_size, val_size, test_size), seed)
    rng = np.random.default_rng(seed)
    train, val, test = (rng.permutation(part) for part in (train, val, test))
    pick = lambda idx: [texts[i] for i in idx]  # noqa: E731
    return TextDataset(
        "mr", pick(train), y[train], pick(val), y[val], pick(test), y[test],
        split=f"MR, stratified, seed {seed}: {len(train)} train / {len(val)} validation / {len(test)} test",
    )
