"""Atomic checkpoints and RNG state capture for exact resume.

A checkpoint is written to a temporary file in the target folder, flushed and ``fsync``-ed, then
``os.replace``-d over the target (and the folder is fsync-ed), so a crash at any moment leaves
either the old or the new checkpoint, never a torn one. Loading uses ``weights_only=True``:
everything stored is tensors, numbers, strings, lists and dicts (RNG states included: numpy's
and Python's states are converted to tensors and lists).
"""

from __future__ import annotations

import errno
import logging
import os
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from art_ext.checks import first_line

logger = logging.getLogger(__name__)

__all__ = ["CheckpointWriteError", "atomic_save", "atomic_write_text", "capture_rng", "load_checkpoint",
           "load_tensor_file", "restore_rng"]


class CheckpointWriteError(OSError):
    """A checkpoint could not be written (full disk, permissions); the previous one is intact."""


def _free_space(folder: Path) -> str:
    try:
        usage = shutil.disk_usage(folder)
    except OSError:
        return "unknown"
    return f"{usage.free / 2**20:.1f} MiB"


def _durable_rename(tmp: Path, target: Path) -> None:
    os.replace(tmp, target)
    try:  # make the rename itself durable
        fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:  # pragma: no cover - some filesystems refuse fsync on a directory
        pass


def atomic_save(obj: Any, path: str | os.PathLike[str]) -> Path:
    """``torch.save`` to ``path`` atomically (temp file, fsync, ``os.replace``).

    :raises CheckpointWriteError: the write failed (e.g. no space left); the message names the
        folder and its free space, and any previous file at ``path`` is left as it was.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as handle:
            torch.save(obj, handle)
            handle.flush()
            os.fsync(handle.fileno())
        _durable_rename(tmp, target)
    except (OSError, RuntimeError) as error:
        # torch reports a full disk as "[enforce fail at inline_container.cc] unexpected pos"
        full = (isinstance(error, OSError) and error.errno == errno.ENOSPC) or "unexpected pos" in str(error)
        reason = "no space left on device" if full else f"{type(error).__name__}: {first_line(error)}"
        raise CheckpointWriteError(
            f"cannot write checkpoint {target} ({reason}; {_free_space(target.parent)} free in {target.parent}); "
            "the previous checkpoint there, if any, is intact"
        ) from error
    finally:
        if tmp.exists():
            tmp.unlink()
    return target


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write a small text file atomically (temp file, fsync, ``os.replace``)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        _durable_rename(tmp, target)
    except OSError as error:
        raise CheckpointWriteError(
            f"cannot write {target} ({error.strerror or error}; {_free_space(target.parent)} free in {target.parent})"
        ) from error
    finally:
        if tmp.exists():
            tmp.unlink()
    return target


def load_checkpoint(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True``.

    :raises FileNotFoundError: no such file.
    :raises ValueError: the path is not a file, or not a readable checkpoint (one line naming it).
    """
    return load_tensor_file(path, "checkpoint", map_location=map_location, expect_dict=True)


def load_tensor_file(
    path: str | os.PathLike[str], what: str = "file", *, map_location: str | torch.device = "cpu",
    expect_dict: bool = True,
) -> Any:
    """``torch.load(path, weights_only=True)`` with one-line errors that name the path.

    Used for every ``.pt`` file a user hands over (checkpoints, ``--model``, ``--state-dict``).
    """
    target = Path(path)
    if not target.exists():
        raise FileNotFoundError(f"{what} {target}: no such file")
    if not target.is_file():
        raise ValueError(f"{what} {target}: is a {'folder' if target.is_dir() else 'special file'}, expected a file")
    try:
        state = torch.load(target, map_location=map_location, weights_only=True)
    except Exception as error:  # torch raises several types for a corrupt or pickled file
        raise ValueError(f"{what} {target}: {_load_failure(error)}") from None
    if expect_dict and not isinstance(state, dict):
        raise ValueError(f"{what} {target}: holds {type(state).__name__}, expected a dict of tensors")
    return state


def _load_failure(error: Exception) -> str:
    """What went wrong reading a torch file, in one line (torch's own message is a page long)."""
    text = str(error)
    if "Unsupported global" in text:
        found = text.split("Unsupported global:", 1)[1].split(" was not", 1)[0].strip()
        return (f"it holds pickled Python objects ({found}), not only tensors; art-ext loads files with "
                "weights_only=True (save a state_dict instead)")
    if "Unsupported operand" in text or "invalid load key" in text or "could not find MARK" in text:
        return "not a torch file of tensors (unreadable or not written by torch.save)"
    if isinstance(error, (EOFError, RuntimeError)) and ("zip" in text.lower() or "EOF" in text or not text):
        return "truncated or corrupt torch file"
    first = first_line(error)
    return f"not a readable torch file ({first[:160]})"


def _numpy_state_to_safe(state: tuple[Any, ...]) -> dict[str, Any]:
    name, keys, pos, has_gauss, cached = state
    return {
        "name": str(name),
        "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
        "pos": int(pos),
        "has_gauss": int(has_gauss),
        "cached": float(cached),
    }


def _numpy_state_from_safe(safe: dict[str, Any]) -> tuple[Any, ...]:
    keys = safe["keys"].numpy().astype(np.uint32)
    return (safe["name"], keys, safe["pos"], safe["has_gauss"], safe["cached"])


def _python_state_to_safe(state: tuple[Any, ...]) -> dict[str, Any]:
    version, internal, gauss = state
    return {"version": int(version), "internal": torch.tensor(internal, dtype=torch.int64), "gauss": gauss}


def _python_state_from_safe(safe: dict[str, Any]) -> tuple[Any, ...]:
    return (safe["version"], tuple(int(v) for v in safe["internal"].tolist()), safe["gauss"])


def capture_rng(generators: dict[str, torch.Generator] | None = None) -> dict[str, Any]:
    """Every RNG state that training touches: torch CPU and CUDA, numpy's global, Python's, and
    any named ``torch.Generator``s (e.g. the trainer's data-order generator)."""
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": _numpy_state_to_safe(np.random.get_state()),  # type: ignore[arg-type]
        "python": _python_state_to_safe(random.getstate()),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = list(torch.cuda.get_rng_state_all())
    if generators:
        state["generators"] = {name: g.get_state() for name, g in generators.items()}
    return state


def restore_rng(state: dict[str, Any], generators: dict[str, torch.Generator] | None = None) -> None:
    """Inverse of :func:`capture_rng`."""
    torch.set_rng_state(state["torch"].cpu())
    np.random.set_state(_numpy_state_from_safe(state["numpy"]))
    random.setstate(_python_state_from_safe(state["python"]))
    if "cuda" in state and torch.cuda.is_available():
        states = state["cuda"]
        if len(states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all([s.cpu() for s in states])
        else:
            logger.warning("checkpoint has %d CUDA RNG states, this machine %d GPUs: not restored",
                           len(states), torch.cuda.device_count())
    for name, g in (generators or {}).items():
        saved = state.get("generators", {}).get(name)
        if saved is not None:
            g.set_state(saved.cpu())
