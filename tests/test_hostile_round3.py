"""Regression tests of issue 22 (bad input, round three): each failed on main before its fix.

Security and data loss first (a results file that runs code, a refused run that deleted the
previous one, files truncated or lost), then silent wrong answers, then unclear errors. Runs
in-process on the bundled digits; every command is refused before it trains anything."""

from __future__ import annotations

import contextlib
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


# --------------------------------------------------------------------------- files the run would truncate or lose


@pytest.fixture
def fresh_classifier(digits):
    import torch

    from art_ext.models import SmallCNN, make_classifier

    torch.manual_seed(0)
    return make_classifier(SmallCNN(digits.input_shape, digits.nb_classes), digits.input_shape, digits.nb_classes,
                           digits.clip_values)


def test_metrics_path_outside_the_run_folder_is_never_truncated(tmp_path, digits, fresh_classifier):
    import art_ext
    from art_ext.core.run_folder import RunFolderError

    log = tmp_path / "elsewhere" / "log.jsonl"
    log.parent.mkdir()
    log.write_text('{"epoch": 1, "from": "another run"}\n')
    trainer = art_ext.get_trainer("pgd", fresh_classifier, eps=0.1, nb_epochs=1, checkpoint_dir=str(tmp_path / "run"),
                                  metrics_path=str(log), verbose=False)
    with pytest.raises(RunFolderError, match=r"metrics_path .*log\.jsonl already holds a log"):
        trainer.fit(digits.x_train[:64], digits.y_train[:64])
    assert log.read_text() == '{"epoch": 1, "from": "another run"}\n'
    assert not (tmp_path / "run" / "last.pt").exists()
    folder_log = tmp_path / "as-folder"
    folder_log.mkdir()
    trainer = art_ext.get_trainer("pgd", fresh_classifier, eps=0.1, nb_epochs=1, metrics_path=str(folder_log),
                                  verbose=False)
    with pytest.raises(RunFolderError, match="is a folder"):
        trainer.fit(digits.x_train[:64], digits.y_train[:64])


def test_attack_out_is_checked_before_the_attack_is_fitted(tmp_path, capsys):
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    line = one_error(capsys, "attack", "advgan", "--out", str(a_file), "--n-train", "20", "--n-test", "5")
    assert f"--out {a_file}: is a file" in line
    line = one_error(capsys, "attack", "advgan", "--out", str(a_file / "below"), "--n-train", "20")
    assert "--out" in line and "cannot write there" in line
    assert not (tmp_path / "cache").exists()  # refused before any model was trained


# --------------------------------------------------------------------------- plugins cannot forge output


def _plugins(tmp_path, monkeypatch, modules: dict[str, str]):
    import importlib.metadata
    import textwrap

    from art_ext.manager import create_plugin_manager

    for name, source in modules.items():
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
    monkeypatch.syspath_prepend(str(tmp_path))
    points = [importlib.metadata.EntryPoint(name=n.replace("_", "\x1b[31m"), value=n, group="art_ext")
              for n in modules]
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group=None: points if group == "art_ext" else [])
    return create_plugin_manager()


CHATTY = """
    import art_ext
    print("printed at import")

    @art_ext.hookimpl
    def register_attacks(register):
        print("printed in the hook")
        register("forged\\nstandard  [loaded]  art-ext 0.1.0", "art.attacks.evasion:FastGradientMethod")
        register("fine-name", "art.attacks.evasion:FastGradientMethod", description="a\\nb")
        register("missing-module", "no_such_module_r3:Attack")
"""


