"""Data loaders with fixed, documented, seeded splits.

* ``load_digits()``: scikit-learn's bundled 8x8 digits (1,797 images, always available).
  Images are scaled to [0, 1], shape (N, 1, 8, 8); a stratified split with ``seed`` (default 0)
  gives 1,437 train / 360 test.
* ``load_mnist(data_dir)``: the MNIST IDX files (``t10k-images-idx3-ubyte[.gz]``,
  ``t10k-labels-idx1-ubyte[.gz]``). On these machines only the 10,000-image test set exists, so
  the split is positional, with no shuffling: the first 8,000 images train, the last 2,000 test.
  Shape (N, 1, 28, 28), values in [0, 1].
* ``load_mr(data_dir)``: Movie Review sentence polarity (``rt-polarity.pos``/``.neg``,
  Latin-1). A stratified split with ``seed`` (default 0): 8,530 train / 1,066 validation /
  1,066 test; labels 1 = positive, 0 = negative. Each split is in a seeded random order (the
  files list all positive sentences first, so ``train_texts[:n]`` would otherwise be one class).

A missing or corrupt file raises :class:`DataError` naming the path and what was expected.
"""

from __future__ import annotations

import gzip
import logging
import os
import shlex
import struct
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

DATA_ENV = "ART_EXT_DATA"
MNIST_FILES = {
    "images": "t10k-images-idx3-ubyte",
    "labels": "t10k-labels-idx1-ubyte",
}
MR_FILES = {1: "rt-polarity.pos", 0: "rt-polarity.neg"}
IMAGE_DATASETS = ("digits", "mnist")
TEXT_DATASETS = ("mr",)


class DataError(ValueError):
    """A data file is missing, unreadable or not in the expected format."""


@dataclass
class ImageDataset:
    """Images as float32 (N, C, H, W) in ``clip_values``, labels as int64 class indices."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    nb_classes: int
    clip_values: tuple[float, float] = (0.0, 1.0)
    split: str = ""

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])


@dataclass
class TextDataset:
    """Sentences as Python strings, labels as int64 class indices."""

    name: str
    train_texts: list[str]
    y_train: np.ndarray
    val_texts: list[str]
    y_val: np.ndarray
    test_texts: list[str]
    y_test: np.ndarray
    nb_classes: int = 2
    split: str = ""
    class_names: list[str] = field(default_factory=lambda: ["negative", "positive"])


#: where data sets live when neither ``--data-dir`` nor ``$ART_EXT_DATA`` says otherwise
DEFAULT_DATA_DIR = Path("~/art-ext-data")
#: what each data set's folder must hold, for error messages
DATASET_FILES = {
    "mnist": f"{MNIST_FILES['images']}[.gz] and {MNIST_FILES['labels']}[.gz]",
    "mr": f"{MR_FILES[1]} and {MR_FILES[0]}",
}


def default_data_dir() -> Path | None:
    """The folder holding one sub-folder per data set (``mnist/``, ``mr/``): ``$ART_EXT_DATA`` if
    set, else ``~/art-ext-data``; ``None`` when that folder does not exist."""
    base = data_root()
    return base if base.is_dir() else None


def data_root() -> Path:
    """``$ART_EXT_DATA`` if set, else ``~/art-ext-data`` (whether it exists or not)."""
    env = os.environ.get(DATA_ENV)
    return Path(env).expanduser() if env else DEFAULT_DATA_DIR.expanduser()


def portable_path(path: str | os.PathLike[str]) -> str:
    """``path`` as a results file may record it: under the data root as ``$ART_EXT_DATA/...``, under
    the working folder relative to it, under the home folder as ``~/...``, under the temp folder as
    ``$TMPDIR/...``; a relative path stays as it is. Committed files never hold an absolute path of
    the machine that produced them."""
    text = os.fspath(path)
    if not os.path.isabs(text):
        return text
    absolute = Path(text).resolve()
    for root, shown in ((data_root(), f"${DATA_ENV}"), (Path.cwd(), "."), (Path.home(), "~"),
                        (Path(tempfile.gettempdir()), "$TMPDIR")):
        try:
            relative = absolute.relative_to(root.expanduser().resolve())
        except ValueError:
            continue
        return str(relative) if shown == "." else f"{shown}/{relative}".rstrip("/.")
    return text


def portable_command(words: list[str] | tuple[str, ...]) -> str:
    """A recorded command line with every absolute path made portable (:func:`portable_path`)."""
    shown = []
    for word in words:
        flag, eq, value = word.partition("=")
        if eq and flag.startswith("--") and os.path.isabs(value):
            shown.append(f"{flag}={portable_path(value)}")
        else:
            shown.append(portable_path(word) if os.path.isabs(word) else word)
    return " ".join(w if "$" in w or w.startswith("~") else shlex.quote(w) for w in shown)


def missing_data_message(dataset: str) -> str:
    """One line: what ``dataset`` needs, where it was looked for, and how to point at it."""
    folder = data_root() / dataset
    where = f"${DATA_ENV}={os.environ[DATA_ENV]}" if os.environ.get(DATA_ENV) else f"the default {DEFAULT_DATA_DIR}"
    return (
        f"dataset {dataset!r} needs its files ({DATASET_FILES.get(dataset, 'see the README')}): pass --data-dir DIR "
        f"(the folder holding them) or set {DATA_ENV} to a folder with a {dataset}/ sub-folder; "
        f"looked in {folder} ({where}), which does not exist; the README's Data section says where to get them"
    )


def _stratified_split(
    labels: np.ndarray, sizes: tuple[int, ...], seed: int
) -> list[np.ndarray]:
    """Index arrays of the given sizes, each with the class proportions of ``labels``."""
    from sklearn.model_selection import train_test_split

    indices = np.arange(len(labels))
    parts: list[np.ndarray] = []
    remaining = indices
    for size in sizes[1:][::-1]:
        remaining, part = train_test_split(
            remaining, test_size=size, random_state=seed, stratify=labels[remaining]
        )
        parts.insert(0, np.sort(part))
    parts.insert(0, np.sort(remaining))
    return parts


def load_digits(seed: int = 0, test_size: int = 360) -> ImageDataset:
    """scikit-learn's bundled digits, (N, 1, 8, 8) in [0, 1], stratified seeded split."""
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    x = (bunch.images / 16.0).astype(np.float32)[:, None, :, :]
    y = bunch.target.astype(np.int64)
    train, test = _stratified_split(y, (len(y) - test_size, test_size), seed)
    return ImageDataset(
        "digits", x[train], y[train], x[test], y[test], 10,
        split=f"sklearn digits, stratified, seed {seed}: {len(train)} train / {len(test)} test",
    )


