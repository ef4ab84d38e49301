"""Bad input fails early with a one-line message; selection by name/glob; plugin attacks appear."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from bench_helpers import reduced_config

import art_ext
from art_ext.bench import attacks as attack_runner
from art_ext.bench.setup import BenchInputError
from art_ext.bench.suite import run
from art_ext.cli.bench import config_from_args, configure_parser, parse_param, run_cli
from art_ext.registry import UnknownAttackError


@pytest.fixture
def no_attack_may_run(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("an attack ran before the input was validated")

    monkeypatch.setattr(attack_runner, "run_attack", fail)


@pytest.fixture
def factories(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "bench_user_models.py").write_text(textwrap.dedent("""
        from art_ext.models import SmallCNN

        def seven_classes():
            return SmallCNN((1, 8, 8), 7)

        def ten_classes():
            return SmallCNN((1, 8, 8), 10)

        def not_a_module():
            return 42
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    sys.modules.pop("bench_user_models", None)


def _parse(argv: list[str]) -> Any:
    import argparse

    parser = argparse.ArgumentParser()
    configure_parser(parser)
    return parser.parse_args(argv)


def test_unknown_attack_lists_the_available_ones(tmp_path: Path, bench_cache: Path, no_attack_may_run: None) -> None:
    with pytest.raises(UnknownAttackError) as info:
        run(reduced_config(tmp_path, bench_cache, attacks=["art.pgd", "no-such-attack"]), progress=False)
    message = str(info.value)
    assert "'no-such-attack' is not a registered attack" in message
    assert "available:" in message and "art.pgd" in message and "foolbox.linf_pgd" in message
    assert "\n" not in message
    with pytest.raises(UnknownAttackError, match="matches no attack"):
        run(reduced_config(tmp_path, bench_cache, attacks=["zzz.*"]), progress=False)


def test_cli_prints_one_line_and_exit_code_2(capsys: pytest.CaptureFixture[str], no_attack_may_run: None) -> None:
    assert run_cli(["attacks", "--attacks", "nope", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "available:" in err and "art.fgsm" in err


def test_output_width_mismatch_fails_before_any_attack(tmp_path: Path, bench_cache: Path, factories: Path,
                                                      no_attack_may_run: None) -> None:
    config = reduced_config(tmp_path, bench_cache, model="bench_user_models:seven_classes", nb_classes=10)
    with pytest.raises(BenchInputError, match=r"^the model outputs 7 classes but --nb-classes is 10$"):
        run(config, progress=False)


def test_input_shape_mismatch_fails_before_any_attack(tmp_path: Path, bench_cache: Path, no_attack_may_run: None) -> None:
    config = reduced_config(tmp_path, bench_cache, input_shape=(1, 28, 28))
    with pytest.raises(BenchInputError, match=r"--input-shape 1,28,28 does not match the data's 1,8,8"):
        run(config, progress=False)


def test_model_that_rejects_the_data_fails_early(tmp_path: Path, bench_cache: Path, no_attack_may_run: None) -> None:
    scripted = torch.jit.script(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10)))
    path = tmp_path / "mnist_linear.pt"
    scripted.save(str(path))
    with pytest.raises(BenchInputError, match="does not accept inputs of shape"):
        run(reduced_config(tmp_path, bench_cache, model=str(path)), progress=False)


def test_bad_model_specs(tmp_path: Path, bench_cache: Path, factories: Path, no_attack_may_run: None) -> None:
    with pytest.raises(BenchInputError, match="not a torch.nn.Module"):
        run(reduced_config(tmp_path, bench_cache, model="bench_user_models:not_a_module"), progress=False)
    with pytest.raises(BenchInputError, match="cannot import module"):
        run(reduced_config(tmp_path, bench_cache, model="no_such_module_xyz:f"), progress=False)
    with pytest.raises(BenchInputError, match="no such file, and not of the form module:factory"):
        run(reduced_config(tmp_path, bench_cache, model=str(tmp_path / "missing.pt")), progress=False)
    wrong = tmp_path / "wrong.pt"
    torch.save(torch.nn.Linear(3, 3).state_dict(), wrong)
    with pytest.raises(BenchInputError, match="does not fit the model"):
        run(reduced_config(tmp_path, bench_cache, model="bench_user_models:ten_classes", state_dict=str(wrong)),
            progress=False)


def test_user_model_from_factory_and_state_dict_runs(tmp_path: Path, bench_cache: Path, factories: Path) -> None:
    from art_ext.data import load_digits
    from art_ext.models import SmallCNN, train_model

    data = load_digits()
    torch.manual_seed(1)
    model = train_model(SmallCNN((1, 8, 8), 10), data.x_train, data.y_train, epochs=3)
    weights = tmp_path / "weights.pt"
    torch.save(model.state_dict(), weights)
    config = reduced_config(tmp_path / "out", bench_cache, model="bench_user_models:ten_classes", state_dict=str(weights),
                            input_shape=(1, 8, 8), nb_classes=10, attacks=["art.fgsm"], checks=False, n_test=30)
    results = run(config, progress=False)
    assert results["model"]["source"] == "factory bench_user_models:ten_classes"
    assert results["model"]["clean_accuracy"] > 0.8
    assert [r["eps"] for r in results["attacks"]] == [0.1, 0.2]


