"""The run folder of a training run: what happens on start, on resume and while writing.

Longer than ~400 lines on purpose: the folder's four rules and the fingerprint they compare are one
contract (what may start, resume or overwrite a run), read together when it changes.

A run folder (``checkpoint_dir``) holds ``last.pt`` (resumable state), ``best.pt`` (best
weights), ``metrics.jsonl`` (one line per epoch), ``fingerprint.json`` (what defines the run)
and ``.lock`` / ``.owner`` (who is writing). :class:`RunFolder` enforces four rules:

* **one writer**: :meth:`RunFolder.acquire` takes an exclusive ``filelock`` lock; a second
  process fails at once with :class:`RunFolderBusy` naming the folder and the holder's pid.
  The lock is the kernel's (``fcntl``), so a lock left by a killed process is free again;
* **no silent overwrite**: a folder that already holds a run is refused unless the caller
  resumes it (``resume=True``) or discards it (``overwrite=True``);
* **same run on resume**: the saved fingerprint must equal the current one, field by field;
  a mismatch raises :class:`RunMismatchError` listing every differing field on one line.
  Fields where continuing is legitimate can be allowed explicitly (``allow_changes``, e.g.
  ``("lr",)``: the new learning rate is then applied after the optimizer state is loaded).
  The number of epochs is not part of a run's identity: resuming with more epochs continues it;
* **atomic, checked writes**: checkpoints go through :func:`~art_ext.core.checkpoint.atomic_save`
  (a full disk is one :class:`~art_ext.core.checkpoint.CheckpointWriteError` line naming the
  folder and its free space; the previous checkpoint stays valid).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import socket
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from art_ext.core.batches import BatchSource, GeneratorSource, LoaderSource, TensorSource
from art_ext.core.checkpoint import atomic_save, atomic_write_text, load_checkpoint

logger = logging.getLogger(__name__)

__all__ = [
    "BEST",
    "CHANGEABLE_FIELDS",
    "FINGERPRINT",
    "LAST",
    "METRICS",
    "RunFolder",
    "RunFolderBusy",
    "RunFolderError",
    "RunMismatchError",
    "check_metrics_target",
    "check_output_folder",
    "check_output_options",
    "data_identity",
    "discard_outputs",
    "fingerprint_differences",
    "model_identity",
    "run_fingerprint",
]

LAST = "last.pt"
BEST = "best.pt"
METRICS = "metrics.jsonl"
FINGERPRINT = "fingerprint.json"
LOCK = ".lock"
OWNER = ".owner"
RUN_FILES = (LAST, BEST, METRICS, FINGERPRINT)
#: fingerprint fields a resume may change when the caller allows it (``allow_changes``)
CHANGEABLE_FIELDS = ("lr", "precision", "versions", "device")


class RunFolderError(ValueError):
    """A run folder cannot be used as asked (one line, naming the folder)."""


class RunFolderBusy(RunFolderError):
    """Another process is writing to this run folder."""


class RunMismatchError(RunFolderError):
    """``resume`` found a different run in the folder."""


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(_flatten(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: data}


def _field_group(path: str) -> str:
    """The allowable field a flattened key belongs to (``optimizer.lr`` -> ``lr``)."""
    if path in ("optimizer.lr", "params.lr"):
        return "lr"
    return path.split(".", 1)[0]


def fingerprint_differences(saved: dict[str, Any], current: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """``(field, saved value, current value)`` for every field that differs."""
    a, b = _flatten(saved), _flatten(current)
    return [(key, a.get(key), b.get(key)) for key in sorted(set(a) | set(b)) if a.get(key) != b.get(key)]


class RunFolder:
    """One training run's folder (see the module docstring)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock: Any = None

    # ------------------------------------------------------------------ paths
    @property
    def last(self) -> Path:
        return self.path / LAST

    @property
    def best(self) -> Path:
        return self.path / BEST

    @property
    def metrics(self) -> Path:
        return self.path / METRICS

    @property
    def fingerprint_path(self) -> Path:
        return self.path / FINGERPRINT

    def holds_run(self) -> bool:
        """Whether the folder already holds (part of) a run."""
        return any((self.path / name).exists() for name in RUN_FILES)

    # ------------------------------------------------------------------ the lock
    def acquire(self) -> None:
        """Take the folder's lock (fail at once if another process holds it)."""
        from filelock import FileLock, Timeout

        if self.path.exists() and not self.path.is_dir():
            raise RunFolderError(f"run folder {self.path} is a file, not a folder")
        self.path.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.path / LOCK), timeout=0)
        try:
            lock.acquire()
        except Timeout:
            owner = self._owner()
            raise RunFolderBusy(
                f"run folder {self.path} is in use by another process"
                + (f" (pid {owner.get('pid')} on {owner.get('host')}, since {owner.get('since')})" if owner else "")
                + "; wait for it to finish or use another folder"
            ) from None
        self._lock = lock
        atomic_write_text(self.path / OWNER, json.dumps({
            "pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%d %H:%M:%S"),
        }))

    def release(self) -> None:
        """Release the lock (idempotent)."""
        if self._lock is not None:
            try:
                (self.path / OWNER).unlink(missing_ok=True)
            finally:
                self._lock.release()
                self._lock = None

    def _owner(self) -> dict[str, Any]:
        try:
            data = json.loads((self.path / OWNER).read_text())
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def __enter__(self) -> RunFolder:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    # ------------------------------------------------------------------ start or resume
    def prepare(
        self,
        fingerprint: dict[str, Any],
        *,
        resume: bool,
        overwrite: bool,
        allow_changes: Sequence[str] = (),
    ) -> dict[str, Any] | None:
        """Decide fresh start or resume; return the state to resume from (``None``: start fresh).

        :raises RunFolderError: the folder holds a run and neither ``resume`` nor ``overwrite``;
            ``last.pt`` is not a file; the saved fingerprint is unreadable.
        :raises RunMismatchError: ``resume`` and the saved run differs from this one.
        """
        unknown = sorted(set(allow_changes) - set(CHANGEABLE_FIELDS))
        if unknown:
            raise ValueError(f"allow_changes: {unknown} cannot change on resume; allowed: {', '.join(CHANGEABLE_FIELDS)}")
        for name in RUN_FILES:
            target = self.path / name
            if target.exists() and not target.is_file():
                raise RunFolderError(f"run folder {self.path}: {name} is a {'folder' if target.is_dir() else 'special file'}, expected a file")
        if overwrite and self.holds_run():
            logger.warning("overwrite: discarding the run in %s", self.path)
            for name in RUN_FILES:
                (self.path / name).unlink(missing_ok=True)
        elif self.holds_run() and not resume:
            raise RunFolderError(
                f"run folder {self.path} already holds a run ({', '.join(n for n in RUN_FILES if (self.path / n).exists())}); "
                "resume it (resume=True, --resume) or discard it (overwrite=True, --overwrite)"
            )
        state: dict[str, Any] | None = None
        if resume and self.last.is_file():
            state = load_checkpoint(self.last)
            saved = state.get("fingerprint") if isinstance(state.get("fingerprint"), dict) else self._saved_fingerprint()
            if saved is None:
                raise RunFolderError(f"run folder {self.path}: {LAST} has no fingerprint (written by an older art-ext?); "
                                     "start afresh with overwrite=True")
            self.check_same_run(saved, fingerprint, allow_changes)
        elif resume:
            logger.info("resume: no checkpoint at %s, starting fresh", self.last)
        if state is None:
            self.write_fingerprint(fingerprint)
        return state

    def _saved_fingerprint(self) -> dict[str, Any] | None:
        if not self.fingerprint_path.is_file():
            return None
        try:
            data = json.loads(self.fingerprint_path.read_text())
        except (OSError, ValueError) as error:
            raise RunFolderError(f"{self.fingerprint_path}: not readable JSON ({error})") from None
        return data if isinstance(data, dict) else None

    def check_same_run(self, saved: dict[str, Any], current: dict[str, Any], allow_changes: Iterable[str] = ()) -> None:
        """Raise :class:`RunMismatchError` unless ``current`` equals ``saved`` outside ``allow_changes``."""
        allowed = set(allow_changes)
        differing = [(k, a, b) for k, a, b in fingerprint_differences(saved, current) if _field_group(k) not in allowed]
        if differing:
            shown = "; ".join(f"{k}: saved {a!r}, now {b!r}" for k, a, b in differing[:12])
            more = f" (and {len(differing) - 12} more)" if len(differing) > 12 else ""
            changeable = sorted({_field_group(k) for k, _, _ in differing} & set(CHANGEABLE_FIELDS))
            hint = f"; to continue anyway allow {', '.join(changeable)} (allow_changes / --allow-change)" if changeable else ""
            raise RunMismatchError(f"resume refused: run folder {self.path} holds a different run: {shown}{more}{hint}")

    def write_fingerprint(self, fingerprint: dict[str, Any]) -> None:
        atomic_write_text(self.fingerprint_path, json.dumps(fingerprint, indent=2, sort_keys=True, default=str) + "\n")

    # ------------------------------------------------------------------ checkpoints and the log
    def save_last(self, state: dict[str, Any]) -> Path:
        return atomic_save(state, self.last)

    def save_best(self, state: dict[str, Any]) -> Path:
        return atomic_save(state, self.best)

    def load_best(self, map_location: Any = "cpu") -> dict[str, Any]:
        return load_checkpoint(self.best, map_location=map_location)


