"""The trainer benchmark's converged units: a cut-off evaluation costs only itself, never another run's weights."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch
from benchmark_modules import load_benchmark

from art_ext.evaluation import AttackResult, EvaluationReport
from art_ext.models import SmallCNN

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_benchmark("trainers")


@pytest.fixture(scope="module")
def report() -> ModuleType:
    return load_benchmark("trainers_report")


def _fresh() -> SimpleNamespace:
    torch.manual_seed(0)
    return SimpleNamespace(model=SmallCNN((1, 28, 28), 10))


def test_an_interrupted_unit_evaluates_the_saved_weights_and_refuses_another_runs(
    bench: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trained: list[dict[str, Any]] = []

    def fake_train(method: str, clf: Any, data: Any, **kwargs: Any) -> dict[str, Any]:
        trained.append({"method": method, **kwargs})
        with torch.no_grad():
            for parameter in clf.model.parameters():
                parameter.add_(float(len(trained)))
        return {"method": method, "epochs": kwargs["epochs"], "train_seconds": 1.0}

    monkeypatch.setattr(bench, "train", fake_train)
    folder = tmp_path / "units" / "pgd" / "seed0"
    first = _fresh()
    bench.trained_unit(folder, "pgd", first, None, eps=0.3, epochs=40, seed=0, chosen={})
    assert len(trained) == 1 and (folder / "model.pt").is_file() and (folder / "train.json").is_file()

    resumed = _fresh()
    record = bench.trained_unit(folder, "pgd", resumed, None, eps=0.3, epochs=40, seed=0, chosen={})
    assert len(trained) == 1, "the saved weights of the same run were trained again"
    assert record["train_seconds"] == 1.0
    for ours, saved in zip(resumed.model.state_dict().values(), first.model.state_dict().values()):
        assert torch.equal(ours, saved)

    for other in ({"epochs": 20}, {"seed": 1}, {"chosen": {"k": 2.0}}):
        call = {"eps": 0.3, "epochs": 40, "seed": 0, "chosen": {}, **other}
        before = len(trained)
        bench.trained_unit(folder, "pgd", _fresh(), None, **call)
        assert len(trained) == before + 1, f"another run's weights were taken for {other}"
        bench.trained_unit(folder, "pgd", _fresh(), None, eps=0.3, epochs=40, seed=0, chosen={})  # restore the run
    before = len(trained)
    bench.trained_unit(folder, "nfgsm", _fresh(), None, eps=0.3, epochs=40, seed=0, chosen={})
    assert len(trained) == before + 1


def test_a_unit_the_guard_stopped_reports_the_epochs_it_trained(report: ModuleType) -> None:
    unit = ROOT / "benchmarks/results/trainers-converged/units/smallcnn/eps0.3/nfgsm/seed0/unit.json"
    if not unit.is_file():
        pytest.skip("the recorded nfgsm unit is not in this checkout")
    record = json.loads(unit.read_text())
    stopped_at = record["history"][-1]["epoch"]
    assert stopped_at < record["epochs"]  # the recorded run: the collapse guard ended it early
    summary = report.summarise([record])
    assert summary["epochs_run"] == [stopped_at]
    assert summary["epoch_seconds"]["mean"] == pytest.approx(record["train_seconds"] / stopped_at)
    assert report.epochs_text(summary) == f"{record['epochs']} (stopped at {stopped_at})"


def test_a_gpu_timing_column_names_the_gpu_and_a_cpu_one_does_not(report: ModuleType) -> None:
    hardware = {"cuda_devices": ["NVIDIA H200"]}
    gpu = {"threads": 8, "command": "python benchmarks/trainers.py timing --device cuda", "load_avg_before": [0.4],
           "environment": {"hardware": hardware}}
    # the same machine training on its CPU: a GPU being present does not make the column a GPU one
    cpu = {**gpu, "command": "python benchmarks/trainers.py timing", "device": "cpu"}
    assert report.run_label(gpu) == "NVIDIA H200, 8 thread(s) (load 0.4)"
    assert report.run_label(cpu) == "8 thread(s) (load 0.4)"
    assert report.run_label({**cpu, "device": "cuda"}).startswith("NVIDIA H200, ")


def _unit(seed: int, *, precision: str = "fp32", cpu: str = "AMD EPYC", seconds: float = 400.0) -> dict[str, Any]:
    evaluation = EvaluationReport(0.3, "inf", np.ones(10, dtype=bool))
    evaluation.add(AttackResult("PGD-50x1", "PGD", np.arange(10) < 8 - seed % 2))
    return {"method": "trades", "seed": seed, "epochs": 40, "precision": precision, "train_seconds": seconds,
            "history": [{"epoch": e} for e in range(1, 41)], "guard": None, "params": {},
            "evaluation": evaluation.to_dict(), "environment": {"hardware": {"cpu_model": cpu}}}


def test_seeds_of_one_method_in_two_precisions_are_refused(report: ModuleType) -> None:
    # precision "auto" resolves to fp32 on one CPU and bf16 on another: pooling them mixes two procedures
    with pytest.raises(ValueError, match="different precisions"):
        report.summarise([_unit(0), _unit(1, precision="bf16")])


def test_training_times_of_two_cpus_are_never_averaged(report: ModuleType) -> None:
    units = [_unit(0, seconds=2400.0), _unit(1, seconds=2000.0), _unit(2, cpu="Intel(R) Xeon(R)", seconds=1200.0)]
    summary = report.summarise(units)
    per_epoch, per_unit = report.timing_cells(summary)
    assert per_unit == "2200 (AMD EPYC, 2); 1200 (Intel(R) Xeon(R), 1)"
    assert per_epoch == "55.0 (AMD EPYC, 2); 30.0 (Intel(R) Xeon(R), 1)"
    assert report.timing_cells(report.summarise(units[:2])) == ("55.0", "2200")
