"""Image data sets: every loader returns an :class:`ImageDataset` of float32 ``(N, C, H, W)`` images
in ``[0, 1]`` and int64 class indices.

=============  ==========================================================  =================================
``--dataset``  files (``--data-dir``, else ``$ART_EXT_DATA/<name>``)          split
=============  ==========================================================  =================================
``digits``     none: scikit-learn's bundled 8x8 digits                       stratified, seed: 1,437 / 360
``mnist``      ``train-*`` and ``t10k-*`` IDX files (``[.gz]``)               60,000 / 10,000 (the official one)
               only ``t10k-*``                                               positional: first 8,000 / last 2,000
``cifar10``    ``cifar-10-batches-py/`` (``data_batch_1..5``, ``test_batch``)   50,000 / 10,000 (the official one)
``cifar100``   ``cifar-100-python/`` (``train``, ``test``, fine labels)      50,000 / 10,000 (the official one)
``npz``        one ``.npz`` with ``x_train``, ``y_train``, ``x_test``, ``y_test``  as stored
``folder``     ``DIR/<class>/*.png|jpg`` or ``DIR/train/<class>/`` and           as stored, else stratified 80 / 20,
               ``DIR/test/<class>/``                                         seed
=============  ==========================================================  =================================

Pixel rules (npz and folders): ``uint8`` values are divided by 255; floating-point values must
already lie in ``[0, 1]``; anything else is refused. Arrays may be ``(N, H, W)``, ``(N, C, H, W)`` or
``(N, H, W, C)`` with 1 or 3 channels: the layout is detected from where the channel axis is, said
in the data set's ``split`` text and the log, and refused when both ends could be it. CIFAR pickles
are read by :func:`~art_ext.data.safe_pickle.load_data_pickle`, which runs no code from the
file. A malformed file raises :class:`DataError` naming the file and what is wrong.
"""

from __future__ import annotations

import gzip
import logging
import os
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from art_ext.data.common import DataError, ImageDataset, dataset_folder, stratified_split
from art_ext.data.safe_pickle import load_data_pickle

logger = logging.getLogger(__name__)

__all__ = ["IMAGE_DATASETS", "MNIST_FILES", "images_from_array", "load_cifar", "load_digits", "load_image_dataset",
           "load_image_folder", "load_mnist", "load_npz"]

IMAGE_DATASETS = ("digits", "mnist", "cifar10", "cifar100", "npz", "folder")
MNIST_FILES = {
    "images": "t10k-images-idx3-ubyte",
    "labels": "t10k-labels-idx1-ubyte",
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
}
_NEEDS = {
    "mnist": "t10k-images-idx3-ubyte[.gz] and t10k-labels-idx1-ubyte[.gz], and train-* for the full set",
    "cifar10": "the cifar-10-batches-py folder (data_batch_1..5, test_batch, batches.meta)",
    "cifar100": "the cifar-100-python folder (train, test, meta)",
    "npz": "one .npz file with x_train, y_train, x_test, y_test",
    "folder": "a folder of class sub-folders holding images",
}
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")


# --------------------------------------------------------------------------- arrays


def _layout(shape: tuple[int, ...], source: str) -> str:
    if len(shape) == 3:
        return "NHW"
    if len(shape) != 4:
        raise DataError(f"{source}: images must be (N, H, W), (N, C, H, W) or (N, H, W, C); got shape {shape}")
    first, last = shape[1] in (1, 3), shape[3] in (1, 3)
    if first and last:
        raise DataError(f"{source}: shape {shape} could be NCHW or NHWC (1 or 3 at both ends); store (N, C, H, W) "
                        "images larger than 3 pixels")
    if not first and not last:
        raise DataError(f"{source}: shape {shape} has no channel axis of 1 or 3 at position 1 (NCHW) or 3 (NHWC)")
    return "NCHW" if first else "NHWC"