def check_output_options(out: Path, checkpoint_dir: Path, resume: bool, overwrite: bool) -> None:
    """The run-folder options of ``art-ext train`` (image and text runners) on their own, before
    the folder is locked."""
    if resume and overwrite:
        raise ValueError("--resume and --overwrite exclude each other")
    if checkpoint_dir.resolve() == out.resolve():
        raise ValueError(
            f"--checkpoint-dir {checkpoint_dir} is the run folder --out itself; choose a sub-folder "
            "(default OUT/checkpoints) or another folder"
        )


def check_output_folder(out: Path, resume: bool, overwrite: bool) -> None:
    """Refuse an ``--out`` that holds files unless resuming or overwriting. Nothing is removed here:
    :func:`discard_outputs` runs once every option of the new run has been validated."""
    held = sorted(p.name for p in out.iterdir() if p.name not in (LOCK, OWNER)) if out.is_dir() else []
    if held and not (resume or overwrite):
        shown = ", ".join(held[:5]) + (", ..." if len(held) > 5 else "")
        raise RunFolderError(
            f"--out {out} is not empty ({shown}): pass --resume to continue its run, --overwrite to discard it, "
            "or choose another folder"
        )


def discard_outputs(out: Path, names: Iterable[str]) -> None:
    """``--overwrite``: remove the previous run's outputs ``names`` (files or folders) from ``out``;
    the trainer discards its own checkpoints when it starts."""
    for name in names:
        target = out / name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        else:
            target.unlink(missing_ok=True)


