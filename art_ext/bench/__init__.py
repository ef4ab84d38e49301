"""The benchmark harness behind ``art-ext bench``.

Public entry points (imported lazily, nothing heavy at import time)::

    from art_ext.bench import BenchConfig, run
    results = run(BenchConfig(suite="attacks", attacks=["art.*"], out="bench-out"))

``run`` returns the results dict that ``results.json`` holds and writes every output.
"""

from __future__ import annotations

from typing import Any

from art_ext.bench.config import BenchConfig

__all__ = ["BenchConfig", "run"]


def run(config: BenchConfig, **kwargs: Any) -> dict[str, Any]:
    """Run a benchmark suite; see :func:`art_ext.bench.suite.run`."""
    from art_ext.bench.suite import run as _run

    return _run(config, **kwargs)