def test_bad_arguments_raise_value_errors() -> None:
    with pytest.raises(ValueError, match="--clip-values"):
        config_from_args(_parse(["--clip-values", "1,0"]))
    with pytest.raises(ValueError, match="--n-test"):
        config_from_args(_parse(["--n-test", "0"]))
    with pytest.raises(ValueError, match="--eps"):
        config_from_args(_parse(["--eps", "0.1,-1"]))
    with pytest.raises(ValueError, match="bench text"):
        config_from_args(_parse(["attacks", "--dataset", "mr"]))
    with pytest.raises(ValueError, match="ATTACK:KEY=VALUE"):
        parse_param("art.pgd.max_iter=3")
    assert parse_param("art.square:max_iter=100") == ("art.square", "max_iter", 100)
    config = config_from_args(_parse(["attacks", "--attacks", "advgan, art.*", "--param", "art.pgd:max_iter=5"]))
    assert config.attacks == ["advgan", "art.*"] and config.attack_params("art.pgd")["max_iter"] == 5


def test_selection_by_glob_and_text_attacks_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    candidates = attack_runner.available_attacks()
    chosen = attack_runner.select(["art.p*", "foolbox.*", "art.pgd"], candidates)
    assert chosen == ["art.pgd", "foolbox.cw_l2", "foolbox.l2_pgd", "foolbox.linf_deepfool", "foolbox.linf_pgd"]
    fake = {**candidates, "t.embed": attack_runner.Candidate("t.embed", "t", "text", "")}
    monkeypatch.setattr(attack_runner, "available_attacks", lambda: fake)
    from art_ext.bench.suite import _select_image_attacks

    names, _, skipped = _select_image_attacks(reduced_config(Path("."), Path("."), attacks=["t.*", "art.fgsm"]))
    assert names == ["art.fgsm"] and skipped == [{"name": "t.embed", "reason": "text attack: run `art-ext bench text`"}]


class _ThirdParty:
    """A plugin registered at run time: the suite must pick its attack up unchanged."""

    @art_ext.hookimpl
    def register_attacks(self, register: Any) -> None:
        register("thirdparty.noise", "bench_third_party:UniformNoise", description="test: bounded noise")

    @art_ext.hookimpl
    def register_trainers(self, register: Any) -> None:
        pass


