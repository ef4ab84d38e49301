"""`bench --check FOLDER` compares with the recording this CPU can reproduce (bf16-native or not)."""

from __future__ import annotations

import json

import pytest

from art_ext.bench import check


def _record(folder, native: bool) -> None:
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps({
        "config": {"suite": "default"}, "environment": {"hardware": {"cpu_bf16_native": native}}}))


@pytest.mark.parametrize("native", [True, False])
def test_the_recording_of_this_kind_of_cpu_is_chosen(tmp_path, monkeypatch, native):
    _record(tmp_path / "default", True)
    _record(tmp_path / "default-fp32", False)
    monkeypatch.setattr(check, "cpu_bf16_native", lambda: native)
    chosen = check.baseline_for_machine(tmp_path / "default")
    assert chosen == tmp_path / ("default" if native else "default-fp32") / "results.json"
    assert check.baseline_for_machine(tmp_path / "default" / "results.json") == tmp_path / "default" / "results.json"


def test_without_a_matching_recording_the_folder_s_own_is_used(tmp_path, monkeypatch):
    _record(tmp_path / "default", True)
    monkeypatch.setattr(check, "cpu_bf16_native", lambda: False)
    assert check.baseline_for_machine(tmp_path / "default") == tmp_path / "default" / "results.json"
