"""The text benchmark end to end on a tiny model saved to disk (the real run uses MiniLM):
stages, every attack x preset, comparisons, the HTML/markdown report, the README tables and the
precision comparison of issue 14."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("transformers", reason="the text plugin needs transformers (pip install art-ext[text])")

from art_ext_plugins.text.benchmark.report import diff_words
from art_ext_plugins.text.benchmark.suite import TextBenchSettings
from benchmark_modules import load_benchmark
from text_helpers import tiny_bert

ROOT = Path(__file__).resolve().parents[2]


def _benchmark_module():
    return load_benchmark("text")


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory, mr_tokenizer):
    folder = tmp_path_factory.mktemp("model") / "tiny"
    tiny_bert(len(mr_tokenizer), hidden=32, layers=1).save_pretrained(folder)
    mr_tokenizer.save_pretrained(folder)
    return folder


def test_benchmark_script_writes_results_report_and_readme_tables(tmp_path, mr_dir, tiny_folder, sentence_encoder_dir):
    bench = _benchmark_module()
    out = tmp_path / "results" / bench.TEST
    common = ["--data-dir", str(mr_dir), "--model", str(tiny_folder), "--n-train", "64", "--epochs", "2",
              "--n-attack", "12", "--n-pgd", "8", "--pgd-steps", "2", "--pgd-eps", "0.5", "--max-length", "32",
              "--sentence-encoder", sentence_encoder_dir, "--batch-size", "16"]
    cache = tmp_path / "models"
    stages = ["--out", str(out), "--stages", "standard,freelb-swap1,a2t", "--attacks", "hotflip,wordswap",
              "--presets", "none,a2t", "--model-cache", str(cache), *common]
    assert bench.main(stages) == 0
    results = json.loads((out / "results.json").read_text())
    assert set(results["models"]) == {"standard (seed 0)", "freelb-swap1 (seed 0)", "a2t (seed 0)"}
    a2t = results["models"]["a2t (seed 0)"]
    assert a2t["trainer_params"]["attack"] == "text-hotflip" and a2t["trainer_params"]["clean_epochs"] == 1
    assert [epoch["attacked"] > 0 for epoch in a2t["history"]] == [False, True]  # A2T's clean epoch, then adversarial
    # cached: the finished model replaced its run's checkpoints, its evaluation's cells are kept
    folders = sorted(f.name for f in cache.iterdir())
    assert not [f for f in folders if f.endswith(".run")] and len(folders) == 3
    assert all((cache / f / "evaluation-test.json").is_file() for f in folders)
    assert bench.main(stages) == 0  # a second run reuses the models and every finished cell
    again = json.loads((out / "results.json").read_text())["models"]["a2t (seed 0)"]
    assert again["attacks"] == a2t["attacks"] and again["eval_seconds"] == a2t["eval_seconds"]
    assert not Path(again["reused"]).is_absolute()  # the cache is recorded portably ($TMPDIR/...), never as a machine path
    # one seed: the verdict over seeds is there, and says it has no test
    assert results["methods"]["a2t"]["seeds"] == [0] and results["methods"]["a2t"]["hotflip/a2t"]["p_value"] is None
    std = results["models"]["standard (seed 0)"]
    assert std["split"] == "test" and std["clean"]["n"] == 1066 and std["subset"]["n"] == 12
    cell = std["attacks"]["hotflip"]["a2t"]
    assert cell["summary"]["attacked"] <= 12 and {c["name"] for c in cell["constraints"]} >= {"sentence_sim", "word_cos"}
    assert "sentiment" in cell and cell["summary"]["max_fraction_changed"] <= 0.2 + 1e-9
    assert results["models"]["freelb-swap1 (seed 0)"]["trainer_params"]["adv_swaps"] == 1
    assert "freelb-swap1" in results["comparisons"]["0"]
    html = (out / "report.html").read_text()
    assert "<table>" in html and "hotflip / a2t" in html and (out / "report.md").is_file()
    # the README blocks come from these files, and carry their numbers
    tables = bench.readme_tables(tmp_path / "results")
    assert {"text-models", "text-hotflip", "text-wordswap", "text-comparison", "text-targets"} <= set(tables)
    assert all(k.startswith("text-") for k in tables)
    assert f"{100 * std['clean']['accuracy']:.1f}" in tables["text-models"]
    rate = std["attacks"]["wordswap"]["none"]["summary"]["success_rate"]
    assert f"{100 * rate:.1f}" in tables["text-wordswap"]
    # issue 27's folder gives the same blocks under its own names, beside the older table's
    (tmp_path / "results" / bench.A2T).mkdir()
    (tmp_path / "results" / bench.A2T / "results.json").write_text((out / "results.json").read_text())
    both = bench.readme_tables(tmp_path / "results")
    assert both["text-a2t-methods"] == tables["text-methods"] and both["text-models"] == tables["text-models"]
    # issue 14: both precisions of both trainers, in one process, evaluated in fp32
    prec = tmp_path / "results" / bench.PRECISION
    assert bench.main(["--mode", "precision", "--out", str(prec), "--n-hotflip", "8", *common]) == 0
    data = json.loads((prec / "results.json").read_text())
    assert set(data["stages"]) == {"standard", "freelb"}
    assert data["stages"]["standard"]["fp32"]["resolved_precision"] == "fp32"
    assert data["stages"]["standard"]["speedup"] > 0 and "text-precision" in bench.readme_tables(tmp_path / "results")


def test_methods_are_compared_over_seeds_not_sentences():
    bench = _benchmark_module()

    def model(stage: str, seed: int, clean: float, hotflip: float) -> dict:
        return {"stage": stage, "seed": seed, "clean": {"accuracy": clean},
                "attacks": {"hotflip": {"a2t": {"summary": {"success_rate": hotflip}}}}}

    base = {0: 0.60, 1: 0.70, 2: 0.50}
    drop = {0: 0.10, 1: 0.12, 2: 0.08}  # a2t attacked 8-12 points less than standard in every seed
    models = {}
    for seed in base:
        models[f"standard (seed {seed})"] = model("standard", seed, 0.78, base[seed])
        models[f"a2t (seed {seed})"] = model("a2t", seed, 0.77, base[seed] - drop[seed])
    entry = bench.method_comparisons(models)["a2t"]
    hotflip = entry["hotflip/a2t"]
    assert entry["seeds"] == [0, 1, 2] and hotflip["n"] == 3
    assert hotflip["difference"] == pytest.approx(0.10) and hotflip["per_seed"] == pytest.approx([0.10, 0.12, 0.08])
    assert hotflip["ci95"][0] > 0 and hotflip["significant"]  # paired by seed: the between-seed spread cancels
    assert entry["clean"]["difference"] == pytest.approx(-0.01)
    assert "a2t" in bench.method_table(bench.method_comparisons(models))


def test_the_a2t_targets_read_the_over_seeds_verdict_and_the_training_time():
    bench = _benchmark_module()

    def model(stage: str, seed: int, clean: float, hotflip: float, wordswap: float, seconds: float) -> dict:
        return {"stage": stage, "seed": seed, "clean": {"accuracy": clean}, "train_seconds": seconds,
                "attacks": {"hotflip": {"a2t": {"summary": {"success_rate": hotflip}}},
                            "wordswap": {"a2t": {"summary": {"success_rate": wordswap}}}}}

    def rows(wordswap_drops: list[float], seeds: int = 3) -> dict[str, dict]:
        models = {}
        for seed in range(seeds):
            models[f"standard (seed {seed})"] = model("standard", seed, 0.78, 0.60, 0.50, 100.0)
            models[f"a2t (seed {seed})"] = model("a2t", seed, 0.77, 0.45 + 0.01 * seed, 0.50 - wordswap_drops[seed],
                                                 250.0 + 50 * seed)
        found = bench.a2t_targets(models, bench.method_comparisons(models))
        names = ("hotflip a2t", "wordswap a2t", "clean", "training time")
        return {name: next(r for r in found if name in r["target"]) for name in names}

    met = rows([0.12, 0.15, 0.11])
    assert met["hotflip a2t"]["met"] and met["wordswap a2t"]["met"] and met["clean"]["met"]
    assert met["training time"]["met"] and "3.00x (per seed 2.50, 3.00, 3.50)" in met["training time"]["measured"]
    small = rows([0.12, 0.02, 0.11])  # a wordswap drop of 8 points on average misses, whatever its interval
    assert not small["wordswap a2t"]["met"] and small["hotflip a2t"]["met"]
    two = rows([0.12, 0.15], seeds=2)  # two seeds are never enough for the target
    assert not two["hotflip a2t"]["met"] and not two["wordswap a2t"]["met"]


def test_a_folder_mixing_two_evaluations_is_refused(tmp_path):
    bench = _benchmark_module()

    def write(name: str, stage: str, seed: int, n: int, sha: str) -> None:
        (tmp_path / name).write_text(json.dumps({"stage": stage, "seed": seed, "split": "test",
                                                 "subset": {"n": n, "seed": 0, "indices_sha": sha}}))

    write("standard-seed0.json", "standard", 0, 500, "aaa")
    write("a2t-seed0.json", "a2t", 0, 500, "aaa")
    assert list(bench.load_stages(tmp_path)) == ["standard (seed 0)", "a2t (seed 0)"]
    write("standard-seed1.json", "standard", 1, 100, "bbb")  # an older, smaller evaluation left in the folder
    with pytest.raises(ValueError, match=r"standard-seed1\.json.*keep one evaluation per folder"):
        bench.load_stages(tmp_path)


def test_seeds_of_one_stage_in_two_precisions_are_refused(tmp_path):
    bench = _benchmark_module()
    for seed, precision in ((0, "fp32"), (1, "fp32"), (2, "bf16")):  # "auto" on an AMX CPU gave bf16
        (tmp_path / f"freelb-swap1-seed{seed}.json").write_text(json.dumps(
            {"stage": "freelb-swap1", "seed": seed, "split": "test", "precision": precision,
             "subset": {"n": 500, "seed": 0, "indices_sha": "aaa"}}))
    with pytest.raises(ValueError, match=r"stage 'freelb-swap1'.*bf16: seeds .*; fp32: seeds "):
        bench.load_stages(tmp_path)


def test_the_time_ratio_pairs_only_runs_on_one_cpu():
    bench = _benchmark_module()

    def model(stage: str, seed: int, seconds: float, cpu: str) -> dict:
        return {"stage": stage, "seed": seed, "clean": {"accuracy": 0.78}, "train_seconds": seconds,
                "machine": {"cpu_model": cpu}, "attacks": {}}

    models = {"standard (seed 0)": model("standard", 0, 100.0, "AMD EPYC"),
              "a2t (seed 0)": model("a2t", 0, 250.0, "AMD EPYC"),
              "standard (seed 1)": model("standard", 1, 100.0, "AMD EPYC"),
              "a2t (seed 1)": model("a2t", 1, 120.0, "Intel(R) Xeon(R) Processor")}
    time_row = next(r for r in bench.a2t_targets(models, bench.method_comparisons(models))
                    if "training time" in r["target"])
    assert "2.50x (per seed 2.50)" in time_row["measured"]
    assert "(Intel(R) Xeon(R) Processor)" in bench.models_table(
        {k: {**m, "clean": {"accuracy": 0.78, "ci95": [0.7, 0.8], "n": 10}} for k, m in models.items()})


def test_a_cached_model_trained_with_other_parameters_is_refused(tmp_path):
    from art_ext_plugins.text.benchmark.suite import model_cache_dir, stage_params, train_stage

    settings = TextBenchSettings(data_dir=None, stages=("a2t",), epochs=2, model_cache=str(tmp_path))
    cache = model_cache_dir("a2t", settings, settings.precision)
    cache.mkdir(parents=True)
    older = {**stage_params("a2t"), "adv_ratio": 0.5}  # a model of the stage before its parameters changed
    (cache / "train.json").write_text(json.dumps({"stage": "a2t", "trainer_params": older}))
    with pytest.raises(ValueError, match="model_cache: the a2t model in .* was trained with .*adv_ratio.*0.5"):
        train_stage("a2t", None, settings)


def test_an_evaluation_cut_off_resumes_at_its_first_unfinished_cell(tmp_path):
    from art_ext_plugins.text.benchmark.evaluate import FinishedCells

    path, identity = tmp_path / "evaluation-test.json", {"split": "test", "subset_sha": "abc"}
    computed: list[str] = []

    def cell(name: str):
        def compute():
            computed.append(name)
            if name == "wordswap/a2t":
                raise KeyboardInterrupt  # the session ends in the middle of the second cell
            return {"seconds": 1.0, "name": name}
        return compute

    first = FinishedCells(path, identity)
    first.get("hotflip/a2t", cell("hotflip/a2t"))
    with pytest.raises(KeyboardInterrupt):
        first.get("wordswap/a2t", cell("wordswap/a2t"))
    again = FinishedCells(path, identity)
    assert again.get("hotflip/a2t", cell("hotflip/a2t")) == {"seconds": 1.0, "name": "hotflip/a2t"}
    assert computed == ["hotflip/a2t", "wordswap/a2t"]  # the finished cell was not measured again
    other = FinishedCells(path, {**identity, "subset_sha": "def"})  # another evaluation's file is never mixed in
    other.get("hotflip/a2t", cell("hotflip/a2t"))
    assert computed[-1] == "hotflip/a2t" and len(computed) == 3


def test_text_bench_settings_are_checked(mr_dir):
    with pytest.raises(ValueError, match="stages"):
        TextBenchSettings(data_dir=str(mr_dir), stages=("freelb-huge",))
    with pytest.raises(ValueError, match="presets"):
        TextBenchSettings(data_dir=str(mr_dir), presets=("loose",))
    with pytest.raises(ValueError, match="split"):
        TextBenchSettings(data_dir=str(mr_dir), split="train")
    with pytest.raises(ValueError, match="n_attack"):
        TextBenchSettings(data_dir=str(mr_dir), n_attack=0)


def test_report_diff_highlights_changed_words():
    assert diff_words("a good film .", "a fine film .") == [("same", "a"), ("del", "good"), ("ins", "fine"),
                                                           ("same", "film .")]
