"""Text data sets: every loader returns a :class:`TextDataset` (sentences as strings, int64 labels,
the class names kept for reports).

* ``load_mr(data_dir)``: Movie Review sentence polarity (``rt-polarity.pos``/``.neg``, Latin-1). A
  stratified split with ``seed`` (default 0): 8,530 train / 1,066 validation / 1,066 test; labels
  1 = positive, 0 = negative. Each split is in a seeded random order (the files list all positive
  sentences first, so ``train_texts[:n]`` would otherwise be one class).
* ``load_text_table(path)``: your sentences in a CSV, TSV or JSON-lines file (UTF-8), or a folder
  holding ``train`` and ``test`` files (and optionally ``validation``) of one of those formats. The
  text column is ``text_column`` or the first of ``text``, ``sentence``, ``review``, ``content``; the
  label column ``label_column`` or the first of ``label``, ``labels``, ``sentiment``, ``class``.
  Labels are class indices ``0..K-1`` or names (sorted names give the indices, the names are kept).
  One file is split stratified with ``seed``: 80% train, 10% validation, 10% test; a folder without a
  validation file gives the last 10% of its train file, stratified, as validation.
* ``load_text_table(folder)`` also reads a Hugging Face ``datasets`` folder written by
  ``save_to_disk`` (``dataset_dict.json`` with ``train`` and ``test`` splits, or one saved
  ``Dataset``, split like one file), with the same column rules; a ``ClassLabel`` label column
  keeps its class names. It needs the optional ``datasets`` package (``pip install
  "art-ext[hf]"``); its Arrow files and JSON metadata are read, never a pickle.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from art_ext.data.common import DataError, TextDataset, dataset_folder, stratified_split

__all__ = ["MR_FILES", "TABLE_FORMATS", "TEXT_DATASETS", "is_hf_folder", "load_mr", "load_text_dataset",
           "load_text_table"]

MR_FILES = {1: "rt-polarity.pos", 0: "rt-polarity.neg"}
#: the table formats by file suffix
TABLE_FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl"}
#: ``hf``: a folder written by ``datasets``' ``save_to_disk``
TEXT_DATASETS = ("mr", *TABLE_FORMATS.values(), "hf")
TEXT_COLUMNS = ("text", "sentence", "review", "content")
LABEL_COLUMNS = ("label", "labels", "sentiment", "class")


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


def _read_rows(path: Path) -> list[dict[str, Any]]:
    kind = TABLE_FORMATS.get(path.suffix.lower())
    if kind is None:
        raise DataError(f"{path}: expected a .csv, .tsv or .jsonl file")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(f"{path}: cannot read it as UTF-8 text ({error})") from None
    if kind == "jsonl":
        rows = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise DataError(f"{path}: line {number} is not JSON ({error.msg})") from None
            if not isinstance(row, dict):
                raise DataError(f"{path}: line {number} is not a JSON object")
            rows.append(row)
        return rows
    try:
        return list(csv.DictReader(text.splitlines(), delimiter="\t" if kind == "tsv" else ","))
    except csv.Error as error:
        raise DataError(f"{path}: not a readable {kind.upper()} file ({error})") from None


def _column(rows: list[dict[str, Any]], given: str | None, defaults: tuple[str, ...], what: str, path: Path) -> str:
    present = list(rows[0]) if rows else []
    if given is not None:
        if given not in present:
            raise DataError(f"{path}: no {what} column {given!r}; the columns are {present}")
        return given
    found = next((c for c in defaults if c in present), None)
    if found is None:
        raise DataError(f"{path}: no {what} column among {list(defaults)}; the columns are {present} "
                        f"(name it with {what}_column)")
    return found


def _table(path: Path, text_column: str | None, label_column: str | None) -> tuple[list[str], list[Any]]:
    return _columns(_read_rows(path), path, text_column, label_column)


def _columns(rows: list[dict[str, Any]], path: Path, text_column: str | None,
             label_column: str | None) -> tuple[list[str], list[Any]]:
    """The texts and raw labels of ``rows`` (read from ``path``, named in every message)."""
    if not rows:
        raise DataError(f"{path}: no rows")
    text_key = _column(rows, text_column, TEXT_COLUMNS, "text", path)
    label_key = _column(rows, label_column, LABEL_COLUMNS, "label", path)
    texts, labels = [], []
    for number, row in enumerate(rows, 1):
        text, label = row.get(text_key), row.get(label_key)
        if not isinstance(text, str) or not text.strip():
            raise DataError(f"{path}: row {number} has no text in column {text_key!r}")
        if label is None or (isinstance(label, str) and not label.strip()) or isinstance(label, (bool, float, list, dict)):
            raise DataError(f"{path}: row {number} has label {label!r} in column {label_key!r}; expected a class index "
                            "or a class name")
        texts.append(text.strip())
        labels.append(label.strip() if isinstance(label, str) else label)
    return texts, labels


def _label_indices(parts: list[list[Any]], path: Path) -> tuple[list[np.ndarray], list[str]]:
    """Labels of every split as indices, and the class names: integers (or digit strings) 0..K-1
    stay as they are; names are sorted to give the indices."""
    every = [label for part in parts for label in part]
    if all(isinstance(v, int) or (isinstance(v, str) and v.isdigit()) for v in every):
        values = [[int(v) for v in part] for part in parts]
        classes = max(v for part in values for v in part) + 1
        if min(v for part in values for v in part) < 0:
            raise DataError(f"{path}: labels must be class indices >= 0 or class names")
        return [np.asarray(v, dtype=np.int64) for v in values], [str(i) for i in range(classes)]
    names = sorted({str(v) for v in every})
    index = {name: i for i, name in enumerate(names)}
    return [np.asarray([index[str(v)] for v in part], dtype=np.int64) for part in parts], names


def _split_file(folder: Path, stem: str) -> Path | None:
    found = [folder / f"{stem}{suffix}" for suffix in TABLE_FORMATS if (folder / f"{stem}{suffix}").is_file()]
    if len(found) > 1:
        raise DataError(f"{folder}: more than one {stem} file ({', '.join(f.name for f in found)})")
    return found[0] if found else None


#: the files ``save_to_disk`` writes: a ``DatasetDict`` folder, a single ``Dataset`` folder
HF_DICT_FILE, HF_DATASET_FILE = "dataset_dict.json", "state.json"


def is_hf_folder(folder: Path) -> bool:
    """Whether ``folder`` was written by ``datasets``' ``save_to_disk``."""
    return (folder / HF_DICT_FILE).is_file() or (folder / HF_DATASET_FILE).is_file()


