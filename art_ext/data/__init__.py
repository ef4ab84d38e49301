"""Data loaders with fixed, documented, seeded splits; one result type per kind of data.

* images (:mod:`~art_ext.data.images`): ``digits`` (bundled), ``mnist`` (full or test-only IDX files),
  ``cifar10`` / ``cifar100`` (python pickle batches, read without running code from them), ``npz`` and
  ``folder`` (class sub-folders), all through :func:`load_image_dataset`;
* text (:mod:`~art_ext.data.text`): ``mr`` (Movie Review sentence polarity) and your sentences in
  ``csv`` / ``tsv`` / ``jsonl`` files (:func:`load_text_table`);
* :mod:`~art_ext.data.common`: :class:`ImageDataset`, :class:`TextDataset`, :class:`DataError`, the
  search order of data folders (``--data-dir``, else ``$ART_EXT_DATA/<name>``, else
  ``~/art-ext-data/<name>``) and the portable paths results files record.

A missing or corrupt file raises :class:`DataError` (a ``ValueError``) naming the path and what was
expected.
"""

from art_ext.data.common import (
    DATA_ENV,
    DEFAULT_DATA_DIR,
    DataError,
    ImageDataset,
    TextDataset,
    data_root,
    dataset_folder,
    default_data_dir,
    missing_data_message,
    portable_command,
    portable_path,
    stratified_split,
    subset,
)
from art_ext.data.images import (
    IMAGE_DATASETS,
    MNIST_FILES,
    images_from_array,
    load_cifar,
    load_digits,
    load_image_dataset,
    load_image_folder,
    load_mnist,
    load_npz,
)
from art_ext.data.safe_pickle import load_data_pickle
from art_ext.data.text import (
    MR_FILES,
    TABLE_FORMATS,
    TEXT_DATASETS,
    is_hf_folder,
    load_mr,
    load_text_dataset,
    load_text_table,
)

__all__ = [
    "DATA_ENV",
    "DEFAULT_DATA_DIR",
    "IMAGE_DATASETS",
    "MNIST_FILES",
    "MR_FILES",
    "TABLE_FORMATS",
    "TEXT_DATASETS",
    "DataError",
    "ImageDataset",
    "TextDataset",
    "data_root",
    "dataset_folder",
    "default_data_dir",
    "images_from_array",
    "is_hf_folder",
    "load_cifar",
    "load_data_pickle",
    "load_digits",
    "load_image_dataset",
    "load_image_folder",
    "load_mnist",
    "load_mr",
    "load_npz",
    "load_text_dataset",
    "load_text_table",
    "missing_data_message",
    "portable_command",
    "portable_path",
    "stratified_split",
    "subset",
]
