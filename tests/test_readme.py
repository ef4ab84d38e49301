"""The README as a new user reads it: the plugin example installs and runs as written, the usage
snippets run, and the sections that follow the package-index convention link nothing relatively."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()

#: sections that name source files by path and link only to https pages or headings (the rest of
#: the README still links some files relatively: listed in the report to the maintainers)
CONVENTION_SECTIONS = ("Set-up: the two commands", "Usage with ART", "Usage with Foolbox", "The command line",
                       "Writing a third-party plugin", "Data", "Development")


def section(title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", README, flags=re.S | re.M)
    assert match, f"README has no section {title!r}"
    return match.group(1)


def code_blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)


def slug(heading: str) -> str:
    """GitHub's (and the package index's) anchor of a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "ART_EXT_CACHE": str(tmp_path_factory.mktemp("readme-cache")),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}


def test_plugin_example_installs_and_runs_verbatim(tmp_path: Path, env: dict[str, str]) -> None:
    text = section("Writing a third-party plugin")
    package = tmp_path / "my-plugin"
    for block in code_blocks(text, "python") + code_blocks(text, "toml"):
        first = block.partition("\n")[0]
        assert first.startswith("# "), first
        target = package / first[2:].strip()
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(block)
    assert {p.name for p in package.rglob("*") if p.is_file()} == {"__init__.py", "attack.py", "pyproject.toml"}
    commands = [line for line in code_blocks(text, "bash")[0].splitlines() if line.strip()]
    assert commands[0] == "pip install ./my-plugin"
    site = tmp_path / "site"
    # the README's `pip install ./my-plugin`, into a folder of its own so the test leaves the env alone
    install = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation",
                              "--no-index", "--target", str(site), "./my-plugin"], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr[-2000:]
    env = {**env, "PYTHONPATH": f"{site}{os.pathsep}{env.get('PYTHONPATH', '')}"}
    outputs = []
    for command in commands[1:]:
        result = subprocess.run(shlex.split(command), cwd=tmp_path, env=env, capture_output=True, text=True,
                                timeout=600)
        assert result.returncode == 0, f"{command}: {result.stderr[-2000:]}"
        outputs.append(result.stdout)
    plugins, attack, bench = outputs
    assert "my-noise  [loaded]  my-plugin 0.1.0" in plugins and "attacks: my-noise" in plugins
    assert "art-ext attack my-noise" in attack and "  eps       0.1" in attack and "  norm      inf" in attack
    results = json.loads((tmp_path / "art-ext-bench" / "results.json").read_text())
    rows = results["attacks"]
    assert {r["attack"] for r in rows} == {"my-noise"} and len(rows) == 5  # the Linf grid
    assert all(r["norm"] == "inf" and r["error"] is None and not r["flags"] for r in rows)
    assert all(c["passed"] for c in results["checks"]), results["checks"]
    assert "my-noise" in bench and "FAILED" not in bench


def test_usage_snippets_run() -> None:
    code = "\n".join(code_blocks(section("Usage with ART"), "python") + code_blocks(section("Usage with Foolbox"), "python"))
    namespace: dict[str, object] = {}
    exec(compile(code, "README.md", "exec"), namespace)  # the README's own snippets
    assert namespace["x_adv"].shape == namespace["data"].x_test.shape  # type: ignore[attr-defined]
    assert namespace["clipped"][2].shape == namespace["x_adv"].shape  # type: ignore[index,attr-defined]


def test_setup_commands_activate_the_venv_before_tox() -> None:
    commands = code_blocks(section("Set-up: the two commands"), "bash")
    assert commands[0].startswith("python -m venv .venv && . .venv/bin/activate && pip install torch==2.13.0")
    assert commands[1].startswith(". .venv/bin/activate && pip install torch==2.13.0")
    assert "tox -e py311,lint,type,thirdparty" in commands[1]
    assert "4.6 GB" in section("Set-up: the two commands")


def test_convention_sections_link_absolutely_and_name_existing_files() -> None:
    anchors = {slug(h) for h in re.findall(r"^#+ (.+)$", README, flags=re.M)}
    for title in CONVENTION_SECTIONS:
        text = section(title)
        prose = re.sub(r"```.*?```", "", text, flags=re.S)
        for target in re.findall(r"\]\(([^)]+)\)", prose):
            if target.startswith("#"):
                assert target[1:] in anchors, f"{title}: link to a missing heading {target}"
            else:
                assert target.startswith("https://"), f"{title}: relative link {target} (dead on the package index)"
        for path in re.findall(r"`((?:docs|tests|benchmarks|constraints|art_ext|plugins|\.ci)/[^`\s]*)`", prose):
            assert (ROOT / path).exists(), f"{title}: names {path}, which does not exist"
