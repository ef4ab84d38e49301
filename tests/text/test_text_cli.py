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
    assert out["success_ci95"][0] <= out["success_rate"] <= out["success_ci95"][1]
    assert out["n"] == 40 and 0.0 <= out["success_rate"] <= 1.0 and out["attacked"] > 0
    written = json.loads((tmp_path / "text-hotflip.json").read_text())
    assert written["success_rate"] == out["success_rate"]
    assert out["outputs"] == [str(tmp_path / "text-hotflip.json")]
    assert out["ran"]["attack"].startswith("text-hotflip") and "40 of" in out["ran"]["data"]


def test_cli_embedding_pgd(saved_model, mr_dir):
    out = run_attack(_args(name="text-embedding-pgd", data_dir=str(mr_dir), model=str(saved_model), n_test=40,
                           eps=0.5, norm="2", params={"max_length": 48, "max_iter": 3}))
    assert out["robust_acc"] < out["clean_acc"]


def test_cli_train_freelb(saved_model, mr_dir, tmp_path):
    out = run_train(_args(name="freelb", data_dir=str(mr_dir), model=str(saved_model), n_train=64, n_test=32,
                          epochs=1, out=str(tmp_path), params={"max_length": 32, "relative": True}))
    assert out["n_train"] == 64 and 0 <= out["clean_acc"] <= 1
    assert (tmp_path / "model" / "config.json").is_file()
    # the one output contract of `art-ext train` (docs/cli.md): model, checkpoints, results.json listing them
    assert out["outputs"][0] == str(tmp_path / "model") and out["outputs"][-1] == str(tmp_path / "results.json")
    assert str(tmp_path / "checkpoints" / "last.pt") in out["outputs"]
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["outputs"] == out["outputs"] and saved["epochs"] == 1
    assert out["ran"]["trainer"].startswith("freelb")
    with pytest.raises(ValueError, match="is not empty"):  # a used run folder is refused, as for images
        run_train(_args(name="freelb", data_dir=str(mr_dir), model=str(saved_model), n_train=64, n_test=32,
                        epochs=1, out=str(tmp_path), params={"max_length": 32, "relative": True}))


def test_cli_train_text_a2t(saved_model, mr_dir, tmp_path):
    """`art-ext train --trainer text-a2t` on MR sentences: the attack runs inside the training epoch."""
    out = run_train(_args(name="text-a2t", data_dir=str(mr_dir), model=str(saved_model), n_train=32, n_test=16,
                          epochs=1, batch_size=16, out=str(tmp_path),
                          params={"max_length": 32, "constraints": "none", "adv_ratio": 0.5}))
    assert out["ran"]["trainer"].startswith("text-a2t") and out["n_train"] == 32
    assert (tmp_path / "model" / "config.json").is_file()
    metrics = tmp_path / "checkpoints" / "metrics.jsonl"
    assert str(metrics) in out["outputs"]
    epochs = [json.loads(line) for line in metrics.read_text().splitlines()]
    assert epochs[-1]["attacked"] == 16 and epochs[-1]["changed"] > 0  # half of each of the 2 batches of 16
    assert epochs[-1]["train_adv_acc"] < epochs[-1]["train_acc"]  # the swaps it trained on were adversarial


def test_cli_bad_input(saved_model, mr_dir):
    with pytest.raises(ValueError, match="model"):
        run_attack(_args(data_dir=str(mr_dir), model=str(mr_dir / "missing")))
    with pytest.raises(ValueError, match="dataset"):
        run_attack(_args(dataset="mnist", data_dir=str(mr_dir), model=str(saved_model)))


def test_bench_text_runs_both_stages_and_writes_outputs(saved_model, mr_dir, tmp_path):
    """`art-ext bench text` end to end on a reduced setting: the trained models are evaluated,
    HotFlip keeps its 20% budget, the HTML and markdown report is written."""
    from art_ext.cli import main

    out = tmp_path / "bench"
    code = main(["bench", "text", "--data-dir", str(mr_dir), "--model", str(saved_model), "--n-train", "96",
                 "--n-test", "12", "--out", str(out), "--quiet", "--param", "text:pgd_steps=2",
                 "--param", "text:max_length=32", "--param", "text:pgd_eps=(0.5,)",
                 "--param", "text:attacks=('hotflip','charswap')", "--param", "text:presets=('none',)"])
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    stages = results["text"]["stages"]
    assert set(stages) == {"standard", "freelb"}
    for stage in stages.values():
        assert stage["n_train"] == 96 and stage["clean"]["accuracy"] > 0.55  # the saved model is ~64%
        hot = stage["attacks"]["hotflip"]["none"]["summary"]
        assert hot["n"] == 12 and hot["max_fraction_changed"] <= 0.2 + 1e-9
        assert hot["accuracy_after_attack"] < stage["clean"]["accuracy"]
    assert "| freelb |" in (out / "report.md").read_text()
    assert (out / "text_report.html").is_file() and "charswap / none" in (out / "text_report.html").read_text()


def test_cli_rejects_common_options_it_does_not_use(saved_model, mr_dir, capsys):
    """Issue 12: `--eps` to HotFlip was silently ignored; now one line says what its budget is."""
    from art_ext.cli import main

    base = ["--data-dir", str(mr_dir), "--model", str(saved_model)]
    assert main(["attack", "text-hotflip", "--eps", "0.1", *base]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "max_perturb_ratio" in err and "HotFlip" in err
    assert main(["attack", "text-wordswap", "--norm", "2", *base]) == 2
    assert "max_perturb_ratio" in capsys.readouterr().err
    assert main(["attack", "text-hotflip", "--epochs", "2", *base]) == 2
    assert "--epochs is not used with --model" in capsys.readouterr().err
    assert main(["train", "--trainer", "freelb", "--eps", "0.1", *base]) == 2
    assert "freelb takes no --eps" in capsys.readouterr().err
    assert main(["train", "--trainer", "text-standard", "--targeted", *base]) == 2
    assert "targeted" in capsys.readouterr().err


def test_cli_num_labels_param(tmp_path, mr_dir, mr_tokenizer):
    """`--param num_labels=N` reaches from_pretrained (a fresh 3-way head on a base model)."""
    from text_helpers import tiny_bert

    folder = tmp_path / "base"
    tiny_bert(len(mr_tokenizer), hidden=32, layers=1).bert.save_pretrained(folder)
    mr_tokenizer.save_pretrained(folder)
    out = run_train(_args(name="text-standard", data_dir=str(mr_dir), model=str(folder), n_train=64, n_test=16,
                          epochs=1, out=str(tmp_path / "run"), params={"max_length": 32, "num_labels": 3}))
    assert out["n_train"] == 64
    assert len(json.loads((tmp_path / "run" / "model" / "config.json").read_text())["id2label"]) == 3


def test_cli_wordswap(saved_model, mr_dir):
    out = run_attack(_args(name="text-wordswap", data_dir=str(mr_dir), model=str(saved_model), n_test=20,
                           params={"max_length": 48, "n_candidates": 10}))
    assert out["attack"] == "text-wordswap" and out["n"] == 20 and out["queries_per_sentence"] > 2


def test_bench_text_rejects_unknown_setting(saved_model, mr_dir, tmp_path, capsys):
    from art_ext.cli import main

    code = main(["bench", "text", "--data-dir", str(mr_dir), "--model", str(saved_model), "--out", str(tmp_path),
                 "--quiet", "--param", "text:nope=1"])
    assert code == 2
    assert "text:nope" in capsys.readouterr().err