def check_metrics_target(path: Path, folder: RunFolder | None, *, resume: bool, overwrite: bool) -> None:
    """A ``metrics_path`` that the run may (re)write from its start.

    The run folder's own log follows the folder's rules; a log elsewhere that already holds
    lines belongs to another run until ``resume`` (it is this run's) or ``overwrite`` says so.

    :raises RunFolderError: the path is a folder, or an existing log the run would truncate.
    """
    if path.exists() and not path.is_file():
        raise RunFolderError(f"metrics_path {path}: is a folder or special file, expected a file")
    inside = folder is not None and path.resolve().parent == folder.path.resolve()
    if inside or resume or overwrite or not path.is_file() or path.stat().st_size == 0:
        return
    raise RunFolderError(
        f"metrics_path {path} already holds a log ({path.stat().st_size} bytes) outside the run folder: "
        "resume its run (resume=True), discard it (overwrite=True) or choose another file"
    )


def write_metrics(path: Path, records: Iterable[dict[str, Any]]) -> None:
    """(Re)write a JSON-lines log from records (atomic), so a resumed run's log has no duplicates."""
    atomic_write_text(path, "".join(json.dumps(_json_safe(r)) + "\n" for r in records))


def append_metrics(path: Path, record: dict[str, Any]) -> None:
    """Append one record to a JSON-lines log (non-finite floats become null)."""
    with open(path, "a") as handle:
        handle.write(json.dumps(_json_safe(record)) + "\n")
        handle.flush()


def _json_safe(record: dict[str, Any]) -> dict[str, Any]:
    import math

    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}


# --------------------------------------------------------------------------- the fingerprint

#: attributes that steer how a run is carried out, not what it computes (not in the fingerprint)
RUNTIME_ATTRIBUTES = frozenset({
    "nb_epochs", "verbose", "log_every", "checkpoint_dir", "checkpoint_every", "resume", "overwrite",
    "allow_changes", "metrics_path", "handle_signals", "distributed", "device_request", "restore_best",
    "precision", "channels_last_request", "compile", "seed", "epoch", "step_in_epoch", "global_step",
    "data_seed", "history", "best_value", "best_epoch", "best_metric", "input_shape", "nb_classes",
    "clip_values", "step_hooks", "steps_per_epoch",
})