def _open_maybe_gz(directory: Path, stem: str) -> bytes:
    for candidate in (directory / f"{stem}.gz", directory / stem):
        if candidate.is_file():
            try:
                if candidate.suffix == ".gz":
                    with gzip.open(candidate, "rb") as handle:
                        return handle.read()
                return candidate.read_bytes()
            except (OSError, EOFError, zlib.error) as error:
                raise DataError(f"{candidate}: cannot read ({error}); expected an IDX file, optionally gzipped") from error
    raise DataError(f"{directory / stem}[.gz]: file not found; expected the MNIST IDX file {stem}[.gz]")


def _parse_idx(raw: bytes, path: str, ndim: int) -> np.ndarray:
    expected_magic = 0x0800 + ndim
    if len(raw) < 4 + 4 * ndim:
        raise DataError(f"{path}: {len(raw)} bytes is too short for an IDX header")
    magic = struct.unpack(">I", raw[:4])[0]
    if magic != expected_magic:
        raise DataError(f"{path}: IDX magic {magic:#06x}, expected {expected_magic:#06x} (unsigned bytes, {ndim} dims)")
    dims = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    body = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise DataError(f"{path}: header says {dims} ({int(np.prod(dims))} values) but the file holds {body.size}")
    return body.reshape(dims)


def load_mnist(data_dir: str | os.PathLike[str], n_train: int = 8000, n_test: int = 2000) -> ImageDataset:
    """MNIST from IDX files: the first ``n_train`` images train, the last ``n_test`` test."""
    directory = Path(data_dir)
    if not directory.is_dir():
        raise DataError(f"{directory}: not a directory; expected a folder with {MNIST_FILES['images']}[.gz] and {MNIST_FILES['labels']}[.gz]")
    images = _parse_idx(_open_maybe_gz(directory, MNIST_FILES["images"]), str(directory / MNIST_FILES["images"]), 3)
    labels = _parse_idx(_open_maybe_gz(directory, MNIST_FILES["labels"]), str(directory / MNIST_FILES["labels"]), 1)
    if len(images) != len(labels):
        raise DataError(f"{directory}: {len(images)} images but {len(labels)} labels")
    if labels.max() > 9:
        raise DataError(f"{directory / MNIST_FILES['labels']}: label {labels.max()} outside 0-9")
    if n_train + n_test > len(images):
        raise ValueError(f"n_train + n_test = {n_train + n_test} exceeds the {len(images)} images in {directory}")
    x = (images.astype(np.float32) / 255.0)[:, None, :, :]
    y = labels.astype(np.int64)
    return ImageDataset(
        "mnist", x[:n_train], y[:n_train], x[len(x) - n_test :], y[len(y) - n_test :], 10,
        split=f"MNIST t10k, positional: first {n_train} train / last {n_test} test",
    )


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
    train, val, test = _stratified_split(y, (len(y) - val_size - test_size, val_size, test_size), seed)
    rng = np.random.default_rng(seed)
    train, val, test = (rng.permutation(part) for part in (train, val, test))
    pick = lambda idx: [texts[i] for i in idx]  # noqa: E731
    return TextDataset(
        "mr", pick(train), y[train], pick(val), y[val], pick(test), y[test],
        split=f"MR, stratified, seed {seed}: {len(train)} train / {len(val)} validation / {len(test)} test",
    )


def subset(dataset: ImageDataset, n_train: int | None, n_test: int | None) -> ImageDataset:
    """The first ``n_train`` / ``n_test`` examples of each split (``None`` keeps all)."""
    for name, value in (("n_train", n_train), ("n_test", n_test)):
        if value is not None and value <= 0:
            raise ValueError(f"{name} must be positive, got {value}")
    return ImageDataset(
        dataset.name,
        dataset.x_train[:n_train], dataset.y_train[:n_train],
        dataset.x_test[:n_test], dataset.y_test[:n_test],
        dataset.nb_classes, dataset.clip_values, dataset.split,
    )


def load_image_dataset(name: str, data_dir: str | os.PathLike[str] | None = None, seed: int = 0) -> ImageDataset:
    """Dispatch by name: ``digits`` (bundled) or ``mnist`` (needs ``data_dir``)."""
    if name == "digits":
        return load_digits(seed=seed)
    if name == "mnist":
        if data_dir is None:
            data_dir = data_root() / "mnist"
            if not data_dir.is_dir():
                raise DataError(missing_data_message("mnist"))
        return load_mnist(data_dir)
    raise ValueError(f"unknown image dataset {name!r}; choose from {', '.join(IMAGE_DATASETS)}")
