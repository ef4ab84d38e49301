"""Regression tests of issue 22 (bad input, round three): each failed on main before its fix.

Security and data loss first (a results file that runs code, a refused run that deleted the
previous one, files truncated or lost), then silent wrong answers, then unclear errors. Runs
in-process on the bundled digits; every command is refused before it trains anything."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from art_ext import cli

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ART_EXT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("ART_EXT_BLOCK_PLUGINS", "clash,raising")


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_error(capsys, *argv: str) -> str:
    code, _, err = run_cli(capsys, *argv)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("art-ext: error: "), err
    return lines[0]


# --------------------------------------------------------------------------- a results file is data


def _results_file(folder: Path, **config: object) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "results.json"
    path.write_text(json.dumps({"config": {"suite": "default", **config}, "attacks": []}))
    return path


def test_bench_check_never_imports_the_factory_a_results_file_names(tmp_path, capsys, monkeypatch):
    marker = tmp_path / "ran"
    helper = tmp_path / "shared" / "evil_helper_r3.py"
    helper.parent.mkdir()
    helper.write_text(f"open({str(marker)!r}, 'w').write('ran')\ndef factory():\n    return None\n")
    monkeypatch.syspath_prepend(str(helper.parent))
    results = _results_file(helper.parent, model="evil_helper_r3:factory")
    line = one_error(capsys, "bench", "--check", str(results), "--out", str(tmp_path / "rerun"))
    assert "--model 'evil_helper_r3:factory'" in line and "pass --model yourself" in line
    assert not marker.exists() and "evil_helper_r3" not in sys.modules
    # stdlib callables are out of reach too
    results = _results_file(tmp_path / "stdlib", model="builtins:exit")
    assert "pass --model yourself" in one_error(capsys, "bench", "--check", str(results))


def test_bench_check_writes_where_the_command_line_says_not_where_the_file_says(tmp_path):
    from art_ext.bench.check import config_for_rerun

    results = _results_file(tmp_path / "shared", cache_dir="/etc/art-ext-cache", out="/etc/out",
                            state_dict=None)
    config = config_for_rerun(json.loads(results.read_text()), results)
    assert config.cache_dir is None and config.out == str(results.parent / "check-rerun")
    config = config_for_rerun(json.loads(results.read_text()), results, cache_dir=str(tmp_path / "c"))
    assert config.cache_dir == str(tmp_path / "c")
    with pytest.raises(ValueError, match="--state-dict 'w.pt'"):
        config_for_rerun({"config": {"model": "m:f", "state_dict": "w.pt"}}, results, model="m:f")


# --------------------------------------------------------------------------- train refuses before it deletes


def _previous_run(out: Path) -> None:
    out.mkdir(parents=True)
    (out / "model.pt").write_bytes(b"previous weights")
    (out / "results.json").write_text("{}")


@pytest.mark.parametrize("param", ["eps_step=-1", "lr=abc", "eval_steps=0", "eval_restarts=-2",
                                   "validation_split=1.5", "eval_autoattack=full", "nb_epochs=3"])
def test_overwrite_keeps_the_previous_run_when_an_option_is_refused(tmp_path, capsys, param):
    out = tmp_path / "run"
    _previous_run(out)
    line = one_error(capsys, "train", "--trainer", "pgd", "--init", "random", "--out", str(out), "--overwrite",
                     "--n-train", "50", "--param", param)
    assert param.split("=")[0] in line
    assert (out / "model.pt").read_bytes() == b"previous weights" and (out / "results.json").is_file()


def test_flag_params_are_refused_so_the_report_matches_the_run(tmp_path, capsys):
    line = one_error(capsys, "train", "--trainer", "pgd", "--out", str(tmp_path / "r"),
                     "--param", "nb_epochs=3", "--param", "eps=0.5")
    assert "--param eps (use --eps)" in line and "--param nb_epochs (use --epochs)" in line


def test_train_refuses_targeted_and_a_checkpoint_dir_equal_to_out(tmp_path, capsys):
    line = one_error(capsys, "train", "--trainer", "pgd", "--out", str(tmp_path / "r"), "--targeted")
    assert "does not use --targeted" in line
    out = tmp_path / "same"
    line = one_error(capsys, "train", "--trainer", "pgd", "--out", str(out), "--checkpoint-dir", str(out))
    assert "--checkpoint-dir" in line and "is the run folder --out itself" in line


@pytest.mark.parametrize("seed", ["-1", str(2**32)])
def test_train_refuses_a_seed_out_of_range(tmp_path, capsys, seed):
    line = one_error(capsys, "train", "--trainer", "pgd", "--out", str(tmp_path / "r"), "--seed", seed)
    assert "--seed must be" in line and seed in line
