"""``art-ext plugins`` and ``art-ext attack``: every option honoured or refused with one line, what
ran and where it went printed, files a user hands over checked, output that ends cleanly.

``art-ext train`` is in ``test_cli_train.py``; ``art-ext bench`` in ``tests/bench``."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import art_ext
from art_ext.cli import main
from art_ext.cli.runners import honours
from art_ext.testing import registered_plugin

#: fixture plugins of the thirdparty tox env that are broken on purpose (tested in test_thirdparty.py)
BROKEN_FIXTURES = "clash,raising"


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cli-cache")


@pytest.fixture(autouse=True)
def _cache(model_cache, monkeypatch):
    monkeypatch.setenv("ART_EXT_CACHE", str(model_cache))
    monkeypatch.setenv("ART_EXT_BLOCK_PLUGINS", BROKEN_FIXTURES)
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)  # main() applies --threads to the whole process


def run_cli(*args, cwd=None):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "art_ext.cli", *args], capture_output=True, text=True,
                          timeout=300, env=env, cwd=cwd)


def run_json(capsys, *args):
    assert main([*args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def error_line(capsys, *args, code=2):
    assert main(list(args)) == code
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("art-ext: error: "), lines
    return lines[0]


# --------------------------------------------------------------------------- plugins


def test_plugins_lists_builtins_and_foolbox_attacks(capsys):
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "standard  [loaded]  art-ext" in out
    for name in ("art.fgsm", "foolbox.linf_pgd", "foolbox.l2_pgd", "foolbox.cw_l2", "foolbox.linf_deepfool"):
        assert name in out


def test_plugins_json(capsys):
    assert main(["plugins", "--json"]) == 0
    infos = {info["name"]: info for info in json.loads(capsys.readouterr().out)}
    assert infos["standard"]["distribution"] == "art-ext" and infos["standard"]["errors"] == []
    assert "art.pgd" in infos["standard"]["attacks"] and "foolbox.cw_l2" in infos["standard"]["attacks"]


def test_registry_plugins_attack_and_bench_agree_on_foolbox():
    from art_ext.bench.attacks import available_attacks

    registered = set(art_ext.list_attacks())
    assert {"foolbox.linf_pgd", "foolbox.l2_pgd", "foolbox.cw_l2", "foolbox.linf_deepfool"} <= registered
    assert set(available_attacks()) == registered
    assert all(available_attacks()[n].source == "standard" for n in registered if n.startswith("foolbox."))


def test_broken_pipe_ends_quietly_with_exit_0():
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "art_ext.cli", "plugins"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader goes away before the first line, as `| head -0` would
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0, stderr
    assert "Broken pipe" not in stderr and "error" not in stderr, stderr


# --------------------------------------------------------------------------- help and parsing


@pytest.mark.parametrize("command", ["plugins", "attack", "train", "bench"])
def test_every_subcommand_has_help(command):
    result = run_cli(command, "--help")
    assert result.returncode == 0
    assert len(result.stdout.splitlines()) > 3


def test_help_shows_threads_load_and_init():
    attack = run_cli("attack", "--help").stdout
    assert "--threads" in attack and "--load FILE" in attack and "--out" in attack
    train = " ".join(run_cli("train", "--help").stdout.split())
    assert "--init {clean,random}" in train and "(default)" in train and "--threads" in train
    assert "--allow-change FIELD" in train and "--overwrite" in train


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["attack"], "the following arguments are required: name"),
        (["attack", "art.fgsm", "--eps", "abc"], "--eps: must be a number or a fraction like 8/255, got 'abc'"),
        (["attack", "art.fgsm", "--n-test", "0"], "must be a positive integer"),
        (["attack", "art.fgsm", "--threads", "0"], "must be a positive integer"),
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


# --------------------------------------------------------------------------- attack: runs and reports


@pytest.mark.smoke
def test_attack_runs_and_reports_what_it_ran(capsys):
    result = run_json(capsys, "attack", "art.pgd", "--eps", "0.3", "--n-test", "60", "--param", "max_iter=10")
    assert result["examples"] == 60 and result["clean_accuracy"] > 0.9
    assert result["success_rate"] > 0.8 and result["robust_accuracy"] < 0.2
    assert result["max_linf"] <= 0.3 + 1e-6
    assert result["params"]["eps"] == 0.3 and result["params"]["max_iter"] == 10
    ran = result["ran"]
    assert ran["eps"] == "0.3" and ran["norm"] == "inf" and ran["threads"] == "1" and ran["device"] == "cpu"
    assert "SmallCNN trained 10 epochs on the digits train split" in ran["model"]
    assert "digits test split, first 60 of 360" in ran["data"]
    assert result["threads"] == 1  # the machine rule: one thread for the 8x8 digits model
    assert result["outputs"] == [] and result["command_wall_time_s"] >= result["wall_time_s"] > 0


def test_attack_human_output_says_what_where_and_how_long(tmp_path):
    result = run_cli("attack", "art.fgsm", "--n-test", "20", "--out", str(tmp_path / "o"), "--threads", "2")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for expected in ("art-ext attack art.fgsm", "  eps ", "  norm ", "  model ", "  data ", "  threads   2",
                     f"wrote {tmp_path / 'o' / 'results.json'}", "wall time "):
        assert expected in out, expected
    saved = json.loads((tmp_path / "o" / "results.json").read_text())
    assert saved["threads"] == 2 and saved["examples"] == 20 and saved["attack"] == "art.fgsm"
    assert result.stderr == ""  # no progress bars when stderr is not a terminal, no warnings


def test_minimal_attack_reports_no_eps(capsys):
    result = run_json(capsys, "attack", "art.deepfool", "--n-test", "20", "--batch-size", "7")
    assert result["ran"]["eps"].startswith("none") and result["params"]["batch_size"] == 7


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["art.deepfool", "--eps", "0.1"], "--eps: attack 'art.deepfool' cannot use it: it has no 'eps' parameter"),
        (["art.deepfool", "--norm", "inf"], "--norm: attack 'art.deepfool' cannot use it"),
        (["art.deepfool", "--targeted"], "--targeted: attack 'art.deepfool' cannot use it"),
        (["art.fgsm", "--epochs", "1"], "--epochs: attack 'art.fgsm' cannot use it: it does not learn"),
        (["art.fgsm", "--n-train", "10"], "--n-train: attack 'art.fgsm' does not learn"),
        (["art.fgsm", "--load", "x.safetensors"], "--load: attack 'art.fgsm' cannot load a saved attack"),
        (["art.fgsm", "--eps", "-1"], "eps"),
    ],
)
def test_options_an_attack_cannot_use_are_refused(capsys, args, message):
    assert message in error_line(capsys, "attack", *args, "--n-test", "5")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize("command", [["attack", "art.fgsm"], ["train", "--trainer", "pgd"]])
def test_device_cuda_without_cuda_is_refused(capsys, command):
    assert "--device cuda: CUDA is not available" in error_line(capsys, *command, "--device", "cuda")


def test_advgan_out_saves_the_generator_and_load_reuses_it(capsys, tmp_path):
    from art_ext_plugins.gan.advgan import AdvGAN

    from art_ext.model_io import load_classifier

    out = tmp_path / "advgan-run"
    first = run_json(capsys, "attack", "advgan", "--eps", "0.3", "--epochs", "1", "--n-train", "200",
                     "--n-test", "60", "--out", str(out))
    assert first["params"]["nb_epochs"] == 1 and first["fit_examples"] == 200 and first["fit_seconds"] > 0
    generator = out / "advgan.safetensors"
    assert first["outputs"] == [str(generator), str(out / "results.json")]
    assert json.loads((out / "results.json").read_text())["robust_accuracy"] == first["robust_accuracy"]

    again = run_json(capsys, "attack", "advgan", "--load", str(generator), "--n-test", "60")
    assert again["fit_seconds"] == 0 and again["robust_accuracy"] == first["robust_accuracy"]
    assert "loaded from" in again["ran"]["attack"]

    from art_ext.data import load_digits
    from art_ext.evaluation import robust_mask

    data = load_digits()
    classifier, _ = load_classifier(data, None)  # the same cached model
    attack = AdvGAN.load(generator, classifier)
    x, y = data.x_test[:60], data.y_test[:60]
    robust = robust_mask(y, classifier.predict(x).argmax(1), classifier.predict(attack.generate(x)).argmax(1))
    assert float(np.mean(robust)) == first["robust_accuracy"]
    assert attack.eps == pytest.approx(0.3)
    assert "--norm: not with --load" in error_line(capsys, "attack", "advgan", "--load", str(generator), "--norm", "2")
    assert "--epochs: not with --load" in error_line(capsys, "attack", "advgan", "--load", str(generator), "--epochs", "2")


# --------------------------------------------------------------------------- the runner contract


@honours("dataset", "n_test", exclude={"declared-no-eps": ("n_test",)})
def _declared_runner(args):
    return {"ran": {"attack": args.name}, "examples": args.n_test, "outputs": []}


class DeclaringPlugin:
    @art_ext.hookimpl
    def register_attacks(self, register):
        for name in ("declared", "declared-no-eps"):
            register(name, "art.attacks.evasion:FastGradientMethod", cli=_declared_runner)


def test_runner_declares_the_options_it_honours(art_ext_manager, capsys):
    with registered_plugin(DeclaringPlugin(), "declaring"):
        result = run_json(capsys, "attack", "declared", "--n-test", "3")
        assert result["examples"] == 3
        line = error_line(capsys, "attack", "declared", "--eps", "0.1", "--out", "x")
        assert "attack 'declared' does not use --eps, --out (it takes --dataset, --n-test" in line
        line = error_line(capsys, "attack", "declared-no-eps", "--n-test", "3")
        assert "attack 'declared-no-eps' does not use --n-test (it takes --dataset" in line


# --------------------------------------------------------------------------- files a user hands over


def _mnist_like(folder: Path, corrupt: bool) -> Path:
    import gzip

    folder.mkdir()
    images = folder / "t10k-images-idx3-ubyte.gz"
    if corrupt:
        images.write_bytes(gzip.compress(b"\x00\x00\x08\x03" + b"\x00" * 64)[:-12] + b"garbage-tail")
    else:
        images.write_bytes(b"not gzip at all")
    (folder / "t10k-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x00")
    return folder


def test_model_files_get_one_line_naming_the_path(tmp_path, capsys):
    missing = tmp_path / "missing.pt"
    assert f"--model {missing}: no such file" in error_line(capsys, "attack", "art.fgsm", "--model", str(missing))
    assert f"--model {tmp_path}: is a folder" in error_line(capsys, "attack", "art.fgsm", "--model", str(tmp_path))
    noise = tmp_path / "noise.pt"
    noise.write_bytes(os.urandom(256))
    # the wording is the checkpoint module's (art_ext.core.checkpoint.load_tensor_file); the path leads
    assert error_line(capsys, "attack", "art.fgsm", "--model", str(noise)).startswith(f"art-ext: error: --model {noise}: ")
    pickled = tmp_path / "pickled.pt"
    torch.save({"model": Path("x")}, pickled)
    assert error_line(capsys, "attack", "art.fgsm", "--model", str(pickled)).startswith(f"art-ext: error: --model {pickled}: ")
    wrong = tmp_path / "wrong.pt"
    torch.save(torch.nn.Linear(3, 3).state_dict(), wrong)
    line = error_line(capsys, "attack", "art.fgsm", "--model", str(wrong))
    assert (f"--model {wrong}: the weights fit none of the model zoo's networks (smallcnn, bncnn, cifar_cnn, "
            "preact_resnet18, wrn_28_10) for input shape (1, 8, 8) and 10 classes") in line


def test_model_file_from_a_state_dict_and_a_checkpoint_load(tmp_path, capsys):
    from art_ext.data import load_digits
    from art_ext.models import SmallCNN, train_model

    data = load_digits()
    torch.manual_seed(0)
    model = train_model(SmallCNN((1, 8, 8), 10), data.x_train, data.y_train, epochs=3)
    plain, checkpoint = tmp_path / "plain.pt", tmp_path / "best.pt"
    torch.save(model.state_dict(), plain)
    torch.save({"epoch": 3, "modules": {"model": model.state_dict()}}, checkpoint)
    first = run_json(capsys, "attack", "art.fgsm", "--model", str(plain), "--n-test", "40")
    second = run_json(capsys, "attack", "art.fgsm", "--model", str(checkpoint), "--n-test", "40")
    assert first["clean_accuracy"] == second["clean_accuracy"] > 0.8
    assert second["ran"]["model"] == f"SmallCNN weights from {checkpoint}"


@pytest.mark.parametrize("corrupt", [True, False])
def test_data_files_get_one_line_naming_the_path(tmp_path, capsys, corrupt):
    folder = _mnist_like(tmp_path / "mnist", corrupt)
    line = error_line(capsys, "attack", "art.fgsm", "--dataset", "mnist", "--data-dir", str(folder))
    assert str(folder / "t10k-images-idx3-ubyte.gz") in line


def test_missing_default_data_folder_says_how_to_point_at_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ART_EXT_DATA", str(tmp_path / "nowhere"))
    line = error_line(capsys, "attack", "art.fgsm", "--dataset", "mnist")
    assert f"looked in {tmp_path / 'nowhere' / 'mnist'}" in line and "--data-dir DIR" in line and "ART_EXT_DATA" in line


def test_failed_plugin_is_one_warning_line_per_command(tmp_path):
    """Real entry points: a dist-info on the path, as pip would install it."""
    (tmp_path / "failing_plugin_mod.py").write_text("raise RuntimeError('boom at import')\n")
    info = tmp_path / "failing_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: failing-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[art_ext]\nfailing = failing_plugin_mod\n")
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "OMP_NUM_THREADS": "1"}
    for args in (["plugins"], ["attack", "art.fgsm", "--n-test", "5"]):
        result = subprocess.run([sys.executable, "-m", "art_ext.cli", *args], capture_output=True, text=True,
                                env=env, timeout=300)
        assert result.returncode == 0, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, lines
        assert lines[0].startswith("art-ext: warning: art-ext plugin 'failing' (failing-plugin 0.1) failed and was skipped")
        assert "RuntimeError: boom at import" in lines[0]
    listed = subprocess.run([sys.executable, "-m", "art_ext.cli", "plugins"], capture_output=True, text=True, env=env)
    assert "failing  [failed]  failing-plugin 0.1" in listed.stdout and "error: RuntimeError: boom at import" in listed.stdout