def _simple(value: Any) -> Any:
    """``value`` as JSON-able data when it is a plain setting (number, string, flag, tuple of
    those), else ``None`` (networks, tensors, callables are not settings)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return str(value)  # a str subclass (torch's TorchVersion) would be pickled as a class
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, (tuple, list)) and all(v is None or isinstance(v, (bool, str, int, float)) for v in value):
        return list(value)
    return _NOT_SIMPLE


_NOT_SIMPLE = object()


def model_identity(module: nn.Module) -> dict[str, Any]:
    """Architecture of ``module``: class, number of parameters, hash of names and shapes."""
    digest = hashlib.sha256()
    total = 0
    for name, tensor in module.state_dict().items():
        digest.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype};".encode())
        total += tensor.numel()
    return {"class": f"{type(module).__module__}.{type(module).__qualname__}", "numel": total,
            "shapes_sha256": digest.hexdigest()[:16]}


def data_identity(source: BatchSource) -> dict[str, Any]:
    """What data a run trains on: its kind, size and (for arrays) a hash of the bytes."""
    if isinstance(source, TensorSource):
        digest = hashlib.sha256()
        for tensor in source.tensors:
            digest.update(str((tuple(tensor.shape), str(tensor.dtype))).encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        return {"kind": "arrays", "n": source.n, "batch_size": source.batch_size, "sha256": digest.hexdigest()[:16]}
    if isinstance(source, LoaderSource):
        dataset = getattr(source.loader, "dataset", None)
        return {"kind": "DataLoader", "n": source.num_examples, "batches": len(source),
                "dataset": type(dataset).__name__ if dataset is not None else type(source.loader).__name__}
    if isinstance(source, GeneratorSource):
        return {"kind": "DataGenerator", "n": source.num_examples, "batches": len(source),
                "generator": type(source.generator).__name__}
    return {"kind": type(source).__name__, "n": source.num_examples, "batches": len(source)}


def _versions() -> dict[str, str]:
    import importlib.metadata

    import art_ext

    found = {"art-ext": str(art_ext.__version__), "torch": str(torch.__version__)}
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):
        found["adversarial-robustness-toolbox"] = importlib.metadata.version("adversarial-robustness-toolbox")
    return found


def run_fingerprint(trainer: Any, source: Any, validation: Any = None) -> dict[str, Any]:
    """What defines this run: trainer and settings, model, optimizer, data (training and
    validation: ``best.pt`` is chosen on the validation figures), seed, versions.

    Settings are the trainer's public attributes that hold plain values (numbers, strings,
    flags), minus those that only steer how the run is carried out (:data:`RUNTIME_ATTRIBUTES`).
    """
    params = {}
    for name, value in sorted(vars(trainer).items()):
        if name.startswith("_") or name in RUNTIME_ATTRIBUTES:
            continue
        simple = _simple(value)
        if simple is not _NOT_SIMPLE:
            params[name] = simple
    optimizer: dict[str, Any] = {}
    if "optimizer" in trainer.state.optimizers:
        group = trainer.optimizer.param_groups[0]
        # the lr the run was configured with, not where a schedule has moved it by now
        optimizer = {"class": type(trainer.optimizer).__name__, "lr": float(group.get("initial_lr", group["lr"]))}
        optimizer.update({k: _simple(v) for k, v in sorted(group.items())
                          if k not in ("params", "lr", "initial_lr") and _simple(v) is not _NOT_SIMPLE})
    estimator = trainer._classifier
    return {
        "trainer": f"{type(trainer).__module__}.{type(trainer).__qualname__}",
        "params": params,
        "model": {name: model_identity(m) for name, m in trainer.state.modules.items()},
        "estimator": {
            "input_shape": _simple(tuple(getattr(estimator, "input_shape", ()) or ())),
            "nb_classes": _simple(getattr(estimator, "nb_classes", None)),
            "clip_values": None if getattr(estimator, "clip_values", None) is None
            else np.asarray(estimator.clip_values, dtype=float).round(8).tolist(),
        },
        "optimizer": optimizer,
        "schedulers": {name: type(s).__name__ for name, (s, _) in trainer.state.schedulers.items()},
        "data": data_identity(source),
        "validation": None if validation is None else data_identity(validation),
        "seed": trainer.seed,
        "precision": trainer.policy.precision if trainer.policy is not None else trainer.precision,
        "device": trainer.device.type,
        "world_size": trainer.dist.world_size,
        "versions": _versions(),
    }
