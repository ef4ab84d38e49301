"""Read a data pickle without running code from it.

CIFAR-10 and CIFAR-100 ship as Python pickles (``cifar-10-batches-py/data_batch_1``, ...). A pickle
names callables that ``pickle.load`` imports and calls, so an ordinary load of a downloaded file
runs whatever it names. :func:`load_data_pickle` allows exactly what a data batch holds: builtin
containers, strings, bytes and numbers (which need no callable at all), and numpy arrays, whose
pickles name a handful of numpy's own reconstruction functions. Anything else is refused before it
is imported, with the file and the name in the message.
"""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
from numpy._core import multiarray, numeric

from art_ext.data.common import DataError

__all__ = ["ALLOWED_GLOBALS", "load_data_pickle"]


def _numpy_globals() -> dict[tuple[str, str], Any]:
    reconstruct = multiarray._reconstruct  # the reconstruction helpers numpy's pickles name
    frombuffer = numeric._frombuffer  # type: ignore[attr-defined]  # private, not in the stubs
    allowed: dict[tuple[str, str], Any] = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}
    # numpy 1 wrote numpy.core.*, numpy 2 writes numpy._core.*: both name the same functions
    for package in ("numpy.core", "numpy._core"):
        allowed[(f"{package}.multiarray", "_reconstruct")] = reconstruct
        allowed[(f"{package}.numeric", "_frombuffer")] = frombuffer
    return allowed


#: the only globals a data pickle may name (module, name) -> the object used
ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    **_numpy_globals(),
    ("_codecs", "encode"): __import__("codecs").encode,  # Python 3 pickles bytes for protocol 2 this way
}


class _DataUnpickler(pickle.Unpickler):
    def __init__(self, handle: io.BufferedIOBase, path: str) -> None:
        super().__init__(handle, encoding="bytes")
        self.path = path

    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise DataError(
                f"{self.path}: the pickle names {module}.{name}, which a data file has no reason to hold; refused "
                "without running it (a data pickle may hold only containers, strings, numbers and numpy arrays)"
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        raise DataError(f"{self.path}: the pickle asks for a persistent object ({pid!r}); refused")


def load_data_pickle(path: str | os.PathLike[str]) -> Any:
    """The object in the pickle at ``path``, loaded with :data:`ALLOWED_GLOBALS` only (keys of
    Python 2 pickles, like CIFAR's, come back as ``bytes``).

    :raises DataError: the file is missing, is not a pickle, or names anything else.
    """
    file = Path(path)
    try:
        with file.open("rb") as handle:
            return _DataUnpickler(handle, str(file)).load()  # type: ignore[arg-type]
    except DataError:
        raise
    except FileNotFoundError:
        raise DataError(f"{file}: file not found") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, OSError) as error:
        raise DataError(f"{file}: not a readable data pickle ({type(error).__name__}: {error})") from None
