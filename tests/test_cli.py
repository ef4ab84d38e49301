import json
import subprocess
import sys

import pytest

from art_ext.cli import main


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "art_ext.cli", *args], capture_output=True, text=True, timeout=300)


def test_plugins_lists_builtins_with_distribution(capsys):
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "standard  [loaded]  art-ext" in out
    assert "art.fgsm" in out


def test_plugins_json(capsys):
    assert main(["plugins", "--json"]) == 0
    infos = {info["name"]: info for info in json.loads(capsys.readouterr().out)}
    assert infos["standard"]["distribution"] == "art-ext"
    assert "art.pgd" in infos["standard"]["attacks"]


@pytest.mark.parametrize("command", ["plugins", "attack", "train", "bench"])
def test_every_subcommand_has_help(command):
    result = run_cli(command, "--help")
    assert result.returncode == 0
    assert len(result.stdout.splitlines()) > 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["attack"], "the following arguments are required: name"),
        (["attack", "art.fgsm", "--eps", "abc"], "invalid float value"),
        (["attack", "art.fgsm", "--n-test", "0"], "must be a positive integer"),
        (["attack", "art.fgsm", "--param", "novalue"], "KEY=VALUE"),
        (["attack", "no-such-attack"], "unknown attack 'no-such-attack'; available:"),
        (["train"], "required: --trainer"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_arguments_one_line_no_traceback(args, message):
    result = run_cli(*args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("art-ext: error:") and message in lines[0]


def test_attack_runs_and_reports(capsys):
    code = main(["attack", "art.pgd", "--eps", "0.3", "--n-test", "60", "--param", "max_iter=10", "--json"])
    assert code == 0
    results = json.loads(capsys.readouterr().out)
    assert results["examples"] == 60 and results["clean_accuracy"] > 0.9
    assert results["success_rate"] > 0.8
    assert results["max_linf"] <= 0.3 + 1e-6
    assert results["examples_per_second"] > 0


def test_attack_on_text_dataset_is_rejected():
    result = run_cli("attack", "art.fgsm", "--dataset", "mr")
    assert result.returncode == 2 and "works on image data" in result.stderr


def test_bad_attack_parameter_is_one_line(capsys):
    assert main(["attack", "art.fgsm", "--eps", "-1", "--n-test", "5"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "eps" in err[0]


def test_model_path_errors(tmp_path):
    result = run_cli("attack", "art.fgsm", "--model", str(tmp_path / "missing.pt"))
    assert result.returncode == 2 and "missing.pt: file not found" in result.stderr
