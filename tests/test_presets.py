"""Published training recipes (issue 26): ``art-ext train --preset``, the SGD optimizer and the
piecewise learning-rate schedule they need."""

from __future__ import annotations

import json

import pytest
import torch
from data_writers import write_cifar10

import art_ext
from art_ext.cli.presets import PRESETS
from art_ext.models import SmallCNN, make_classifier, make_optimizer


def _classifier(digits, optimizer: str = "adam"):
    torch.manual_seed(0)
    model = SmallCNN(digits.input_shape, digits.nb_classes)
    return make_classifier(model, digits.input_shape, digits.nb_classes, digits.clip_values,
                           optimizer=make_optimizer(model, optimizer, lr=0.1))


def test_piecewise_schedule_divides_by_ten_after_half_and_three_quarters(digits):
    classifier = _classifier(digits, "sgd")
    trainer = art_ext.get_trainer("pgd", classifier, eps=0.1, max_iter=1, nb_epochs=4, batch_size=64, seed=0,
                                  lr_schedule="piecewise", eval_max_iter=0, verbose=False)
    trainer.fit(digits.x_train[:128], digits.y_train[:128])
    # the lr each epoch ended on: epochs 1-2 at 0.1, 3 after half the run, 4 after three quarters
    assert [round(h["lr"], 8) for h in trainer.history] == [0.1, 0.1, 0.01, 0.001]


def test_an_unknown_schedule_or_optimizer_is_refused(digits):
    classifier = _classifier(digits)
    with pytest.raises(ValueError, match="lr_schedule"):
        art_ext.get_trainer("pgd", classifier, lr_schedule="cosine")
    with pytest.raises(ValueError, match="optimizer.*'rmsprop'"):
        make_optimizer(classifier.model, "rmsprop")
    with pytest.raises(ValueError, match="momentum"):
        make_optimizer(classifier.model, "sgd", momentum=1.5)


def test_every_preset_names_a_registered_trainer_and_its_parameters_exist():
    trainers = art_ext.get_plugin_manager().trainers
    for name, preset in PRESETS.items():
        assert preset.trainer in trainers, name
        assert preset.paper and preset.differences


@pytest.mark.slow
def test_rice_preset_trains_with_sgd_piecewise_and_the_options_that_override_it(tmp_path, monkeypatch, capsys):
    from art_ext.cli.app import main

    monkeypatch.setenv("ART_EXT_CACHE", str(tmp_path / "cache"))
    write_cifar10(tmp_path / "data", per_batch=16)
    run = tmp_path / "run"
    code = main(["train", "--preset", "rice2020-pgd", "--data-dir", str(tmp_path / "data"), "--model", "cifar_cnn",
                 "--epochs", "2", "--out", str(run), "--json", "--param", "lr=0.05", "--param", "validation_split=0.25",
                 "--param", "eval_autoattack=none", "--param", "eval_steps=2", "--param", "eval_restarts=1"])
    assert code == 0, capsys.readouterr().err
    result = json.loads((run / "results.json").read_text())
    assert result["preset"] == "rice2020-pgd" and result["trainer"] == "pgd" and result["dataset"] == "cifar10"
    assert result["eps"] == pytest.approx(8 / 255) and result["epochs"] == 2  # --epochs wins over the preset's 200
    assert "sgd, lr 0.05, momentum 0.9, weight decay 0.0005, piecewise schedule" in result["ran"]["optimizer"]
    fingerprint = json.loads((run / "checkpoints" / "fingerprint.json").read_text())
    assert fingerprint["optimizer"]["class"] == "SGD" and fingerprint["optimizer"]["lr"] == pytest.approx(0.05)
    assert fingerprint["optimizer"]["momentum"] == 0.9 and fingerprint["optimizer"]["weight_decay"] == 5e-4
    params = fingerprint["params"]
    assert params["lr_schedule"] == "piecewise" and params["max_iter"] == 10
    assert params["eps_step"] == pytest.approx(2 / 255) and params["eval_max_iter"] == 10
    assert (run / "checkpoints" / "best.pt").is_file()  # chosen on the validation hold-out, restored at the end
    lrs = [json.loads(line)["lr"] for line in (run / "checkpoints" / "metrics.jsonl").read_text().splitlines()
           if "lr" in json.loads(line)]
    assert lrs == pytest.approx([0.05, 0.0005])
    assert torch.load(run / "model.pt", weights_only=True)


@pytest.mark.slow
def test_wong_preset_trains_fbf_with_sgd_and_the_cyclic_schedule(tmp_path, monkeypatch, capsys):
    from art_ext.cli.app import main

    monkeypatch.setenv("ART_EXT_CACHE", str(tmp_path / "cache"))
    write_cifar10(tmp_path / "data", per_batch=16)
    run = tmp_path / "run"
    code = main(["train", "--preset", "wong2020-fbf", "--trainer", "fbf", "--data-dir", str(tmp_path / "data"),
                 "--model", "cifar_cnn", "--epochs", "2", "--out", str(run), "--json", "--param", "eval_autoattack=none",
                 "--param", "eval_steps=2", "--param", "eval_restarts=1"])
    assert code == 0, capsys.readouterr().err
    fingerprint = json.loads((run / "checkpoints" / "fingerprint.json").read_text())
    assert fingerprint["optimizer"]["class"] == "SGD" and fingerprint["optimizer"]["weight_decay"] == 5e-4
    params = fingerprint["params"]
    assert params["lr_schedule"] == "cyclic" and params["lr_max"] == 0.2 and params["alpha"] == pytest.approx(10 / 255)
    lrs = [json.loads(line)["lr"] for line in (run / "checkpoints" / "metrics.jsonl").read_text().splitlines()
           if "lr" in json.loads(line)]
    # 0 -> 0.2 at 2/5 of the run -> 0: after epoch 1 of 2 the schedule is a sixth of the way down
    assert lrs == pytest.approx([0.2 * (1 - 0.2 / 1.2), 0.0], abs=1e-9)


def test_a_preset_refuses_another_trainer(tmp_path, capsys):
    from art_ext.cli.app import main

    assert main(["train", "--preset", "wong2020-fbf", "--trainer", "pgd", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--preset wong2020-fbf trains with 'fbf'" in err[0]