def _hf_splits(folder: Path, text_column: str | None, label_column: str | None
               ) -> tuple[dict[str, tuple[list[str], list[Any]]], list[str] | None]:
    """Each split of a ``save_to_disk`` folder as (texts, raw labels), and the class names of a
    ``ClassLabel`` label column (``None`` otherwise). A single saved ``Dataset`` is the split ``all``."""
    try:
        import datasets
    except ImportError:
        raise DataError(f"{folder}: a Hugging Face datasets folder (save_to_disk) needs the datasets package: "
                        "pip install 'art-ext[hf]'") from None
    try:
        loaded = datasets.load_from_disk(str(folder))
    except (OSError, ValueError, KeyError) as error:
        raise DataError(f"{folder}: not a readable datasets folder ({type(error).__name__}: {error})") from None
    parts = dict(loaded) if isinstance(loaded, datasets.DatasetDict) else {"all": loaded}
    tables, names = {}, None
    for split, part in parts.items():
        where = folder / split
        text_key = _column([dict.fromkeys(part.column_names)], text_column, TEXT_COLUMNS, "text", where)
        label_key = _column([dict.fromkeys(part.column_names)], label_column, LABEL_COLUMNS, "label", where)
        feature = part.features[label_key]
        if isinstance(feature, datasets.ClassLabel):
            names = list(feature.names)
        tables[split] = _columns(part.select_columns([text_key, label_key]).to_list(), where, text_key, label_key)
    return tables, names


def _file_splits(folder: Path, text_column: str | None, label_column: str | None
                 ) -> dict[str, tuple[list[str], list[Any]]]:
    files = {stem: _split_file(folder, stem) for stem in ("train", "validation", "test")}
    if files["train"] is None or files["test"] is None:
        raise DataError(f"{folder}: expected train and test files (.csv, .tsv or .jsonl), and optionally validation, "
                        "or a datasets folder written by save_to_disk")
    return {stem: _table(f, text_column, label_column) for stem, f in files.items() if f is not None}


def load_text_table(path: str | os.PathLike[str], *, text_column: str | None = None, label_column: str | None = None,
                    seed: int = 0) -> TextDataset:
    """Sentences and labels from a CSV, TSV or JSON-lines file, a folder of ``train`` / ``test``
    (/ ``validation``) files, or a ``save_to_disk`` folder (see the module docstring)."""
    source = Path(path)
    class_names = None
    if source.is_dir() and is_hf_folder(source):
        tables, class_names = _hf_splits(source, text_column, label_column)
        if "all" in tables:
            texts, raw = tables["all"]
            return _split_one_table(source.name, texts, raw, source, seed, class_names)
        if "train" not in tables or "test" not in tables:
            raise DataError(f"{source}: a datasets folder needs train and test splits, it has {sorted(tables)}")
        tables = {stem: tables[stem] for stem in ("train", "validation", "test") if stem in tables}
    elif source.is_dir():
        tables = _file_splits(source, text_column, label_column)
    else:
        texts, raw = _table(source, text_column, label_column)
        return _split_one_table(source.stem, texts, raw, source, seed, None)
    return _stored_splits(source, tables, seed, class_names)


