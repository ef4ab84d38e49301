"""Every figure in README.md and docs/*.md is generated from benchmarks/results/ (issue 16)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from benchmark_modules import load_benchmark

ROOT = Path(__file__).resolve().parents[1]


readme = load_benchmark("readme")


def test_regenerate_rewrites_a_block_and_reports_it() -> None:
    text = "intro\n<!-- begin: t -->\nold\n<!-- end: t -->\nvalue <!-- v: n -->1.0<!-- /v --> end\n"
    new, changed, unknown = readme.regenerate(text, {"t": "| a |\n|---|", "n": "2.5"})
    assert new == "intro\n<!-- begin: t -->\n| a |\n|---|\n<!-- end: t -->\nvalue <!-- v: n -->2.5<!-- /v --> end\n"
    assert changed == ["t", "n"] and unknown == []
    again, changed, _ = readme.regenerate(new, {"t": "| a |\n|---|", "n": "2.5"})
    assert again == new and changed == []


def test_a_block_without_a_renderer_is_reported() -> None:
    _, _, unknown = readme.regenerate("<!-- begin: typed-by-hand -->\n97%\n<!-- end: typed-by-hand -->\n", {})
    assert unknown == ["typed-by-hand"]


def test_check_fails_on_a_figure_that_differs(tmp_path: Path) -> None:
    document = tmp_path / "doc.md"
    document.write_text("<!-- begin: bench-default-setup -->\nedited by hand\n<!-- end: bench-default-setup -->\n")
    assert readme.main(["--check", "--files", str(document)]) == 1
    assert "edited by hand" in document.read_text()  # --check writes nothing


def test_stale_results_file_is_a_clear_failure(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = tmp_path / "advgan" / "trainers"
    old.mkdir(parents=True)
    (old / "results.json").write_text(json.dumps({"command": "x", "total_time_s": 1.0, "trainers": {
        "epochs": 1, "n_train": 10, "pgd": {"train_time_s": 1.0, "clean_acc": 0.9}}}))
    document = tmp_path / "doc.md"
    document.write_text("no blocks\n")
    assert readme.main(["--check", "--files", str(document), "--results", str(tmp_path)]) == 1
    assert "predates the benchmark script" in capsys.readouterr().out


def test_the_recorded_documents_match_the_results_files(capsys: pytest.CaptureFixture[str]) -> None:
    status = readme.main(["--check"])
    assert status == 0, capsys.readouterr().out


def test_an_empty_block_is_a_missing_figure() -> None:
    text = "<!-- begin: t -->\n<!-- end: t -->\n"
    new, changed, _ = readme.regenerate(text, {"t": "| a |"})
    assert new == "<!-- begin: t -->\n| a |\n<!-- end: t -->\n" and changed == ["t"]
    assert readme.regenerate(text, {})[2] == ["t"]