def images_from_array(array: Any, source: str) -> tuple[np.ndarray, str]:
    """``(images, layout)``: float32 ``(N, C, H, W)`` in ``[0, 1]`` from a stored array, and the
    layout it was stored in (``NCHW``, ``NHWC`` or ``NHW``)."""
    x = np.asarray(array)
    layout = _layout(tuple(x.shape), source)
    if x.dtype == np.uint8:
        x = x.astype(np.float32) / 255.0
    elif np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float32)
        if not np.isfinite(x).all():
            raise DataError(f"{source}: images hold NaN or infinite values")
        low, high = (float(x.min()), float(x.max())) if x.size else (0.0, 1.0)
        if low < 0.0 or high > 1.0:
            raise DataError(f"{source}: float images must lie in [0, 1], found [{low:g}, {high:g}] (store uint8 0-255 "
                            "or scale them)")
    else:
        raise DataError(f"{source}: images must be uint8 (0-255) or float in [0, 1], got dtype {x.dtype}")
    if layout == "NHW":
        x = x[:, None]
    elif layout == "NHWC":
        x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    return x, layout


def labels_from_array(array: Any, n: int, source: str, nb_classes: int | None = None) -> np.ndarray:
    """int64 class indices, one per image, in ``[0, nb_classes)`` when ``nb_classes`` is given."""
    y = np.asarray(array)
    if y.ndim != 1 or len(y) != n:
        raise DataError(f"{source}: labels must be one class index per image ({n}), got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"{source}: labels must be integers (class indices), got dtype {y.dtype}")
    if n and (int(y.min()) < 0 or (nb_classes is not None and int(y.max()) >= nb_classes)):
        allowed = f"0-{nb_classes - 1}" if nb_classes is not None else ">= 0"
        raise DataError(f"{source}: labels must be in {allowed}, found {int(y.min())}-{int(y.max())}")
    return y.astype(np.int64)


# --------------------------------------------------------------------------- digits and MNIST


def load_digits(seed: int = 0, test_size: int = 360) -> ImageDataset:
    """scikit-learn's bundled digits, (N, 1, 8, 8) in [0, 1], stratified seeded split."""
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    x = (bunch.images / 16.0).astype(np.float32)[:, None, :, :]
    y = bunch.target.astype(np.int64)
    train, test = stratified_split(y, (len(y) - test_size, test_size), seed)
    return ImageDataset(
        "digits", x[train], y[train], x[test], y[test], 10,
        split=f"sklearn digits, stratified, seed {seed}: {len(train)} train / {len(test)} test",
        class_names=[str(i) for i in range(10)],
    )


def _find_gz(directory: Path, stem: str) -> Path | None:
    return next((c for c in (directory / f"{stem}.gz", directory / stem) if c.is_file()), None)


def _read_idx(directory: Path, stem: str, ndim: int) -> np.ndarray:
    path = _find_gz(directory, stem)
    if path is None:
        raise DataError(f"{directory / stem}[.gz]: file not found; expected the MNIST IDX file {stem}[.gz]")
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as handle:
                raw = handle.read()
        else:
            raw = path.read_bytes()
    except (OSError, EOFError, zlib.error) as error:
        raise DataError(f"{path}: cannot read ({error}); expected an IDX file, optionally gzipped") from error
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


def _mnist_pair(directory: Path, images: str, labels: str) -> tuple[np.ndarray, np.ndarray]:
    x = _read_idx(directory, MNIST_FILES[images], 3)
    y = _read_idx(directory, MNIST_FILES[labels], 1)
    if len(x) != len(y):
        raise DataError(f"{directory}: {len(x)} images but {len(y)} labels in {MNIST_FILES[images]} / {MNIST_FILES[labels]}")
    if len(y) and y.max() > 9:
        raise DataError(f"{directory / MNIST_FILES[labels]}: label {y.max()} outside 0-9")
    return (x.astype(np.float32) / 255.0)[:, None, :, :], y.astype(np.int64)


def load_mnist(data_dir: str | os.PathLike[str], n_train: int = 8000, n_test: int = 2000,
               full: bool | None = None) -> ImageDataset:
    """MNIST from IDX files.

    :param full: ``None``: the official 60,000 / 10,000 split when the ``train-*`` files are in
        ``data_dir``, else the test file alone split positionally (the first ``n_train`` images train,
        the last ``n_test`` test); ``False``: always the test file alone (what the benchmarks record);
        ``True``: refuse to run without the training files.
    """
    directory = Path(data_dir)
    if not directory.is_dir():
        raise DataError(f"{directory}: not a directory; expected a folder with {_NEEDS['mnist']}")
    has_train = _find_gz(directory, MNIST_FILES["train_images"]) is not None
    if full is True and not has_train:
        raise DataError(f"{directory}: full=True needs {MNIST_FILES['train_images']}[.gz] and "
                        f"{MNIST_FILES['train_labels']}[.gz]")
    if has_train and full is not False:
        x_train, y_train = _mnist_pair(directory, "train_images", "train_labels")
        x_test, y_test = _mnist_pair(directory, "images", "labels")
        split = f"MNIST, the official split: {len(x_train)} train / {len(x_test)} test"
    else:
        x, y = _mnist_pair(directory, "images", "labels")
        if n_train + n_test > len(x):
            raise ValueError(f"n_train + n_test = {n_train + n_test} exceeds the {len(x)} images in {directory}")
        x_train, y_train, x_test, y_test = x[:n_train], y[:n_train], x[len(x) - n_test:], y[len(y) - n_test:]
        why = "" if full is False else " (no train-* files found)"
        split = f"MNIST t10k only{why}, positional: first {n_train} train / last {n_test} test"
    logger.info("mnist: %s", split)
    return ImageDataset("mnist", x_train, y_train, x_test, y_test, 10, split=split,
                        class_names=[str(i) for i in range(10)])


# --------------------------------------------------------------------------- CIFAR


#: the layout of the two archives; ``normalisation``: the training set's per-channel mean and
#: standard deviation (the constants of Wong et al.'s and Rice et al.'s code)
_CIFAR: dict[str, dict[str, Any]] = {
    "cifar10": {"folder": "cifar-10-batches-py", "train": [f"data_batch_{i}" for i in range(1, 6)],
                "test": ["test_batch"], "labels": b"labels", "meta": "batches.meta", "names": b"label_names",
                "classes": 10, "normalisation": ((0.4914, 0.4822, 0.4465), (0.2471, 0.2435, 0.2616))},
    "cifar100": {"folder": "cifar-100-python", "train": ["train"], "test": ["test"], "labels": b"fine_labels",
                 "meta": "meta", "names": b"fine_label_names", "classes": 100,
                 "normalisation": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762))},
}