def _stored_splits(source: Path, tables: dict[str, tuple[list[str], list[Any]]], seed: int,
                   class_names: list[str] | None) -> TextDataset:
    """A data set from the splits as stored; without a validation split, a stratified tenth of train."""
    stems = list(tables)
    labels, names = _label_indices([tables[s][1] for s in stems], source)
    names = _class_names(names, class_names, source)
    y = dict(zip(stems, labels, strict=True))
    texts = {s: tables[s][0] for s in stems}
    if "validation" not in tables:
        size = max(1, len(y["train"]) // 10)
        try:
            train, val = stratified_split(y["train"], (len(y["train"]) - size, size), seed)
        except ValueError:
            order = np.random.default_rng(seed).permutation(len(y["train"]))
            train, val = np.sort(order[size:]), np.sort(order[:size])
        texts["validation"], y["validation"] = [texts["train"][i] for i in val], y["train"][val]
        texts["train"], y["train"] = [texts["train"][i] for i in train], y["train"][train]
    split = (f"{source.name}: as stored, {len(y['train'])} train / {len(y['validation'])} validation / "
             f"{len(y['test'])} test")
    return TextDataset(source.name, texts["train"], y["train"], texts["validation"], y["validation"],
                       texts["test"], y["test"], len(names), split, names)


def _class_names(names: list[str], stored: list[str] | None, source: Path) -> list[str]:
    """A ``ClassLabel``'s names where the data set has them (its labels are already indices)."""
    if stored is None:
        return names
    if len(names) > len(stored):
        raise DataError(f"{source}: label {len(names) - 1} is out of range for the {len(stored)} class names "
                        f"{stored}")
    return list(stored)


def _split_one_table(name: str, all_texts: list[str], raw: list[Any], source: Path, seed: int,
                     class_names: list[str] | None) -> TextDataset:
    """One table split stratified with ``seed``: 80% train, 10% validation, 10% test."""
    (y_all,), names = _label_indices([raw], source)
    names = _class_names(names, class_names, source)
    n = len(y_all)
    if n < 10:
        raise DataError(f"{source}: {n} rows; a single file is split 80 / 10 / 10 and needs at least 10")
    sizes = (n - 2 * (n // 10), n // 10, n // 10)
    try:
        train, val, test = stratified_split(y_all, sizes, seed)
    except ValueError:  # a class too small to stratify
        order = np.random.default_rng(seed).permutation(n)
        train, val, test = (np.sort(order[a:b]) for a, b in ((0, sizes[0]), (sizes[0], sizes[0] + sizes[1]),
                                                               (sizes[0] + sizes[1], n)))
    pick = lambda idx: [all_texts[i] for i in idx]  # noqa: E731
    split = f"{source.name}, stratified, seed {seed}: {len(train)} train / {len(val)} validation / {len(test)} test"
    return TextDataset(name, pick(train), y_all[train], pick(val), y_all[val], pick(test), y_all[test],
                       len(names), split, names)


def load_text_dataset(name: str, data_dir: str | os.PathLike[str] | None = None, *, text_column: str | None = None,
                      label_column: str | None = None, seed: int = 0) -> TextDataset:
    """The text data set ``name`` (:data:`TEXT_DATASETS`) from ``data_dir``, or, where that is not
    given, from ``$ART_EXT_DATA/<name>`` (else ``~/art-ext-data/<name>``): ``mr``, a table (``csv``,
    ``tsv``, ``jsonl``: the file or a folder of train/test files) or ``hf`` (a ``save_to_disk``
    folder). ``text_column`` / ``label_column`` name the columns of a table or ``hf`` data set."""
    if name not in TEXT_DATASETS:
        raise ValueError(f"unknown text dataset {name!r}; choose from {', '.join(TEXT_DATASETS)}")
    if name == "mr":
        if text_column is not None or label_column is not None:
            raise ValueError("text_column / label_column: only for --dataset csv, tsv, jsonl or hf")
        return load_mr(dataset_folder("mr", data_dir, "rt-polarity.pos and rt-polarity.neg"), seed=seed)
    if name == "hf":
        location = dataset_folder(name, data_dir, "a folder written by datasets' save_to_disk")
        if not is_hf_folder(location):
            raise DataError(f"{location}: --dataset hf expects a folder written by datasets' save_to_disk "
                            f"({HF_DICT_FILE} or {HF_DATASET_FILE} in it)")
    else:
        location = dataset_folder(name, data_dir, "a .csv, .tsv or .jsonl file, or a folder of train/test files")
        if location.is_file() and TABLE_FORMATS.get(location.suffix.lower()) != name:
            raise DataError(f"{location}: --dataset {name} expects a .{name} file")
    return load_text_table(location, text_column=text_column, label_column=label_column, seed=seed)
