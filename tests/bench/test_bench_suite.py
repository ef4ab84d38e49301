"""The reduced suite on real digits: complete, consistent outputs; sanity checks that fire on a
gradient-masked model and stay quiet on the normal one; --check."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from bench_helpers import REDUCED_ATTACKS

from art_ext.bench import check
from art_ext.bench.report import PLOT_COST, PLOT_EPS, REPORT_MD, RESULTS_CSV, RESULTS_JSON

MODEL_CHECKS = ("pgd-steps", "huge-eps", "black-box-vs-white-box", "transfer-vs-white-box")


def _checks(results: dict[str, Any]) -> dict[str, bool]:
    return {c["name"]: c["passed"] for c in results["checks"]}


def _rows(results: dict[str, Any], attack: str, mode: str = "fixed") -> dict[float, dict[str, Any]]:
    return {r["eps"]: r for r in results["attacks"] if r["attack"] == attack and r["eps_mode"] == mode}


def test_outputs_exist_and_agree(normal_run: tuple[dict[str, Any], Path]) -> None:
    _, out = normal_run
    for name in (RESULTS_JSON, RESULTS_CSV, REPORT_MD, PLOT_EPS, PLOT_COST):
        assert (out / name).is_file(), name
        assert (out / name).stat().st_size > 200, name
    stored = json.loads((out / RESULTS_JSON).read_text())
    assert stored["outputs"]["plots"] == [PLOT_EPS, PLOT_COST]
    hardware = stored["environment"]["hardware"]
    assert {"cpu_capability", "cpu_bf16_native", "torch_threads"} <= set(hardware)
    for dist in ("numpy", "scipy", "scikit-learn", "eagerpy"):  # what the drift check pins
        assert stored["environment"]["versions"][dist]
    versions = stored["environment"]["versions"]
    for dist in ("art-ext", "adversarial-robustness-toolbox", "foolbox", "torch", "transformers"):
        assert dist in versions
    assert stored["environment"]["device"] == "cpu" and stored["environment"]["machine"]
    assert stored["config"]["seed"] == 0 and stored["config"]["attacks"] == REDUCED_ATTACKS

    with (out / RESULTS_CSV).open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(stored["attacks"])
    for from_csv, from_json in zip(rows, stored["attacks"]):
        assert from_csv["attack"] == from_json["attack"]
        assert float(from_csv["robust_accuracy"]) == pytest.approx(from_json["robust_accuracy"])
        assert from_csv["flags"] == ";".join(from_json["flags"])
    assert {r["attack"] for r in stored["attacks"]} == set(REDUCED_ATTACKS)

    report = (out / REPORT_MD).read_text()
    for name in REDUCED_ATTACKS + list(MODEL_CHECKS):
        assert name in report
    assert "Robust accuracy (%) vs Linf ε:" in report and "Robust accuracy (%) vs L2 ε:" in report
    pgd = {r["eps"]: r for r in stored["attacks"] if r["attack"] == "art.pgd"}
    assert (f"| art.pgd | white-box | {pgd[0.1]['n']} | {100 * pgd[0.1]['robust_accuracy']:.1f} | "
            f"{100 * pgd[0.2]['robust_accuracy']:.1f} |") in report  # the pivot row: one cell per eps
    for row in stored["attacks"]:
        if row["eps_mode"] == "fixed":
            cells = f"| {row['attack']} | {row['threat']} | Linf | {row['eps']:g} | {row['n']} | {100 * row['robust_accuracy']:.1f} |"
            assert cells in report


def test_plots_are_real_images(normal_run: tuple[dict[str, Any], Path]) -> None:
    import matplotlib.image as mpimg

    _, out = normal_run
    for name in (PLOT_EPS, PLOT_COST):
        image = mpimg.imread(out / name)
        assert image.shape[0] > 300 and image.shape[1] > 500
        assert float(np.std(image)) > 0.05  # not a blank canvas


def test_metrics_are_plausible(normal_run: tuple[dict[str, Any], Path]) -> None:
    results, _ = normal_run
    assert results["model"]["clean_accuracy"] >= 0.85
    fgsm, pgd, square = (_rows(results, a) for a in ("art.fgsm", "art.pgd", "art.square"))
    for eps in (0.1, 0.2):
        assert pgd[eps]["robust_accuracy"] <= fgsm[eps]["robust_accuracy"] + 0.05
        assert pgd[eps]["linf_max"] <= eps + 1e-5
        assert pgd[eps]["queries_per_example"] >= 40  # 40 gradient steps, each a forward pass
        assert fgsm[eps]["queries_per_example"] == pytest.approx(1.0)
        assert square[eps]["queries_per_example"] > 1
        assert pgd[eps]["examples_per_s"] == pytest.approx(1 / pgd[eps]["time_per_example_s"])
    assert pgd[0.2]["robust_accuracy"] < pgd[0.1]["robust_accuracy"]
    cw = _rows(results, "foolbox.cw_l2", "minimal")[None]
    thresholds = _rows(results, "foolbox.cw_l2", "threshold")
    assert cw["success_rate"] > 0.9 and cw["l2_mean"] is not None
    assert thresholds[2.0]["robust_accuracy"] <= thresholds[1.0]["robust_accuracy"]


def test_checks_pass_on_the_normal_model(normal_run: tuple[dict[str, Any], Path]) -> None:
    results, _ = normal_run
    checks = _checks(results)
    assert set(MODEL_CHECKS) <= set(checks)
    assert all(checks.values()), [c for c in results["checks"] if not c["passed"]]
    assert not results["flagged"]
    assert all(not r["flags"] for r in results["attacks"])


def test_checks_fire_on_a_gradient_masked_model(masked_run: tuple[dict[str, Any], Path]) -> None:
    results, out = masked_run
    checks = _checks(results)
    # Zero input gradients: PGD cannot move, so a whole-range eps does not reach 0%, and both
    # the score-based Square attack and transfer from a surrogate beat "white-box" PGD.
    assert not checks["huge-eps"]
    assert not checks["black-box-vs-white-box"]
    assert not checks["transfer-vs-white-box"]
    assert not checks["black-box-beats-white-box"]  # the row-level comparison agrees
    assert results["flagged"]
    pgd = _rows(results, "art.pgd")
    assert pgd[0.2]["robust_accuracy"] > 0.5  # the masking really hides the weakness
    for row in results["attacks"]:
        if row["threat"] == "white-box":
            assert "gradient-masking" in row["flags"], row["attack"]
        else:
            assert "gradient-masking" not in row["flags"]
    # and the flag reaches every output
    assert "gradient-masking" in (out / RESULTS_CSV).read_text()
    report = (out / REPORT_MD).read_text()
    assert "(!) art.pgd" in report and "**FAILED** `huge-eps`" in report


def test_check_reports_no_drift_on_itself_and_drift_on_a_change(normal_run: tuple[dict[str, Any], Path]) -> None:
    results, _ = normal_run
    same = check.compare(results, json.loads(json.dumps(results)))
    assert same["ok"] and same["rows_compared"] == len(results["attacks"])
    changed = json.loads(json.dumps(results))
    changed["attacks"][0]["robust_accuracy"] += 0.1
    changed["checks"][0]["passed"] = not changed["checks"][0]["passed"]
    report = check.compare(results, changed)
    assert not report["ok"] and len(report["drift"]) == 2


def test_check_rerun_is_reproducible(tmp_path: Path, bench_cache: Path) -> None:
    from bench_helpers import reduced_config

    from art_ext.cli.bench import run_cli

    config = reduced_config(tmp_path / "first", bench_cache, attacks=["art.fgsm", "art.pgd"], n_test=30, checks=False)
    from art_ext.bench.suite import run

    run(config, progress=False)
    code = run_cli(["--check", str(tmp_path / "first" / RESULTS_JSON), "--out", str(tmp_path / "again"), "--quiet"])
    assert code == 0
    report = json.loads((tmp_path / "again" / check.CHECK_JSON).read_text())
    assert report["ok"] and report["rows_compared"] == 4 and report["drift"] == []


def test_trainers_suite_equal_settings(tmp_path: Path, bench_cache: Path) -> None:
    from bench_helpers import reduced_config

    from art_ext.bench.report import PLOT_TRAINERS, TRAINERS_CSV
    from art_ext.bench.suite import run

    config = reduced_config(tmp_path, bench_cache, suite="trainers", trainers=["art.madry_pgd", "pgd"],
                            trainer_epochs=1, n_train=500, autoattack="none", params={"pgd": {"max_iter": 3}})
    results = run(config, progress=False)
    rows = {r["trainer"]: r for r in results["trainers"]}
    assert set(rows) == {"art.madry_pgd", "pgd"}
    for row in rows.values():
        assert row["error"] is None, row["error"]
        assert row["accepted_params"]["eps"] == results["trainer_settings"]["eps"] == pytest.approx(0.1)
        assert row["epochs"] == 1 and row["time_per_epoch_s"] > 0
        assert row["pgd_label"] == "PGD-40x2" and 0.0 <= row["pgd_accuracy"] <= row["clean_accuracy"]
        huge = {c["name"]: c for c in row["checks"]}["huge-eps"]
        assert huge["passed"]  # whole-range PGD breaks every honest model
        assert row["autoattack_accuracy"] is None
    assert rows["pgd"]["accepted_params"]["max_iter"] == 3  # the user's --param reaches the trainer
    for name in (TRAINERS_CSV, PLOT_TRAINERS, REPORT_MD, RESULTS_JSON):
        assert (tmp_path / name).is_file(), name


def test_cli_output_redirected_has_no_progress_bars_and_fits(tmp_path: Path, bench_cache: Path) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "OMP_NUM_THREADS": "1", "ART_EXT_BLOCK_PLUGINS": "clash,raising"}
    cmd = [sys.executable, "-m", "art_ext", "bench", "--attacks", "art.fgsm,art.deepfool,advgan", "--n-test", "20",
           "--n-check", "20", "--param", "advgan:nb_epochs=1", "--param", "advgan:eps_grid=[0.2]",
           "--cache-dir", str(bench_cache), "--out", str(tmp_path / "o")]
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # stderr is not a terminal: no bars, no cursor escapes
    lines = result.stdout.splitlines()
    assert lines[0] == "art-ext bench: default suite" and any(line.startswith("  threads  1") for line in lines)
    assert any(line.startswith(f"wrote {tmp_path / 'o'}/: results.json") for line in lines)
    assert any(line.startswith("wall time ") for line in lines)
    table = [line for line in lines if line.startswith(("attack ", "art.", "advgan"))]
    assert len(table) >= 4 and max(len(line) for line in table) <= 110


def test_strict_versions_make_a_pinned_version_change_drift(normal_run: tuple[dict[str, Any], Path]) -> None:
    results, _ = normal_run
    other = json.loads(json.dumps(results))
    other["environment"]["versions"]["numpy"] = "0.0.1"
    other["environment"]["versions"]["matplotlib"] = "0.0.1"  # does not change the numbers
    assert check.compare(results, other)["ok"]
    strict = check.compare(results, other, strict_versions=True)
    assert not strict["ok"] and len(strict["drift"]) == 1 and strict["drift"][0].startswith("version of numpy")
    other["environment"]["hardware"]["cpu_bf16_native"] = not results["environment"]["hardware"]["cpu_bf16_native"]
    assert "cpu_bf16_native" in check.compare(results, other)["hardware_changes"]