def _cifar_batch(path: Path, labels_key: bytes, classes: int) -> tuple[np.ndarray, np.ndarray]:
    batch = load_data_pickle(path)
    if not isinstance(batch, dict):
        raise DataError(f"{path}: expected a CIFAR batch (a dict with data and labels), got {type(batch).__name__}")
    batch = {k.encode() if isinstance(k, str) else k: v for k, v in batch.items()}
    if b"data" not in batch or labels_key not in batch:
        raise DataError(f"{path}: a CIFAR batch holds {b'data'!r} and {labels_key!r}; found keys {sorted(batch)}")
    data = batch[b"data"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        shown = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise DataError(f"{path}: data must be uint8 rows of 3,072 values (3 x 32 x 32), got {shown}")
    x = data.reshape(-1, 3, 32, 32).astype(np.float32) / 255.0
    return x, labels_from_array(np.asarray(batch[labels_key]), len(x), str(path), classes)


def _cifar_names(folder: Path, spec: dict[str, Any]) -> list[str]:
    path = folder / spec["meta"]
    if not path.is_file():
        return [str(i) for i in range(spec["classes"])]
    meta = load_data_pickle(path)
    names = meta.get(spec["names"], meta.get(spec["names"].decode())) if isinstance(meta, dict) else None
    if not isinstance(names, list) or len(names) != spec["classes"]:
        raise DataError(f"{path}: expected {spec['classes']} class names under {spec['names']!r}")
    return [n.decode() if isinstance(n, bytes) else str(n) for n in names]


def load_cifar(name: str, data_dir: str | os.PathLike[str]) -> ImageDataset:
    """CIFAR-10 (``name="cifar10"``) or CIFAR-100 (``"cifar100"``, fine labels) from the python
    pickle batches in ``data_dir`` or in its ``cifar-10-batches-py`` / ``cifar-100-python`` folder."""
    spec = _CIFAR[name]
    folder = Path(data_dir)
    if (folder / spec["folder"]).is_dir():
        folder = folder / spec["folder"]
    missing = [f for f in spec["train"] + spec["test"] if not (folder / f).is_file()]
    if missing:
        raise DataError(f"{folder}: missing {', '.join(missing)}; expected {_NEEDS[name]}")
    parts = {split: [_cifar_batch(folder / f, spec["labels"], spec["classes"]) for f in spec[split]]
             for split in ("train", "test")}
    x_train, y_train = (np.concatenate(a) for a in zip(*parts["train"], strict=True))
    x_test, y_test = (np.concatenate(a) for a in zip(*parts["test"], strict=True))
    return ImageDataset(name, x_train, y_train, x_test, y_test, spec["classes"],
                        split=f"{name}, the official split: {len(x_train)} train / {len(x_test)} test",
                        class_names=_cifar_names(folder, spec), normalisation=spec["normalisation"])


# --------------------------------------------------------------------------- npz


def load_npz(path: str | os.PathLike[str]) -> ImageDataset:
    """Images from one ``.npz`` (``x_train``, ``y_train``, ``x_test``, ``y_test``; no pickled
    objects: numpy loads it with ``allow_pickle=False``). The number of classes is the largest
    label plus one; ``class_names`` (a string array) is used when present."""
    file = Path(path)
    try:
        with np.load(file, allow_pickle=False) as stored:
            arrays = {key: stored[key] for key in stored.files}
    except FileNotFoundError:
        raise DataError(f"{file}: file not found; expected {_NEEDS['npz']}") from None
    except (OSError, ValueError, zlib.error) as error:
        raise DataError(f"{file}: not a readable .npz without pickled objects ({error})") from None
    missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in arrays]
    if missing:
        raise DataError(f"{file}: missing {', '.join(missing)}; found {sorted(arrays)}")
    x_train, layout = images_from_array(arrays["x_train"], f"{file}: x_train")
    x_test, _ = images_from_array(arrays["x_test"], f"{file}: x_test")
    if x_train.shape[1:] != x_test.shape[1:]:
        raise DataError(f"{file}: x_train images are {x_train.shape[1:]} but x_test images {x_test.shape[1:]}")
    names = [str(n) for n in arrays["class_names"]] if "class_names" in arrays else []
    y_train = labels_from_array(arrays["y_train"], len(x_train), f"{file}: y_train", len(names) or None)
    y_test = labels_from_array(arrays["y_test"], len(x_test), f"{file}: y_test", len(names) or None)
    classes = len(names) or int(max(y_train.max(initial=0), y_test.max(initial=0))) + 1
    split = f"npz {file.name}, stored {layout}: {len(x_train)} train / {len(x_test)} test"
    logger.info("%s", split)
    return ImageDataset("npz", x_train, y_train, x_test, y_test, classes, split=split,
                        class_names=names or [str(i) for i in range(classes)])


