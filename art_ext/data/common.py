"""What every loader shares: the result types, the one error type, where data lives, and how a
results file records a path without the machine's folders."""

from __future__ import annotations

import os
import shlex
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

DATA_ENV = "ART_EXT_DATA"


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
    class_names: list[str] = field(default_factory=list)
    #: per-channel ``(mean, std)`` a network sees the images normalised with (CIFAR's; ``None``: none),
    #: carried by the ART classifier's ``preprocessing`` so attacks work in ``clip_values``
    normalisation: tuple[tuple[float, ...], tuple[float, ...]] | None = None

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
#: where data sets live when neither ``--data-dir`` nor ``$ART_EXT_DATA`` says otherwise
DEFAULT_DATA_DIR = Path("~/art-ext-data")


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


def stratified_split(
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


def subset(dataset: ImageDataset, n_train: int | None, n_test: int | None) -> ImageDataset:
    """The first ``n_train`` / ``n_test`` examples of each split (``None`` keeps all)."""
    for name, value in (("n_train", n_train), ("n_test", n_test)):
        if value is not None and value <= 0:
            raise ValueError(f"{name} must be positive, got {value}")
    return ImageDataset(
        dataset.name,
        dataset.x_train[:n_train], dataset.y_train[:n_train],
        dataset.x_test[:n_test], dataset.y_test[:n_test],
        dataset.nb_classes, dataset.clip_values, dataset.split, list(dataset.class_names), dataset.normalisation,
    )


def missing_data_message(dataset: str, needs: str) -> str:
    """One line: what ``dataset`` needs, where it was looked for, and how to point at it."""
    folder = data_root() / dataset
    where = f"${DATA_ENV}={os.environ[DATA_ENV]}" if os.environ.get(DATA_ENV) else f"the default {DEFAULT_DATA_DIR}"
    return (
        f"dataset {dataset!r} needs its files ({needs}): pass --data-dir DIR (the folder holding them) or set "
        f"{DATA_ENV} to a folder with a {dataset}/ sub-folder; looked in {folder} ({where}), which does not exist; "
        "the README's Data section says where to get them"
    )


def dataset_folder(dataset: str, data_dir: str | os.PathLike[str] | None, needs: str) -> Path:
    """The folder of ``dataset``: ``data_dir`` when given, else ``$ART_EXT_DATA/<dataset>`` (or
    ``~/art-ext-data/<dataset>``), the documented search order of every loader."""
    if data_dir is not None:
        return Path(data_dir).expanduser()
    folder = data_root() / dataset
    if not folder.exists():
        raise DataError(missing_data_message(dataset, needs))
    return folder
