"""Helpers of the benchmark tests (a module with a unique name, imported by conftest and tests)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from art_ext.bench.config import BenchConfig
from art_ext.bench.setup import QuantizeInput

REDUCED_ATTACKS = ["art.fgsm", "art.pgd", "art.square", "foolbox.cw_l2"]


def reduced_config(out: Path, cache: Path, **overrides: Any) -> BenchConfig:
    """A few attacks, a 2-point grid, 40 examples: seconds, not minutes."""
    values: dict[str, Any] = dict(
        suite="attacks", dataset="digits", attacks=REDUCED_ATTACKS, eps=[0.1, 0.2], eps_l2=[1.0, 2.0],
        n_test=40, n_check=40, epochs=5, out=str(out), cache_dir=str(cache), threads=1,
        params={"art.square": {"max_iter": 100}, "foolbox.cw_l2": {"steps": 50, "binary_search_steps": 3}},
    )
    values.update(overrides)
    return BenchConfig(**values)


def masked(model: nn.Module) -> nn.Module:
    """Input quantisation (zero gradient) in front of the trained model."""
    return nn.Sequential(QuantizeInput(16), model)
