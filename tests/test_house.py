"""House rules (issue 23): committed documents and results hold no absolute path of the machine
that produced them, new results record paths portably (``$ART_EXT_DATA/...``) and ``bench --check``
reads them back; every plotted series has its own style."""

from __future__ import annotations

from pathlib import Path

from benchmark_modules import load_benchmark

ROOT = Path(__file__).resolve().parents[1]
portable_paths = load_benchmark("portable_paths")


def test_no_committed_document_or_result_holds_a_machine_path():
    found = {str(p.relative_to(ROOT)): sorted(set(portable_paths.machine_paths(p.read_text())))[:3]
             for p in portable_paths.committed_documents(ROOT)}
    found = {name: paths for name, paths in found.items() if paths}
    assert not found, f"absolute machine paths (rewrite with benchmarks/portable_paths.py): {found}"
    assert portable_paths.machine_paths("--data-dir /work/shared/data/mnist and /root/.cache/x")  # the scan bites


def test_paths_are_recorded_portably_and_read_back(tmp_path, monkeypatch):
    import json
    import os

    from art_ext.bench.check import config_for_rerun
    from art_ext.bench.config import BenchConfig
    from art_ext.data import portable_command, portable_path

    data = tmp_path / "data"
    (data / "mnist").mkdir(parents=True)
    monkeypatch.setenv("ART_EXT_DATA", str(data))
    monkeypatch.chdir(tmp_path)
    assert portable_path(data / "mnist") == "$ART_EXT_DATA/mnist"
    assert portable_path(tmp_path / "runs" / "a") == "runs/a"
    assert portable_path("relative/x") == "relative/x"
    assert portable_command(["art-ext", "bench", "--data-dir", str(data / "mnist"), "--out=" + str(tmp_path / "o")]) \
        == "art-ext bench --data-dir $ART_EXT_DATA/mnist --out=o"
    recorded = BenchConfig(dataset="mnist", data_dir=str(data / "mnist")).to_dict()
    assert recorded["data_dir"] == "$ART_EXT_DATA/mnist"
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"config": recorded}))
    rerun = config_for_rerun(json.loads(results.read_text()), results)
    assert os.path.samefile(rerun.data_dir, data / "mnist")


def test_every_plotted_series_has_its_own_colour_and_marker():
    from art_ext.bench.report import series_styles

    for n in (9, 11, 25, 130, 400):
        styles = series_styles([f"attack-{i}" for i in range(n)])
        pairs = {(tuple(colour), marker) for colour, marker in styles.values()}
        assert len(pairs) == n  # advgan and foolbox.linf_pgd once shared both (the colour cycle wrapped at ten)


def test_no_import_circle_in_art_ext_or_its_plugins():
    graph_module = load_benchmark("import_graph")
    graph = graph_module.edges()
    assert graph["art_ext.cli.runners"] and graph["art_ext.evaluation.robust"]  # the graph is read, not empty
    assert graph_module.cycles(graph) == []
    assert graph_module.cycles({"a": {"b"}, "b": {"a"}, "c": set()}) == [["a", "b"]]  # and a circle is found


def _import_graph() -> dict[str, set[str]]:
    graph_module = load_benchmark("import_graph")
    graph: dict[str, set[str]] = graph_module.edges()
    return graph


def _within(name: str, *packages: str) -> bool:
    return any(name == package or name.startswith(package + ".") for package in packages)


def test_layers_import_only_downward():
    """ops and the trainer/evaluation core <- bench <- cli; plugins use art_ext's public modules."""
    graph = _import_graph()
    upward = []
    for source, targets in graph.items():
        for target in targets:
            if source.endswith("__main__"):  # entry points sit above every layer
                continue
            if _within(target, "art_ext.cli") and not _within(source, "art_ext.cli") and target != "art_ext.cli.runners":
                upward.append((source, target))  # only the runner contract is for plugins
            if _within(target, "art_ext.bench") and not _within(source, "art_ext.bench", "art_ext.cli", "art_ext_plugins"):
                upward.append((source, target))
            if _within(source, "art_ext.core", "art_ext.evaluation") and not _within(
                    target, "art_ext.core", "art_ext.evaluation", "art_ext.checks", "art_ext.attack_checks", "art_ext.data"):
                upward.append((source, target))
            if _within(source, "art_ext_plugins") and target.startswith("art_ext.") and any(
                    part.startswith("_") for part in target.split(".")):
                upward.append((source, target))  # plugins never reach into art_ext's private modules
    assert upward == []


TEXT_LAYERS = {"model": 0, "attacks": 1, "training": 2, "benchmark": 3, "cli": 3}


def test_text_plugin_layers_import_only_downward():
    """model <- attacks <- training <- benchmark and cli, inside the text plugin."""
    graph = _import_graph()
    text = "art_ext_plugins.text."
    upward = [(source, target) for source, targets in graph.items() if source.startswith(text)
              for target in targets if target.startswith(text)
              and TEXT_LAYERS[target.split(".")[2]] > TEXT_LAYERS[source.split(".")[2]]]
    assert {name.split(".")[2] for name in graph if name.startswith(text)} == set(TEXT_LAYERS)
    assert upward == []


LONG_MODULE = 400


def test_a_long_module_says_why_at_its_top():
    """A module past ~400 lines usually holds two things: it is split, or its docstring says why not."""
    unexplained = []
    for folder in (ROOT / "art_ext", ROOT / "plugins"):
        for path in folder.rglob("*.py"):
            text = path.read_text()
            if text.count("\n") > LONG_MODULE + 20 and "lines on purpose" not in text[:1500]:
                unexplained.append((str(path.relative_to(ROOT)), text.count("\n")))
    assert unexplained == []
