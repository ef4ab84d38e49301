"""The distributions: a wheel with every package and the licence and nothing else; an sdist that
is a complete source tree whose own tests run from the unpacked archive."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BUILD = "import sys; from setuptools import build_meta as b; print(getattr(b, sys.argv[1])(sys.argv[2]))"


def _build(kind: str, out: Path) -> Path:
    result = subprocess.run([sys.executable, "-c", BUILD, kind, str(out)], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return out / result.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def sdist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build("build_sdist", tmp_path_factory.mktemp("sdist"))


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build("build_wheel", tmp_path_factory.mktemp("wheel"))


def _source_files(folder: str, suffix: str = "") -> set[str]:
    return {str(p.relative_to(ROOT)) for p in (ROOT / folder).rglob(f"*{suffix}")
            if p.is_file() and "__pycache__" not in p.parts and "build" not in p.parts
            and not any(part.endswith(".egg-info") for part in p.parts)}


def test_wheel_holds_every_package_and_the_licence(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for init in sorted(ROOT.glob("art_ext/**/__init__.py")):
        assert str(init.relative_to(ROOT)) in names, init
    for init in sorted(ROOT.glob("plugins/**/__init__.py")):
        assert "art_ext_plugins/" + str(init.relative_to(ROOT / "plugins")) in names, init
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert not any(n.startswith(("tests/", "plugins/", "benchmarks/")) for n in names)
    metadata = next(zipfile.ZipFile(wheel).read(n) for n in names if n.endswith(".dist-info/METADATA")).decode()
    assert "License-Expression: MIT" in metadata and "License-File: LICENSE" in metadata


def test_sdist_is_a_complete_source_tree(sdist: Path) -> None:
    with tarfile.open(sdist) as archive:
        top = archive.getnames()[0].split("/")[0]
        names = {n.split("/", 1)[1] for n in archive.getnames() if "/" in n}
    for required in ("LICENSE", "README.md", "tox.ini", "constraints/torch.txt", "constraints/bench.txt",
                     "tests/conftest.py", "tests/bench/conftest.py", "docs/cli.md", "docs/bench.md",
                     "benchmarks/results/default/results.json", ".ci/run"):
        assert required in names, required
    for folder in ("tests", "docs", "art_ext", "plugins"):
        missing = _source_files(folder) - names
        missing = {m for m in missing if not m.endswith((".pyc", ".pt", ".safetensors", ".log"))}
        assert not missing, f"{folder}: not in the sdist: {sorted(missing)[:10]}"
    assert not [n for n in names if "__pycache__" in n or n.endswith((".pyc", ".pt"))]
    assert not [n for n in names if ".egg-info" in n and not n.startswith("art_ext.egg-info")]
    assert top.startswith("art_ext-")


def test_tests_run_from_the_unpacked_sdist(sdist: Path, tmp_path: Path) -> None:
    with tarfile.open(sdist) as archive:
        if hasattr(tarfile, "data_filter"):  # Python >= 3.10.12 / 3.11.4
            archive.extractall(tmp_path, filter="data")
        else:  # pragma: no cover - older patch releases
            archive.extractall(tmp_path)  # our own archive
    tree = next(tmp_path.iterdir())
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_registry.py",
                             "tests/test_testing_plugin.py"], cwd=tree, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "error" not in result.stdout.lower()
