"""CLI runners of the text plugin, called with the Namespace the lead's CLI builds."""

from __future__ import annotations

import argparse
import json

import pytest

pytest.importorskip("transformers", reason="the text plugin needs transformers (pip install art-ext[text])")

from art_ext_plugins.text.cli import run_attack, run_train


def _args(**overrides) -> argparse.Namespace:
    base = dict(name="text-hotflip", dataset="mr", data_dir=None, model=None, eps=None, norm=None, targeted=False,
                epochs=None, batch_size=128, n_train=None, n_test=None, seed=0, out=None, device="cpu", params={},
                checkpoint_dir=None, resume=False)
    base.update(overrides)
    return argparse.Namespace(**base)


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory, mr_trained):
    folder = tmp_path_factory.mktemp("model")
    mr_trained.save("mr_tiny", str(folder))
    return folder / "mr_tiny"


def test_cli_hotflip(saved_model, mr_dir, tmp_path):
    out = run_attack(_args(data_dir=str(mr_dir), model=str(saved_model), n_test=40, out=str(tmp_path),
                           params={"max_length": 48}))
    assert out["n"] == 40 and 0.0 <= out["success_rate"] <= 1.0 and out["attacked"] > 0
    written = json.loads((tmp_path / "text-hotflip.json").read_text())
    assert written["success_rate"] == out["success_rate"]


def test_cli_embedding_pgd(saved_model, mr_dir):
    out = run_attack(_args(name="text-embedding-pgd", data_dir=str(mr_dir), model=str(saved_model), n_test=40,
                           eps=0.5, norm="2", params={"max_length": 48, "max_iter": 3}))
    assert out["robust_acc"] < out["clean_acc"]


def test_cli_train_freelb(saved_model, mr_dir, tmp_path):
    out = run_train(_args(name="freelb", data_dir=str(mr_dir), model=str(saved_model), n_train=64, n_test=32,
                          epochs=1, out=str(tmp_path), params={"max_length": 32, "relative": True}))
    assert out["n_train"] == 64 and 0 <= out["clean_acc"] <= 1
    assert (tmp_path / "model" / "config.json").is_file()


def test_cli_bad_input(saved_model, mr_dir):
    with pytest.raises(ValueError, match="model"):
        run_attack(_args(data_dir=str(mr_dir), model=str(mr_dir / "missing")))
    with pytest.raises(ValueError, match="dataset"):
        run_attack(_args(dataset="mnist", data_dir=str(mr_dir), model=str(saved_model)))
