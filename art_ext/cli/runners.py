"""The runner contract of ``art-ext attack`` / ``art-ext train`` (also for plugin authors; ``docs/cli.md``).

A runner is a callable ``runner(args: argparse.Namespace) -> dict`` registered with
``register(..., cli="module:runner")`` or the default one (:func:`art_ext.cli.attack.run_image_attack`,
:func:`art_ext.cli.train.run_train`). It declares the common options it honours with :func:`honours`;
the CLI rejects every other common option the user gave, with one line, before the runner starts.
``args.explicit`` lists the common options the user set. The returned dict holds:

* ``"ran"``: what ran, for the header the CLI prints (``attack``/``trainer``, ``eps``, ``norm``,
  ``model``, ``data``, ``threads``, ``device``, ...), one short string each;
* ``"outputs"``: the files it wrote;
* metrics (numbers and short strings), printed one per line; everything goes to ``--json``.

The CLI applies ``--threads`` and rejects ``--device cuda`` without CUDA before calling a runner,
and prints the command's wall time.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Callable, Collection, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from art_ext.core.checkpoint import atomic_write_text

logger = logging.getLogger(__name__)

__all__ = [
    "ATTACK_OPTIONS",
    "COMMON_OPTIONS",
    "TRAIN_OPTIONS",
    "describe_params",
    "honours",
    "option_flag",
    "prepare_out",
    "runner_options",
    "write_json",
]

#: options every ``attack``/``train`` runner may honour (argparse ``dest`` names)
COMMON_OPTIONS: tuple[str, ...] = (
    "dataset", "data_dir", "model", "eps", "norm", "targeted", "epochs", "batch_size", "n_train", "n_test",
    "seed", "out",
)
#: options only ``art-ext attack`` has
ATTACK_OPTIONS: tuple[str, ...] = ("load",)
#: options only ``art-ext train`` has
TRAIN_OPTIONS: tuple[str, ...] = ("init", "checkpoint_dir", "resume", "overwrite", "allow_change")

F = TypeVar("F", bound=Callable[..., Any])


def option_flag(dest: str) -> str:
    """``n_test`` -> ``--n-test``."""
    return "--" + dest.replace("_", "-")


def honours(*options: str, exclude: Mapping[str, Iterable[str]] | None = None) -> Callable[[F], F]:
    """Declare the common options a runner honours (argparse ``dest`` names, e.g. ``"n_test"``).

    :param exclude: per registered name, options the runner does not honour for that name
        (e.g. ``{"text-hotflip": ("eps", "norm")}``: HotFlip has no budget).
    """
    known = set(COMMON_OPTIONS) | set(ATTACK_OPTIONS) | set(TRAIN_OPTIONS)
    unknown = sorted(set(options) - known)
    if unknown:
        raise ValueError(f"honours: unknown option(s) {unknown}; known: {sorted(known)}")
    excluded = {name: frozenset(values) for name, values in (exclude or {}).items()}

    def mark(runner: F) -> F:
        runner.cli_options = frozenset(options)  # type: ignore[attr-defined]
        runner.cli_excluded = excluded  # type: ignore[attr-defined]
        return runner

    return mark


def runner_options(runner: Callable[..., Any], name: str) -> Collection[str] | None:
    """The options ``runner`` honours for ``name``; ``None`` when it declares none (all pass)."""
    declared = getattr(runner, "cli_options", None)
    if declared is None:
        return None
    excluded = getattr(runner, "cli_excluded", {}).get(name, frozenset())
    return frozenset(declared) - frozenset(excluded)


def describe_params(attack: Any) -> dict[str, Any]:
    """The attack's plain parameters (numbers, strings, flags) by name, for results files."""
    shown: dict[str, Any] = {}
    for key in getattr(attack, "attack_params", None) or []:
        value = getattr(attack, key, None)
        if isinstance(value, (bool, int, float, str)) or value is None:
            shown[key] = "inf" if isinstance(value, float) and np.isinf(value) else value
    return shown


def prepare_out(out: str | Path, flag: str = "--out") -> Path:
    """The output folder, created and proven writable before any work that would be lost.

    :raises ValueError: naming ``flag`` when the folder is a file or cannot be written.
    """
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{flag} {folder}: is a file, expected a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".art-ext-probe-"):
            pass
    except OSError as error:
        raise ValueError(f"{flag} {folder}: cannot write there ({error.strerror or error})") from None
    return folder


def write_json(path: Path, data: dict[str, Any]) -> Path:
    """``data`` as indented JSON, written atomically."""
    return atomic_write_text(path, json.dumps(data, indent=2, default=str) + "\n")
