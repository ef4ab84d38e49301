"""Atomic checkpoints and RNG state capture for exact resume.

A checkpoint is written to a temporary file in the target folder, flushed and ``fsync``-ed, then
``os.replace``-d over the target (and the folder is fsync-ed), so a crash at any moment leaves
either the old or the new checkpoint, never a torn one. Loading uses ``weights_only=True``:
everything stored is tensors, numbers, strings, lists and dicts (RNG states included: numpy's
and Python's states are converted to tensors and lists).
"""

from __future__ import annotations

import logging
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

logger = logging.getLogger(__name__)

__all__ = ["atomic_save", "capture_rng", "load_checkpoint", "restore_rng"]


def atomic_save(obj: Any, path: str | os.PathLike[str]) -> Path:
    """``torch.save`` to ``path`` atomically (temp file, fsync, ``os.replace``)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as handle:
            torch.save(obj, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()
    try:  # make the rename itself durable
        fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:  # pragma: no cover - some filesystems refuse fsync on a directory
        pass
    return target


def load_checkpoint(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True``.

    :raises FileNotFoundError: no such file.
    :raises ValueError: the file is not a readable checkpoint.
    """
    target = Path(path)
    if not target.is_file():
        raise FileNotFoundError(f"checkpoint {target} not found")
    try:
        state = torch.load(target, map_location=map_location, weights_only=True)
    except Exception as error:  # torch raises several types for a corrupt file
        raise ValueError(f"checkpoint {target} is not readable: {error}") from error
    if not isinstance(state, dict):
        raise ValueError(f"checkpoint {target} holds {type(state).__name__}, expected a dict")
    return state


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
