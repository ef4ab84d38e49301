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


def test_bench_text_runs_both_stages_and_writes_outputs(saved_model, mr_dir, tmp_path):
    """`art-ext bench text` end to end on a reduced setting: the trained models are evaluated,
    HotFlip keeps its 20% budget, the report carries the per-stage table."""
    from art_ext.cli import main

    out = tmp_path / "bench"
    code = main(["bench", "text", "--data-dir", str(mr_dir), "--model", str(saved_model), "--n-train", "160",
                 "--n-test", "16", "--out", str(out), "--quiet", "--param", "text:pgd_steps=2",
                 "--param", "text:max_length=32", "--param", "text:pgd_eps=(0.5,)"])
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    stages = results["text"]["stages"]
    assert set(stages) == {"standard", "freelb"}
    for stage in stages.values():
        assert stage["n_train"] == 160 and stage["clean_acc"] > 0.55  # the saved model is ~64%
        assert stage["hotflip"]["n_sentences"] == 16 and stage["hotflip"]["max_fraction_changed"] <= 0.2 + 1e-9
        assert stage["hotflip"]["accuracy_after_attack"] < stage["hotflip"]["clean_acc_on_subset"]
    assert "| freelb |" in (out / "report.md").read_text()


def test_bench_text_rejects_unknown_setting(saved_model, mr_dir, tmp_path, capsys):
    from art_ext.cli import main

    code = main(["bench", "text", "--data-dir", str(mr_dir), "--model", str(saved_model), "--out", str(tmp_path),
                 "--quiet", "--param", "text:nope=1"])
    assert code == 2
    assert "text:nope" in capsys.readouterr().err
