"""Fixtures of the benchmark tests: one reduced suite on the normal model and one on a
deliberately gradient-masked copy, shared by the tests (session scope, tmp model cache)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from bench_helpers import masked, reduced_config


@pytest.fixture(scope="session")
def bench_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bench-cache")


@pytest.fixture(scope="session")
def normal_run(tmp_path_factory: pytest.TempPathFactory, bench_cache: Path) -> tuple[dict[str, Any], Path]:
    from art_ext.bench.suite import run

    out = tmp_path_factory.mktemp("bench-normal")
    return run(reduced_config(out, bench_cache), progress=False), out


@pytest.fixture(scope="session")
def masked_run(tmp_path_factory: pytest.TempPathFactory, bench_cache: Path) -> tuple[dict[str, Any], Path]:
    from art_ext.bench.suite import run

    out = tmp_path_factory.mktemp("bench-masked")
    return run(reduced_config(out, bench_cache), wrap=masked, progress=False), out