# --------------------------------------------------------------------------- image folders


def _class_folders(root: Path) -> list[Path]:
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise DataError(f"{root}: no class sub-folders; expected {_NEEDS['folder']}")
    return folders


def _read_images(root: Path, classes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Every image under ``root/<class>/`` for the classes of ``root`` that are in ``classes``,
    labelled by the class's index in ``classes``."""
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:  # an optional dependency: only image folders need it
        raise DataError(f"{root}: reading image folders needs Pillow: pip install 'art-ext[images]'") from None
    pixels: list[np.ndarray] = []
    labels: list[int] = []
    size: tuple[int, int] | None = None
    first = ""
    for label, name in enumerate(classes):
        if not (root / name).is_dir():
            continue
        files = sorted(p for p in (root / name).iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES)
        for file in files:
            try:
                with Image.open(file) as image:
                    image.load()
                    mode = "L" if image.mode in ("1", "L", "I;16", "I", "F") else "RGB"
                    array = np.asarray(image.convert(mode), dtype=np.uint8)
            except (OSError, UnidentifiedImageError) as error:
                raise DataError(f"{file}: not a readable image ({error})") from None
            if size is None:
                size, first = array.shape[:2], str(file)
            elif array.shape[:2] != size:
                raise DataError(f"{file}: {array.shape[1]}x{array.shape[0]} pixels, but {first} is {size[1]}x{size[0]}: "
                                "every image of a folder data set must have one size")
            pixels.append(array if array.ndim == 3 else array[:, :, None])
            labels.append(label)
    if not pixels:
        raise DataError(f"{root}: no images ({', '.join(_IMAGE_SUFFIXES)}) in its class sub-folders")
    channels = max(p.shape[2] for p in pixels)  # a colour image makes the whole set RGB
    stacked = np.stack([np.repeat(p, channels // p.shape[2], axis=2) for p in pixels])
    x, _ = images_from_array(stacked, str(root))
    return x, np.asarray(labels, dtype=np.int64)


def load_image_folder(data_dir: str | os.PathLike[str], seed: int = 0, test_share: float = 0.2) -> ImageDataset:
    """Images in class sub-folders (the class names sorted give the indices), as
    ``DIR/train/<class>/`` and ``DIR/test/<class>/`` (the split as stored) or ``DIR/<class>/`` (a
    stratified ``test_share`` split with ``seed``). Greyscale stays one channel unless a colour image
    is among them."""
    root = Path(data_dir)
    if not root.is_dir():
        raise DataError(f"{root}: not a directory; expected {_NEEDS['folder']}")
    if (root / "train").is_dir() and (root / "test").is_dir():
        classes = [p.name for p in _class_folders(root / "train")]
        test_classes = [p.name for p in _class_folders(root / "test")]
        if set(test_classes) - set(classes):
            raise DataError(f"{root / 'test'}: classes {sorted(set(test_classes) - set(classes))} are not in train/")
        x_train, y_train = _read_images(root / "train", classes)
        x_test, y_test = _read_images(root / "test", classes)
        if x_train.shape[1:] != x_test.shape[1:]:
            raise DataError(f"{root}: train images are {x_train.shape[1:]} but test images {x_test.shape[1:]}")
        split = f"image folder {root.name}, as stored: {len(x_train)} train / {len(x_test)} test"
    else:
        classes = [p.name for p in _class_folders(root)]
        x, y = _read_images(root, classes)
        n_test = max(1, round(test_share * len(y)))
        try:
            train, test = stratified_split(y, (len(y) - n_test, n_test), seed)
        except ValueError:  # too few images per class to stratify
            order = np.random.default_rng(seed).permutation(len(y))
            train, test = np.sort(order[n_test:]), np.sort(order[:n_test])
        x_train, y_train, x_test, y_test = x[train], y[train], x[test], y[test]
        split = f"image folder {root.name}, seeded split (seed {seed}): {len(train)} train / {len(test)} test"
    logger.info("%s", split)
    return ImageDataset("folder", x_train, y_train, x_test, y_test, len(classes), split=split, class_names=classes)


# --------------------------------------------------------------------------- by name


def load_image_dataset(name: str, data_dir: str | os.PathLike[str] | None = None, seed: int = 0) -> ImageDataset:
    """The image data set ``name`` (:data:`IMAGE_DATASETS`) from ``data_dir``, or, where that is
    not given, from ``$ART_EXT_DATA/<name>`` (else ``~/art-ext-data/<name>``); ``digits`` needs no
    files. ``npz`` takes the ``.npz`` file as ``data_dir``, ``folder`` the folder of class folders."""
    if name == "digits":
        return load_digits(seed=seed)
    if name not in IMAGE_DATASETS:
        raise ValueError(f"unknown image dataset {name!r}; choose from {', '.join(IMAGE_DATASETS)}")
    location = dataset_folder(name, data_dir, _NEEDS[name])
    if name == "mnist":
        return load_mnist(location)
    if name in _CIFAR:
        return load_cifar(name, location)
    if name == "npz":
        if location.is_dir():
            found = sorted(location.glob("*.npz"))
            if len(found) != 1:
                raise DataError(f"{location}: expected one .npz file there (or pass the file), found {len(found)}")
            location = found[0]
        return load_npz(location)
    return load_image_folder(location, seed=seed)
