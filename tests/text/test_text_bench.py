"""The text benchmark end to end on a tiny model saved to disk (the real run uses MiniLM)."""

from __future__ import annotations

import pytest

pytest.importorskip("transformers", reason="the text plugin needs transformers (pip install art-ext[text])")

from art_ext_plugins.text.bench import TextBenchSettings, compare, markdown_table, run_stage
from text_helpers import tiny_bert

from art_ext.data import load_mr


def test_text_bench_stages_and_report(tmp_path, mr_dir, mr_tokenizer):
    folder = tmp_path / "model"
    tiny_bert(len(mr_tokenizer), hidden=32, layers=1).save_pretrained(folder)
    mr_tokenizer.save_pretrained(folder)
    settings = TextBenchSettings(data_dir=str(mr_dir), model=str(folder), stages=("standard", "freelb-swap1"),
                                 n_train=96, n_attack=12, n_pgd=8, n_beam=6, pgd_eps=(0.1,), pgd_steps=2,
                                 max_length=32, batch_size=16)
    data = load_mr(str(mr_dir))
    stages = {name: run_stage(name, data, settings) for name in settings.stages}
    for result in stages.values():
        assert 0 <= result["clean_acc"] <= 1
        assert result["hotflip"]["n_sentences"] == 12 and result["hotflip_beam"]["n_sentences"] == 6
        assert result["embedding_pgd"]["by_eps"]["0.1"]["robust_acc"] <= result["clean_acc"] + 0.5
    assert stages["freelb-swap1"]["trainer_params"]["adv_swaps"] == 1
    assert stages["freelb-swap1"]["history"][-1]["train_swaps"] > 0
    comparison = compare(stages)
    assert {"freelb-swap1 clean acc - standard", "HotFlip success standard - freelb-swap1"} <= set(comparison)
    table = markdown_table(stages, settings.pgd_eps)
    assert len(table) == 2 + len(stages) and all(row.count("|") == table[0].count("|") for row in table)


def test_text_bench_settings_are_checked(mr_dir):
    with pytest.raises(ValueError, match="stages"):
        TextBenchSettings(data_dir=str(mr_dir), stages=("freelb-huge",))
    with pytest.raises(ValueError, match="n_beam"):
        TextBenchSettings(data_dir=str(mr_dir), n_beam=-1)