def test_third_party_attack_is_benchmarked(tmp_path: Path, bench_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "bench_third_party.py").write_text(textwrap.dedent("""
        import numpy as np
        from art.attacks import EvasionAttack
        from art.estimators.estimator import BaseEstimator

        class UniformNoise(EvasionAttack):
            attack_params = ["eps", "norm"]
            _estimator_requirements = (BaseEstimator,)

            def __init__(self, estimator, eps=0.1, norm=np.inf):
                super().__init__(estimator=estimator)
                self.eps, self.norm = eps, norm

            def generate(self, x, y=None, **kwargs):
                rng = np.random.default_rng(0)
                noise = rng.uniform(-self.eps, self.eps, size=x.shape).astype(np.float32)
                return np.clip(x + noise, 0, 1)
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    manager = art_ext.get_plugin_manager()
    plugin = _ThirdParty()
    manager.register(plugin, name="bench-third-party")
    try:
        results = run(reduced_config(tmp_path / "out", bench_cache, attacks=["thirdparty.*"], checks=False, n_test=30),
                      progress=False)
    finally:
        manager.unregister(plugin)
        sys.modules.pop("bench_third_party", None)
    rows = results["attacks"]
    assert [r["attack"] for r in rows] == ["thirdparty.noise", "thirdparty.noise"]
    assert rows[0]["source"] == "bench-third-party" and rows[0]["threat"] == "black-box"
    assert all(r["error"] is None for r in rows)
    assert all(r["max_linf_all"] <= r["eps"] + 1e-6 for r in rows)
    assert np.isclose(rows[0]["queries_per_example"], 0.0)


def test_text_suite_without_a_plugin_benchmark_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from art_ext.bench import suite
    from art_ext.bench.config import BenchConfig

    monkeypatch.setattr(suite, "TEXT_BENCH_TARGET", "art_ext_plugins.text.no_such_bench:run_bench")
    config = BenchConfig(suite="text", dataset="mr", out=str(tmp_path))
    with pytest.raises(suite.BenchUnavailableError, match=r"the text plugin provides no benchmark"):
        suite.run(config, progress=False)
    monkeypatch.setattr(suite.importlib.util, "find_spec", lambda name, *a: None if name == "transformers" else object())
    with pytest.raises(suite.BenchUnavailableError, match=r"needs transformers: pip install 'art-ext\[text\]'"):
        suite.run(config, progress=False)


def test_text_suite_delegates_to_the_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from art_ext.bench import suite
    from art_ext.bench.config import BenchConfig

    (tmp_path / "bench_fake_text.py").write_text(
        "def run_bench(config):\n    return {'summary': {'dataset': config.dataset, 'clean_accuracy': 0.8}}\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(suite, "TEXT_BENCH_TARGET", "bench_fake_text:run_bench")
    results = suite.run(BenchConfig(suite="text", dataset="mr", out=str(tmp_path / "out")), progress=False)
    assert results["text"]["summary"] == {"dataset": "mr", "clean_accuracy": 0.8}
    assert (tmp_path / "out" / "results.json").is_file() and "Text suite" in (tmp_path / "out" / "report.md").read_text()
    sys.modules.pop("bench_fake_text", None)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--attacks", "art.fgsm", "--param", "art.fgsm:eps_stpe=0.1"], "--param art.fgsm:eps_stpe: art.fgsm rejects it"),
        (["--attacks", "foolbox.linf_pgd", "--param", "foolbox.linf_pgd:stpes=3"], "--param foolbox.linf_pgd:stpes"),
        (["--attacks", "art.fgsm", "--param", "art.fgms:eps_step=0.1"], "'art.fgms' is not a registered attack or trainer (did you mean art.fgsm?)"),
        (["--attacks", "art.autoattack", "--param", "art.autoattack:foo=1"], "--param art.autoattack:foo"),
        (["--attacks", "art.pgd", "--param", "art.pgd:n_examples=0"], "n_examples must be a positive integer"),
        (["trainers", "--trainers", "pgd", "--param", "pgd:max_itr=3"], "--param pgd:max_itr: trainer pgd rejects it"),
    ],
)
def test_param_typo_exits_2_before_anything_runs(argv: list[str], message: str, bench_cache: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str], no_attack_may_run: None,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from art_ext.bench import trainers
    from art_ext.cli import main

    monkeypatch.setattr(trainers, "run_trainers", lambda *a, **k: (_ for _ in ()).throw(AssertionError("trained")))
    code = main(["bench", *argv, "--n-test", "20", "--no-checks", "--quiet", "--cache-dir", str(bench_cache),
                 "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message in err[0], err


class _NoNormPlugin:
    """The README's example attack: ``eps`` but no ``norm``."""

    @art_ext.hookimpl
    def register_attacks(self, register: Any) -> None:
        register("nonorm.noise", "bench_no_norm:Noise", description="test: noise without a norm attribute")
        register("broken.attack", "bench_no_norm:Broken", description="test: raises in generate")


def test_attack_without_norm_is_linf_and_a_failing_attack_exits_1(tmp_path: Path, bench_cache: Path,
                                                                  monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "bench_no_norm.py").write_text(textwrap.dedent("""
        import numpy as np
        from art.attacks import EvasionAttack
        from art.estimators.estimator import BaseEstimator

        class Noise(EvasionAttack):
            attack_params = ["eps"]
            _estimator_requirements = (BaseEstimator,)

            def __init__(self, estimator, eps=0.1):
                super().__init__(estimator=estimator)
                self.eps = eps

            def generate(self, x, y=None, **kwargs):
                noise = np.random.default_rng(0).uniform(-self.eps, self.eps, size=x.shape)
                return np.clip(x + noise, 0, 1).astype(x.dtype)

        class Broken(Noise):
            def generate(self, x, y=None, **kwargs):
                raise RuntimeError("generate broke")
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    manager = art_ext.get_plugin_manager()
    plugin = _NoNormPlugin()
    manager.register(plugin, name="bench-no-norm")
    try:
        results = run(reduced_config(tmp_path / "out", bench_cache, attacks=["nonorm.*"], checks=True, n_test=30),
                      progress=False)
        from art_ext.cli import main

        code = main(["bench", "--attacks", "broken.attack", "--n-test", "10", "--no-checks", "--quiet",
                     "--cache-dir", str(bench_cache), "--out", str(tmp_path / "broken")])
    finally:
        manager.unregister(plugin)
        sys.modules.pop("bench_no_norm", None)
    rows = results["attacks"]
    assert [r["eps"] for r in rows] == [0.1, 0.2]  # the Linf grid, not the L2 one
    assert all(r["norm"] == "inf" and r["norm_assumed"] and r["error"] is None and not r["flags"] for r in rows)
    assert {c["name"]: c["passed"] for c in results["checks"]}["exceeds-eps"]
    assert results["notes"] == ["nonorm.noise: the attack has no norm; benchmarked as Linf"]
    assert not results["flagged"] and results["failed"] == []
    out = capsys.readouterr().out
    assert code == 1 and "FAILED: broken.attack" in out and "RuntimeError: generate broke" in out


def test_check_of_a_file_that_is_not_results_json_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from art_ext.cli import main

    garbage = tmp_path / "results.json"
    garbage.write_text("{not json")
    assert main(["bench", "--check", str(garbage)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"--check {garbage}: not JSON" in err[0]
    assert main(["bench", "--check", str(tmp_path / "missing.json")]) == 2
    assert "no such file" in capsys.readouterr().err
