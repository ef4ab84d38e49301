"""AdvGAN files: what :meth:`AdvGAN.save` records and how :meth:`AdvGAN.load` reads it back.

A file is safetensors: the generator's tensors plus string metadata (format, version, input shape,
classes, eps, norm, targeted, mode, generator architecture, clip values). The metadata is data:
:func:`read_generator_file` checks every field's type and range and the architecture it names
against the stored tensors before anything is built from it; every problem is one ``ValueError``
naming the path.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from art_ext_plugins.gan.networks import MODES, AdvGANGenerator

from art_ext import checks

__all__ = ["FORMAT_VERSION", "MAX_RESIDUAL", "MAX_WIDTH", "generator_metadata", "read_generator_file"]

FORMAT_VERSION = "1"


def generator_metadata(attack: Any) -> dict[str, str]:
    """The configuration an AdvGAN file records beside its generator's weights (safetensors metadata)."""
    generator = attack.generator
    arch: dict[str, Any] = {"custom": attack._custom_generator}
    if isinstance(generator, AdvGANGenerator) and not attack._custom_generator:
        arch.update(width=generator.width, n_residual=generator.n_residual)
    return {
        "format": "art_ext.advgan",
        "version": FORMAT_VERSION,
        "input_shape": json.dumps(list(attack.input_shape)),
        "nb_classes": str(attack.nb_classes),
        "eps": repr(float(attack.trained_eps if attack.trained_eps is not None else attack.eps)),
        "norm": "inf" if math.isinf(attack.norm_value) else "2",
        "targeted": json.dumps(attack.targeted),
        "mode": attack.mode,
        "generator": json.dumps(arch),
        "clip_values": json.dumps(
            None if attack.estimator.clip_values is None else np.asarray(attack.estimator.clip_values, dtype=float).tolist()
        ),
    }


_METADATA_KEYS = ("format", "version", "input_shape", "nb_classes", "eps", "norm", "targeted", "mode", "generator",
                  "clip_values")


#: the largest stored generator art-ext builds from a file's metadata; the reference MNIST generator
#: has width 8 and 4 residual blocks
MAX_WIDTH, MAX_RESIDUAL = 1024, 64


def read_generator_file(path: Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Checked metadata and tensors of an AdvGAN file, with one-line errors naming the path.

    The metadata is data: nothing is built from it until every field has its type and range, and
    the architecture it names agrees with the tensors stored beside it."""
    from safetensors import SafetensorError, safe_open
    from safetensors.torch import load_file

    if not path.exists():
        raise FileNotFoundError(f"path: no AdvGAN file at {path}")
    if not path.is_file():
        raise ValueError(f"path: {path} is a folder, expected an AdvGAN .safetensors file")
    try:
        with safe_open(str(path), framework="pt") as handle:
            raw = handle.metadata() or {}
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as error:
        raise ValueError(f"path: {path} is not a readable safetensors file ({checks.first_line(error)})") from None
    if raw.get("format") != "art_ext.advgan":
        raise ValueError(f"path: {path} is not an art-ext AdvGAN file (no 'format: art_ext.advgan' metadata)")
    missing = [k for k in _METADATA_KEYS if k not in raw]
    if missing:
        raise ValueError(f"path: {path} lacks AdvGAN metadata {missing} (written by another tool?)")
    try:
        meta = _parsed_metadata(raw)
        _check_architecture(meta["generator"], state)
    except (ValueError, TypeError, KeyError) as error:
        raise ValueError(f"path: {path} has malformed AdvGAN metadata ({checks.first_line(error)})") from None
    return meta, state


def _parsed_metadata(raw: dict[str, str]) -> dict[str, Any]:
    shape = json.loads(raw["input_shape"])
    if not isinstance(shape, list) or len(shape) != 3 or not all(type(v) is int and v > 0 for v in shape):
        raise ValueError(f"input_shape must be [C, H, W] of positive integers, got {raw['input_shape']!r}")
    clip = json.loads(raw["clip_values"])
    if clip is not None:
        checks.clip_bounds(clip, name="clip_values")
    targeted = json.loads(raw["targeted"])
    arch = json.loads(raw["generator"])
    if not isinstance(arch, dict) or not isinstance(arch.get("custom"), bool):
        raise ValueError(f"generator must be an object with a boolean 'custom', got {raw['generator']!r}")
    if not arch["custom"]:
        checks.integer(arch.get("width"), "generator width", minimum=1, maximum=MAX_WIDTH)
        checks.integer(arch.get("n_residual"), "generator n_residual", minimum=0, maximum=MAX_RESIDUAL)
    return {
        "input_shape": tuple(shape),
        "nb_classes": checks.integer(int(raw["nb_classes"]), "nb_classes", minimum=2),
        "eps": checks.positive(float(raw["eps"]), "eps"),
        "norm": checks.parse_norm(raw["norm"]),
        "targeted": checks.boolean(targeted, "targeted"),
        "mode": checks.choice(raw["mode"], "mode", MODES),
        "generator": arch,
        "clip_values": clip,
    }


def _check_architecture(arch: dict[str, Any], state: dict[str, torch.Tensor]) -> None:
    """The built-in generator's width and residual blocks as the stored tensors have them."""
    if arch["custom"]:
        return
    first = state.get("net.0.weight")
    if first is None or first.ndim != 4 or int(first.shape[0]) != arch["width"]:
        stored = None if first is None else tuple(first.shape)
        raise ValueError(f"generator width {arch['width']} does not match the stored first layer {stored}")
    blocks = {key.split(".body.")[0] for key in state if ".body." in key}
    if len(blocks) != arch["n_residual"]:
        raise ValueError(f"generator n_residual {arch['n_residual']} does not match the {len(blocks)} stored blocks")