def test_plugin_names_and_prints_cannot_forge_the_listing(tmp_path, monkeypatch, capsys):
    from art_ext.manager import set_plugin_manager

    manager = _plugins(tmp_path, monkeypatch, {"chatty_r3": CHATTY})
    previous = set_plugin_manager(manager)
    try:
        code, out, err = run_cli(capsys, "plugins", "--json")
        assert code == 0 and "printed" in err and "printed" not in out
        listing = {info["name"]: info for info in json.loads(out)}  # stdout is pure JSON
        chatty = listing["chatty\x1b[31mr3"]
        assert chatty["attacks"] == ["fine-name", "missing-module"]
        assert any("attack name must be" in e and "forged" in e for e in chatty["errors"])
        code, out, _ = run_cli(capsys, "plugins")
        assert "\x1b" not in out and "chatty\\x1b[31mr3" in out
        assert not any(line.startswith("standard  [loaded]  art-ext 0.1.0") for line in out.splitlines()[1:]
                       if "forged" in line)
        assert manager.attacks["fine-name"].description == "a\\nb"
        import art_ext
        from art_ext.registry import TargetLoadError

        with pytest.raises(TargetLoadError, match=r"attack 'missing-module' of plugin 'chatty.*r3'.*no_such_module_r3"):
            art_ext.get_attack("missing-module", None)
    finally:
        set_plugin_manager(previous)


# --------------------------------------------------------------------------- layout and preprocessing


def _nhwc_classifier(shape=(3, 5, 3)):
    import numpy as np
    import torch
    from art.estimators.classification import PyTorchClassifier

    class Flat(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = torch.nn.Linear(int(np.prod(shape)), 4)

        def forward(self, x):
            return self.linear(x.reshape(len(x), -1))

    torch.manual_seed(0)
    return PyTorchClassifier(Flat(), torch.nn.CrossEntropyLoss(), input_shape=shape, nb_classes=4,
                             clip_values=(0.0, 1.0), channels_first=False,
                             preprocessing=(np.array([0.1, 0.5, 0.9]), np.array([0.2, 0.3, 0.4])))


@pytest.mark.parametrize("shape", [(3, 5, 3), (4, 3, 3)])  # H == C (NHWC), W == C (NHWC)
def test_forward_matches_arts_predict_in_every_layout(shape):
    import numpy as np
    import torch

    from art_ext.core.forward import classifier_forward
    from art_ext.evaluation import evaluate

    classifier = _nhwc_classifier(shape)
    x = np.random.default_rng(0).random((64, *shape), dtype=np.float32)
    forward = classifier_forward(classifier)
    with torch.no_grad():
        assert np.allclose(forward(torch.from_numpy(x)).numpy(), classifier.predict(x), atol=1e-5)
    labels = classifier.predict(x).argmax(1)  # ART's own predictions: clean accuracy is 100%
    report = evaluate(classifier, x, labels, eps=0.01, pgd_steps=2, pgd_restarts=1, autoattack_version=None)
    assert report.accuracy("clean") == 1.0


def test_a_forward_that_disagrees_with_predict_is_refused():
    import torch

    from art_ext.core.forward import check_agrees_with_predict

    classifier = _nhwc_classifier()
    with pytest.raises(ValueError, match="disagrees with the classifier's predict"):
        check_agrees_with_predict(classifier, torch.nn.Sequential(classifier.model, torch.nn.Softplus()))


def test_advgan_refuses_a_channels_last_classifier():
    import art_ext

    with pytest.raises(ValueError, match="AdvGAN needs \\(C, H, W\\) images.*channels_first=False"):
        art_ext.get_attack("advgan", _nhwc_classifier())


# --------------------------------------------------------------------------- set_params is all or nothing


@pytest.mark.parametrize("name", ["art.pgd", "art.fgsm", "foolbox.linf_pgd", "advgan"])
def test_a_refused_set_params_leaves_the_attack_as_it_was(tiny_classifier, name):
    import art_ext

    attack = art_ext.get_attack(name, tiny_classifier, eps=0.1)
    with pytest.raises(ValueError, match="eps"):
        attack.set_params(eps=5.0)
    assert attack.eps == 0.1


def test_to_foolbox_restores_the_attack_and_checks_labels(tiny_classifier):
    import foolbox as fb
    import numpy as np
    import torch

    import art_ext

    attack = art_ext.get_attack("art.pgd", tiny_classifier, eps=0.1, max_iter=2)
    bridge = art_ext.to_foolbox(attack)
    fmodel = fb.PyTorchModel(tiny_classifier.model.eval(), bounds=(0, 1))
    x = torch.rand(4, 1, 8, 8)
    for labels, match in ([-1, 0, 1, 2], r"labels has labels in \[-1, 2\]"), ([0.5, 1, 2, 3], r"labels\[0\] = 0.5"), \
            ([10, 0, 1, 2], "nb_classes = 10"):
        with pytest.raises(ValueError, match=match):
            bridge(fmodel, x, torch.tensor(labels), epsilons=[0.05, 0.2])
        assert attack.eps == 0.1 and np.isclose(attack.eps_step, 2.5 * 0.1 / 2)
    bridge(fmodel, x, torch.tensor([0, 1, 2, 3]), epsilons=[0.05, 0.2])
    assert attack.eps == 0.1 and np.isclose(attack.eps_step, 2.5 * 0.1 / 2)


@pytest.mark.parametrize("name, param", [("foolbox.linf_pgd", {"rel_stepsize": -0.1}),
                                         ("foolbox.linf_pgd", {"steps": 0}),
                                         ("foolbox.cw_l2", {"steps": -5}),
                                         ("foolbox.cw_l2", {"confidence": -1.0}),
                                         ("foolbox.linf_deepfool", {"loss": "hinge"}),
                                         ("foolbox.l2_pgd", {"random_start": "yes"})])
def test_foolbox_attack_parameters_are_checked(tiny_classifier, name, param):
    import art_ext

    key = next(iter(param))
    with pytest.raises((ValueError, TypeError), match=key):
        art_ext.get_attack(name, tiny_classifier, **param)


# --------------------------------------------------------------------------- fitted means trained


def test_nothing_is_called_fitted_without_training(tiny_classifier):
    import numpy as np
    from art_ext_plugins.gan.advgan import NotFittedError

    import art_ext

    x = np.random.default_rng(0).random((16, 1, 8, 8), dtype=np.float32)
    y = np.arange(16) % 10
    advgan = art_ext.get_attack("advgan", tiny_classifier, eps=0.1)
    for epochs, error in ((0, ValueError), (1.9, TypeError)):
        with pytest.raises(error, match="nb_epochs"):
            advgan.fit(x, y, nb_epochs=epochs)
    assert not advgan.fitted
    with pytest.raises(TypeError, match="nb_epoch"):
        advgan.fit(x, y, nb_epoch=5)
    trainer = art_ext.get_trainer("advgan", tiny_classifier, eps=0.1, nb_epochs=1, verbose=False)
    with pytest.raises(NotFittedError, match="before fit"):
        trainer.advgan_attack()
    with pytest.raises(TypeError, match=r"unexpected keyword arguments \['nb_epoch'\]"):
        art_ext.get_trainer("pgd", tiny_classifier, eps=0.1, verbose=False).fit(x, y, nb_epoch=5)


@pytest.mark.parametrize("name, params, fit", [
    ("art.madry_pgd", {"nb_epochs": 0}, {}),
    ("art.madry_pgd", {"max_iter": 0}, {}),
    ("art.madry_pgd", {"eps_step": -0.1}, {}),
    ("art.trades", {"beta": -1.0}, {}),
    ("art.trades", {"max_iter": 0}, {}),
    ("art.trades", {}, {"nb_epochs": 0}),
    ("art.trades", {}, {"nb_epochs": 1.9}),
])
def test_arts_trainers_through_the_registry_keep_the_rules(tiny_classifier, name, params, fit):
    import numpy as np

    import art_ext

    key = next(iter({**params, **fit}))
    with pytest.raises((ValueError, TypeError), match=key):
        trainer = art_ext.get_trainer(name, tiny_classifier, eps=0.1, **params)
        trainer.fit(np.zeros((4, 1, 8, 8), np.float32), np.arange(4), **fit)


# --------------------------------------------------------------------------- no attack, no robust figure


def test_no_attack_means_no_robust_figure(digits, digits_classifier):
    import numpy as np

    from art_ext.evaluation import evaluate
    from art_ext.evaluation.robust import AttackResult, EvaluationReport

    with pytest.raises(ValueError, match="pgd_steps=0 with autoattack_version=None runs no attack"):
        evaluate(digits_classifier, digits.x_test[:20], digits.y_test[:20], eps=0.1, pgd_steps=0,
                 autoattack_version=None)
    report = EvaluationReport(0.1, "inf", np.array([True, False, True]))
    with pytest.raises(ValueError, match="no attack in this report"):
        report.accuracy("worst")
    assert report.to_dict()["worst_case"] is None
    with pytest.raises(ValueError, match="marks 1 examples robust that are misclassified clean"):
        report.add(AttackResult("all-robust", "", np.array([True, True, True])))
    with pytest.raises(TypeError, match="boolean mask"):
        report.add(AttackResult("ints", "", np.array([1, 0, 1])))
    report.add(AttackResult("ok", "", np.array([True, False, False])))
    assert report.accuracy("worst") == pytest.approx(1 / 3)


def test_a_trainer_without_an_attack_reports_no_robust_accuracy_and_chooses_no_best(tmp_path, digits,
                                                                                      fresh_classifier):
    import art_ext

    trainer = art_ext.get_trainer("pgd", fresh_classifier, eps=0.1, nb_epochs=1, eval_max_iter=0, verbose=False,
                                  checkpoint_dir=str(tmp_path / "run"), batch_size=64)
    trainer.fit(digits.x_train[:128], digits.y_train[:128], validation_data=(digits.x_test[:64], digits.y_test[:64]))
    assert "val_clean_acc" in trainer.history[-1] and "val_robust_acc" not in trainer.history[-1]
    assert not (tmp_path / "run" / "best.pt").exists()


# --------------------------------------------------------------------------- run identity


def _trainer(classifier, folder, **params):
    import art_ext

    settings = {"eps": 0.1, "max_iter": 2, "nb_epochs": 2, "batch_size": 32, "seed": 0, "verbose": False,
                "checkpoint_dir": str(folder), "eval_max_iter": 2, **params}
    return art_ext.get_trainer("pgd", classifier, **settings)


def test_validation_data_is_part_of_the_run(tmp_path, digits, fresh_classifier):
    from art_ext.core.run_folder import RunMismatchError

    x, y = digits.x_train[:96], digits.y_train[:96]
    _trainer(fresh_classifier, tmp_path, nb_epochs=1).fit(x, y, validation_data=(digits.x_test[:32], digits.y_test[:32]))
    with pytest.raises(RunMismatchError, match="validation"):
        _trainer(fresh_classifier, tmp_path, resume=True).fit(
            x, y, validation_data=(digits.x_test[32:64], digits.y_test[32:64]))


@pytest.mark.parametrize("schedule", ["cyclic", "step"])
def test_an_interrupted_run_resumed_in_the_same_process_ends_as_the_uninterrupted_one(tmp_path, digits, schedule):
    import os
    import signal

    import numpy as np
    import torch

    from art_ext.core.signals import TrainingInterrupted
    from art_ext.models import SmallCNN, make_classifier

    x, y = digits.x_train[:128], digits.y_train[:128]

    def classifier():
        torch.manual_seed(0)
        return make_classifier(SmallCNN(digits.input_shape, digits.nb_classes), digits.input_shape,
                               digits.nb_classes, digits.clip_values, lr=1e-2)

    def params(clf):
        if schedule == "cyclic":
            return {"lr_schedule": "cyclic"}
        return {"scheduler": torch.optim.lr_scheduler.StepLR(clf.optimizer, step_size=3, gamma=0.5),
                "scheduler_interval": "step"}

    whole = classifier()
    _trainer(whole, tmp_path / "whole", **params(whole)).fit(x, y)

    broken = classifier()
    first = _trainer(broken, tmp_path / "broken", **params(broken))
    first.step_hooks.append(lambda t: t.global_step == 5 and os.kill(os.getpid(), signal.SIGINT))
    with pytest.raises(TrainingInterrupted):
        first.fit(x, y)
    assert broken.optimizer.param_groups[0]["lr"] != 1e-2  # the schedule moved it
    _trainer(broken, tmp_path / "broken", resume=True, **params(broken)).fit(x, y)
    for a, b in zip(whole.model.state_dict().values(), broken.model.state_dict().values()):
        assert np.array_equal(a.numpy(), b.numpy())


# --------------------------------------------------------------------------- unclear errors, one check each


def _classifier_of(model, **kwargs):
    from art_ext.models import make_classifier

    return make_classifier(model, (1, 8, 8), 10, (0.0, 1.0), **kwargs)


class _TupleNet:
    @staticmethod
    def build(kind: str):
        import torch

        class Net(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.linear = torch.nn.Linear(64, 10)

            def forward(self, x):
                logits = self.linear(x.flatten(1))
                return (logits, x) if kind == "tuple" else {"logits": logits}

        return Net()


@pytest.mark.parametrize("kind", ["tuple", "dict"])
def test_a_model_returning_a_tuple_or_dict_is_one_clear_error(digits, kind):
    import art_ext
    from art_ext.evaluation import evaluate

    classifier = _classifier_of(_TupleNet.build(kind))
    with pytest.raises(TypeError, match=f"model's output must be a tensor of logits .*got a {kind}"):
        evaluate(classifier, digits.x_test[:4], digits.y_test[:4], eps=0.1, pgd_steps=1, pgd_restarts=1,
                 autoattack_version=None)
    with pytest.raises(TypeError, match="must be a tensor of logits"):
        art_ext.get_trainer("pgd", classifier, eps=0.1, verbose=False).fit(digits.x_train[:8], digits.y_train[:8])


@pytest.mark.parametrize("dtype", ["float16", "float64", "bfloat16", "meta"])
def test_models_that_are_not_float32_are_refused_by_name(digits, dtype):
    import torch

    import art_ext
    from art_ext.evaluation import evaluate
    from art_ext.models import SmallCNN

    if dtype == "meta":
        with torch.device("meta"):
            model = SmallCNN(digits.input_shape, 10)
        match = "'meta' device"
    else:
        model = SmallCNN(digits.input_shape, 10).to(getattr(torch, dtype))
        match = f"holds {dtype} parameters"
    classifier = _classifier_of(model) if dtype != "meta" else type("C", (), {"model": model})()
    with pytest.raises(ValueError, match=match):
        if dtype == "meta":
            from art_ext import checks

            checks.model_weights(model)
        else:
            evaluate(classifier, digits.x_test[:4], digits.y_test[:4], eps=0.1, pgd_steps=1, pgd_restarts=1,
                     autoattack_version=None)
    if dtype != "meta":
        with pytest.raises(ValueError, match=match):
            art_ext.get_trainer("pgd", classifier, eps=0.1, verbose=False)


def test_an_all_frozen_model_is_refused(fresh_classifier):
    import art_ext

    for parameter in fresh_classifier.model.parameters():
        parameter.requires_grad_(False)
    with pytest.raises(ValueError, match="every parameter frozen"):
        art_ext.get_trainer("pgd", fresh_classifier, eps=0.1)


@pytest.mark.parametrize("seed", [-1, 2**32, 1.5, "0"])
def test_seeds_are_non_negative_integers_everywhere(tiny_classifier, seed):
    import art_ext

    with pytest.raises((ValueError, TypeError), match="seed"):
        art_ext.get_trainer("pgd", tiny_classifier, eps=0.1, seed=seed)
    with pytest.raises((ValueError, TypeError), match="seed"):
        art_ext.get_attack("advgan", tiny_classifier, eps=0.1, seed=seed)


def test_small_refusals_name_their_parameter(tiny_classifier, digits):
    import numpy as np

    import art_ext
    from art_ext.evaluation.masking import gradient_masking_checks
    from art_ext.testing import make_tiny_classifier

    with pytest.raises(ValueError, match="norm must be .* got 'l3'"):
        art_ext.get_attack("art.pgd", tiny_classifier, eps=0.1, norm="l3")
    for estimator in (None, tiny_classifier.model, "classifier"):
        with pytest.raises(TypeError, match="estimator: attack 'art.fgsm' needs an ART estimator"):
            art_ext.get_attack("art.fgsm", estimator)
        with pytest.raises(TypeError, match="estimator: trainer 'pgd' needs an ART estimator"):
            art_ext.get_trainer("pgd", estimator)
    unbounded = make_tiny_classifier()
    unbounded._clip_values = None
    with pytest.raises(ValueError, match="gradient-masking checks need clip_values"):
        gradient_masking_checks(unbounded, np.zeros((4, 1, 8, 8), np.float32), np.arange(4), eps=0.1)


def test_resume_with_fewer_epochs_reports_the_epochs_the_model_has(tmp_path, capsys):
    out = tmp_path / "run"
    fast = ["--trainer", "pgd", "--init", "random", "--out", str(out), "--n-train", "64", "--n-test", "16",
            "--param", "eval_steps=1", "--param", "eval_restarts=1", "--param", "eval_autoattack=none", "--json"]
    code, printed, err = run_cli(capsys, "train", *fast, "--epochs", "2")
    assert code == 0, err
    code, printed, err = run_cli(capsys, "train", *fast, "--epochs", "1", "--resume")
    assert code == 0, err
    assert json.loads(printed)["epochs"] == 2
    assert json.loads((out / "results.json").read_text())["epochs"] == 2


# --------------------------------------------------------------------------- the properties third parties are held to


def test_the_set_params_property_catches_a_non_atomic_attack(tiny_classifier):
    from art.attacks.evasion import ProjectedGradientDescent

    import art_ext
    from art_ext.testing import assert_set_params_atomic

    assert_set_params_atomic(art_ext.get_attack("art.pgd", tiny_classifier, eps=0.1))
    raw = ProjectedGradientDescent(tiny_classifier, eps=0.1, eps_step=0.01, max_iter=2, verbose=False)
    with pytest.raises(AssertionError):
        assert_set_params_atomic(raw, bad_values=(-0.1,), extra_modules=("art",))


def test_the_layout_property_catches_an_attack_that_ignores_the_layout():
    import numpy as np

    from art_ext.testing import assert_layout_kept

    class WrongAxis:  # shifts along axis 1 as if it were the channels: leaves the clip range
        def __init__(self, classifier, **_):
            self.estimator, self.attack_params, self.eps = classifier, ["eps"], 0.1

        def generate(self, x, y=None):
            return x + np.linspace(0.0, 2.0, x.shape[1], dtype=x.dtype)[None, :, None, None]

    with pytest.raises(AssertionError, match="outside clip_values"):
        assert_layout_kept(WrongAxis, fit=False)


@pytest.mark.filterwarnings("ignore")
def test_report_property_over_random_masks():
    import numpy as np
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from art_ext.evaluation.robust import AttackResult, EvaluationReport
    from art_ext.testing import assert_report_consistent

    @settings(max_examples=60, deadline=None, derandomize=True)
    @given(st.lists(st.booleans(), min_size=1, max_size=12), st.lists(st.lists(st.booleans(), min_size=12,
                                                                                  max_size=12), max_size=3))
    def check(clean, attacks):
        report = EvaluationReport(0.1, "inf", np.array(clean))
        for i, robust in enumerate(attacks):
            with contextlib.suppress(ValueError):
                report.add(AttackResult(f"a{i}", "", np.array(robust[: len(clean)])))
        assert_report_consistent(report)

    check()


def test_the_probe_check_leaves_torchs_generator_alone(tiny_classifier):
    import torch

    from art_ext.core.forward import classifier_forward

    torch.manual_seed(5)
    state = torch.get_rng_state()
    classifier_forward(tiny_classifier)
    assert torch.equal(state, torch.get_rng_state())  # random starts after it are those of before
