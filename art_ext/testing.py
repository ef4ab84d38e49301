"""Test helpers for plugin authors, loaded by pytest automatically (entry point ``pytest11``).

Longer than ~400 lines on purpose: it is a pytest plugin (entry point ``pytest11``) whose fixtures
and property checks plugin authors import from one module.

Fixtures:

* ``art_ext_manager``: a fresh plugin manager with the installed plugins loaded, installed as
  the default for the duration of the test (so ``art_ext.get_attack`` sees it).
* ``art_ext_empty_manager``: the same with no plugins loaded.
* ``tiny_classifier``: an untrained ART ``PyTorchClassifier`` on 1x8x8 inputs, 10 classes.

Property-based fuzzing (``hypothesis``) of an attack's or trainer's contract, for any plugin::

    from art_ext.testing import fuzz_attack, fuzz_trainer

    def test_my_attack_keeps_the_contract(tiny_classifier):
        fuzz_attack("my-attack", tiny_classifier, params={"max_iter": 2}, max_examples=25)

Each fuzzed call gets random shapes, dtypes, ranges, NaN placement, label formats and eps values;
it must either raise a ``ValueError``/``TypeError`` from art-ext or plugin code (not from torch,
numpy or ART) whose message names a parameter, or return an output of the input's shape and
dtype, free of NaN, inside ``clip_values`` and (fixed-budget attacks) inside the eps-ball. Then
``fuzz_attack`` holds the attack to three more properties, each also callable on its own:
:func:`assert_set_params_atomic` (a refused ``set_params`` changes nothing),
:func:`assert_layout_kept` (on a channels-last classifier: a clear refusal or the contract) and,
for evaluation reports, :func:`assert_report_consistent` (no attack means no robust figure).

Context manager :func:`registered_plugin` registers a plugin object for one block::

    from art_ext.testing import registered_plugin

    def test_my_attack_is_found(art_ext_manager, tiny_classifier):
        with registered_plugin(MyPlugin(), "mine"):
            attack = art_ext.get_attack("my-attack", tiny_classifier)

Nothing heavy is imported until a fixture is used.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pytest

from art_ext.manager import (
    ArtExtPluginManager,
    create_plugin_manager,
    get_plugin_manager,
    set_plugin_manager,
)


@contextmanager
def registered_plugin(
    plugin: object, name: str | None = None, manager: ArtExtPluginManager | None = None
) -> Iterator[ArtExtPluginManager]:
    """Register ``plugin`` (a module, class or instance with hookimpls) for the ``with`` block."""
    target = manager if manager is not None else get_plugin_manager()
    plugin_name = name or getattr(plugin, "__name__", None) or type(plugin).__name__
    target.add_plugin(plugin, plugin_name)
    try:
        yield target
    finally:
        target.unregister(plugin)
        target.infos.pop(plugin_name, None)


@contextmanager
def default_manager(manager: ArtExtPluginManager) -> Iterator[ArtExtPluginManager]:
    """Make ``manager`` the process default for the ``with`` block."""
    previous = set_plugin_manager(manager)
    try:
        yield manager
    finally:
        set_plugin_manager(previous)


def make_tiny_classifier(
    input_shape: Sequence[int] = (1, 8, 8), nb_classes: int = 10, seed: int = 0
) -> Any:
    """An untrained, deterministic ART ``PyTorchClassifier`` (one conv layer, one linear layer).

    The network is a plain ``nn.Module`` (not an ``nn.Sequential``: ART's TRADES and FBF trainers
    read ``outputs[0]`` of a Sequential model's per-layer outputs and fail on it)."""
    import torch
    from art.estimators.classification import PyTorchClassifier

    class TinyNet(torch.nn.Module):
        def __init__(self, channels: int, pixels: int) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(channels, 4, 3, padding=1)
            self.linear = torch.nn.Linear(4 * pixels, nb_classes)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.linear(torch.relu(self.conv(x)).flatten(1))  # type: ignore[no-any-return]

    torch.manual_seed(seed)
    model = TinyNet(int(input_shape[0]), int(input_shape[1]) * int(input_shape[2]))
    return PyTorchClassifier(
        model=model,
        loss=torch.nn.CrossEntropyLoss(),
        optimizer=torch.optim.Adam(model.parameters(), lr=1e-2),
        input_shape=tuple(input_shape),
        nb_classes=nb_classes,
        clip_values=(0.0, 1.0),
    )


@pytest.fixture
def art_ext_manager() -> Iterator[ArtExtPluginManager]:
    with default_manager(create_plugin_manager()) as manager:
        yield manager


@pytest.fixture
def art_ext_empty_manager() -> Iterator[ArtExtPluginManager]:
    with default_manager(create_plugin_manager(load=False)) as manager:
        yield manager


@pytest.fixture
def tiny_classifier() -> Any:
    return make_tiny_classifier()


# --------------------------------------------------------------------------- fuzzing

#: words a clear error message may start with (the parameter it names)
PARAMETER_WORDS = ("x", "y", "eps", "norm", "labels", "classifier", "estimator", "targeted", "mode", "params",
                   "nb_epochs", "batch_size", "precision", "inputs", "generator", "path", "max_iter", "eps_step")
#: modules an error may be raised from: the library's own checks, not a framework's internals
OWN_MODULES = ("art_ext", "art_ext_plugins")


def raised_by_own_code(error: BaseException, extra_modules: Sequence[str] = ()) -> bool:
    """Whether the innermost frame of ``error``'s traceback is in art-ext (or ``extra_modules``)."""
    import traceback

    frames = traceback.extract_tb(error.__traceback__)
    if not frames:
        return False
    owners = (*OWN_MODULES, *extra_modules)
    filename = frames[-1].filename.replace("\\", "/")
    return any(f"/{owner.replace('.', '/')}/" in filename or f"/{owner}/" in filename for owner in owners) or (
        "/plugins/" in filename and "site-packages" not in filename)


def assert_clear_error(error: BaseException, parameters: Sequence[str] = PARAMETER_WORDS,
                       extra_modules: Sequence[str] = ()) -> None:
    """``error`` is a ValueError/TypeError raised by the library whose message names a parameter."""
    import re

    assert isinstance(error, (ValueError, TypeError)), f"{type(error).__name__}: {error}"
    assert raised_by_own_code(error, extra_modules), f"raised from a framework, not checked first: {error!r}"
    message = str(error)
    named = any(re.search(rf"(^|[^\w]){re.escape(word)}([^\w]|$)", message) for word in parameters)
    assert named, f"the message names no parameter: {message!r}"


def images_strategy(input_shape: Sequence[int], clip_values: tuple[float, float] = (0.0, 1.0)) -> Any:
    """Batches of inputs, valid and invalid: shapes, dtypes, ranges and NaN/inf placement vary."""
    import numpy as np
    from hypothesis import strategies as st

    shape = tuple(int(d) for d in input_shape)

    @st.composite
    def build(draw: Any) -> Any:
        n = draw(st.integers(1, 4))
        kind = draw(st.sampled_from(["ok", "ok", "ok", "channels", "flat", "empty"]))
        dims = {"ok": (n, *shape), "channels": (n, shape[0] + 1, *shape[1:]), "flat": (n, int(np.prod(shape))),
                "empty": (0, *shape)}[kind]
        seed = draw(st.integers(0, 2**16))
        values = np.random.default_rng(seed).random(dims)
        low, high = clip_values
        scale = draw(st.sampled_from(["in", "in", "in", "x255", "negative", "edges"]))
        if scale == "in":
            values = low + values * (high - low)
        elif scale == "x255":
            values = values * 255.0
        elif scale == "negative":
            values = values - 0.75
        else:
            values = np.where(values > 0.5, high, low)
        if draw(st.booleans()) and values.size and draw(st.integers(0, 3)) == 0:
            flat = values.reshape(-1)
            flat[draw(st.integers(0, flat.size - 1))] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
        dtype = draw(st.sampled_from([np.float32, np.float32, np.float64, np.float16, np.uint8, np.int64]))
        if dtype in (np.uint8, np.int64):
            return np.clip(np.nan_to_num(values, posinf=255, neginf=0), 0, 255).astype(dtype)
        return values.astype(dtype)

    return build()


def labels_strategy(n_max: int, nb_classes: int) -> Any:
    """Labels in every format and some broken ones (``None`` included)."""
    import numpy as np
    from hypothesis import strategies as st

    @st.composite
    def build(draw: Any) -> Any:
        n = draw(st.integers(1, n_max))
        kind = draw(st.sampled_from(["none", "index", "index", "one-hot", "float", "fraction", "range", "soft", "short"]))
        seed = draw(st.integers(0, 2**16))
        rng = np.random.default_rng(seed)
        index = rng.integers(0, nb_classes, n)
        return {
            "none": None, "index": index, "one-hot": np.eye(nb_classes, dtype=np.float32)[index],
            "float": index.astype(np.float64), "fraction": index + 0.5, "range": index + nb_classes,
            "soft": np.full((n, nb_classes), 1.0 / nb_classes), "short": index[: max(0, n - 1)],
        }[kind]

    return build()


def eps_strategy() -> Any:
    """Budgets: valid ones and zero, negative, NaN, too large, not a number."""
    from hypothesis import strategies as st

    return st.one_of(st.floats(0.01, 0.5), st.sampled_from([0.0, -0.1, float("nan"), 3.0, 1e9, True, "0.1"]))


def _output_contract(attack: Any, x: Any, x_adv: Any) -> None:
    import numpy as np

    from art_ext.attack_checks import fixed_budget

    x_adv = np.asarray(x_adv)
    assert x_adv.shape == x.shape, f"shape {x_adv.shape} != {x.shape}"
    assert x_adv.dtype == x.dtype, f"dtype {x_adv.dtype} != {x.dtype}"
    assert np.isfinite(x_adv).all(), "NaN or inf in the output"
    clip = getattr(attack.estimator, "clip_values", None)
    if clip is not None:
        tol = 1e-6
        assert x_adv.min() >= np.min(clip[0]) - tol and x_adv.max() <= np.max(clip[1]) + tol, "outside clip_values"
    budget = fixed_budget(attack)
    if budget is not None:
        eps, norm = budget
        delta = (x_adv.astype(np.float64) - x.astype(np.float64)).reshape(len(x), -1)
        size = np.abs(delta).max(axis=1) if norm == "inf" else np.linalg.norm(delta, axis=1)
        assert size.max() <= eps * (1 + 1e-5) + 1e-6, f"perturbation {size.max()} > eps {eps}"


#: budgets ``set_params`` must refuse, leaving the attack as it was
BAD_EPS = (-0.1, 0.0, float("nan"), 1e9, "0.1")


def assert_set_params_atomic(attack: Any, bad_values: Sequence[Any] = BAD_EPS, name: str = "eps",
                             extra_modules: Sequence[str] = ()) -> None:
    """Every refused ``set_params(**{name: value})`` raises a clear error and changes no parameter
    (ART's own ``set_params`` assigns before it checks; art-ext's attacks are all or nothing)."""
    import math

    def snapshot() -> dict[str, Any]:
        return {key: getattr(attack, key, None) for key in getattr(attack, "attack_params", []) or []}

    def same(a: Any, b: Any) -> bool:
        both_nan = isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)
        return both_nan or a is b or bool(a == b) if not hasattr(a, "shape") else a is b

    before = snapshot()
    for value in bad_values:
        try:
            attack.set_params(**{name: value})
        except (ValueError, TypeError) as error:
            assert_clear_error(error, extra_modules=extra_modules)
        else:
            raise AssertionError(f"set_params({name}={value!r}) was accepted")
        changed = [key for key, old in before.items() if not same(old, getattr(attack, key, None))]
        assert not changed, f"a refused set_params({name}={value!r}) changed {changed}"


def channels_last_classifier(input_shape: Sequence[int] = (8, 8, 3), nb_classes: int = 10) -> Any:
    """An untrained ART ``PyTorchClassifier`` on NHWC inputs (``channels_first=False``) with
    per-channel mean/std preprocessing: the layout in which art-ext once normalised the wrong axis."""
    import numpy as np
    import torch
    from art.estimators.classification import PyTorchClassifier

    shape = tuple(int(d) for d in input_shape)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(int(np.prod(shape)), nb_classes))
    channels = shape[-1]
    return PyTorchClassifier(model=model, loss=torch.nn.CrossEntropyLoss(), input_shape=shape, nb_classes=nb_classes,
                             clip_values=(0.0, 1.0), channels_first=False,
                             preprocessing=(np.linspace(0.2, 0.6, channels), np.linspace(0.2, 0.4, channels)))


def assert_layout_kept(name: str | Any, *, params: dict[str, Any] | None = None, fit: bool = True,
                       extra_modules: Sequence[str] = ()) -> None:
    """On a channels-last classifier an attack refuses with a clear error or keeps the output
    contract; when it runs, what it attacks is what ART predicts (its outputs change ART's
    prediction no more often than they could by a perturbation inside the ball)."""
    import numpy as np

    import art_ext

    classifier = channels_last_classifier()
    factory = (lambda clf, **kw: art_ext.get_attack(name, clf, **kw)) if isinstance(name, str) else name
    x = np.random.default_rng(0).random((6, *classifier.input_shape)).astype(np.float32)
    y = classifier.predict(x).argmax(1)
    try:
        attack = factory(classifier, **(params or {}))
        if fit and callable(getattr(attack, "fit", None)):
            attack.fit(x, y)
        x_adv = attack.generate(x, y=y)
    except (ValueError, TypeError) as error:
        assert_clear_error(error, extra_modules=extra_modules)
        return
    _output_contract(attack, x, x_adv)


def assert_report_consistent(report: Any) -> None:
    """An evaluation report's figures keep the definition: robust only where correct clean, the
    worst case below every attack, and no robust figure at all without an attack."""
    import numpy as np

    clean = np.asarray(report.clean, dtype=bool)
    for result in report.attacks.values():
        assert not (np.asarray(result.robust) & ~clean).any(), f"{result.name}: robust where wrong clean"
    if not report.attacks:
        try:
            report.accuracy("worst")
        except ValueError:
            return
        raise AssertionError("a report without attacks gave a robust figure")
    worst = report.accuracy("worst")
    assert all(worst <= report.accuracy(name) <= report.accuracy("clean") for name in report.attacks)


def fuzz_attack(
    name: str | Any,
    classifier: Any,
    *,
    params: dict[str, Any] | None = None,
    max_examples: int = 20,
    fit: bool = True,
    extra_modules: Sequence[str] = (),
) -> None:
    """Fuzz an image attack (a registered name or a factory ``(classifier, **params)``) on
    ``classifier``: every call must keep the contract in this module's docstring."""
    import numpy as np
    from hypothesis import HealthCheck, example, given, settings
    from hypothesis import strategies as st

    import art_ext

    factory = (lambda clf, **kw: art_ext.get_attack(name, clf, **kw)) if isinstance(name, str) else name
    shape = tuple(int(d) for d in classifier.input_shape)
    nb_classes = int(classifier.nb_classes)
    clip = classifier.clip_values if classifier.clip_values is not None else (0.0, 1.0)
    base = dict(params or {})
    fitted: dict[Any, Any] = {}

    outcomes = {"output": 0, "error": 0}
    rng = np.random.default_rng(0)
    valid_x = (rng.random((3, *shape)) * (np.max(clip[1]) - np.min(clip[0])) + np.min(clip[0])).astype(np.float32)
    valid_y = rng.integers(0, nb_classes, 3)

    def build(eps: Any) -> Any:
        key = repr(eps)
        if key not in fitted:
            attack = factory(classifier, **{**base, **({} if eps is None else {"eps": eps})})
            if fit and callable(getattr(attack, "fit", None)):
                rng = np.random.default_rng(0)
                attack.fit(rng.random((16, *shape)).astype(np.float32) * (clip[1] - clip[0]) + clip[0])
            fitted[key] = attack
        return fitted[key]

    @settings(max_examples=max_examples, deadline=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(x=images_strategy(shape, (float(np.min(clip[0])), float(np.max(clip[1])))),
           y=labels_strategy(4, nb_classes), eps=st.one_of(st.none(), eps_strategy()))
    @example(x=valid_x, y=valid_y, eps=None)
    @example(x=valid_x.astype(np.float64), y=None, eps=None)
    # a refused budget on every hypothesis version: what it draws in a few examples differs between them
    @example(x=valid_x, y=valid_y, eps=-0.1)
    def run(x: Any, y: Any, eps: Any) -> None:
        try:
            attack = build(eps)
        except (ValueError, TypeError) as error:
            assert eps is not None, f"the default parameters failed: {error}"
            assert_clear_error(error, extra_modules=extra_modules)
            outcomes["error"] += 1
            return
        try:
            x_adv = attack.generate(x, y=y)
        except (ValueError, TypeError, RuntimeError) as error:
            assert_clear_error(error, extra_modules=extra_modules)
            outcomes["error"] += 1
            return
        _output_contract(attack, x, x_adv)
        outcomes["output"] += 1

    run()
    # a fuzz that only ever saw errors (or only outputs) tested half the contract
    assert outcomes["output"] >= 2 and outcomes["error"] >= 1, outcomes
    default = build(None)
    if "eps" in (getattr(default, "attack_params", None) or []):
        assert_set_params_atomic(default, extra_modules=extra_modules)
    assert_layout_kept(factory, params=base, fit=fit, extra_modules=extra_modules)


def fuzz_trainer(
    name: str | Any,
    make_classifier: Any,
    *,
    params: dict[str, Any] | None = None,
    fit_params: dict[str, Any] | None = None,
    max_examples: int = 10,
    extra_modules: Sequence[str] = (),
) -> None:
    """Fuzz an image trainer (a registered name or a factory ``(classifier, **params)``):
    ``make_classifier()`` gives a fresh ART classifier per call; each ``fit`` must raise a clear
    error or leave finite weights."""
    import numpy as np
    import torch
    from hypothesis import HealthCheck, example, given, settings

    import art_ext

    factory = (lambda clf, **kw: art_ext.get_trainer(name, clf, **kw)) if isinstance(name, str) else name
    probe = make_classifier()
    shape = tuple(int(d) for d in probe.input_shape)
    nb_classes = int(probe.nb_classes)

    outcomes = {"trained": 0, "error": 0}
    rng = np.random.default_rng(0)
    valid_x = rng.random((4, *shape)).astype(np.float32)
    valid_y = rng.integers(0, nb_classes, 4)

    @settings(max_examples=max_examples, deadline=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(x=images_strategy(shape), y=labels_strategy(4, nb_classes), eps=eps_strategy())
    @example(x=valid_x, y=valid_y, eps=0.1)
    @example(x=valid_x, y=np.eye(nb_classes, dtype=np.float32)[valid_y], eps=0.2)
    @example(x=valid_x, y=valid_y, eps=-0.1)  # a refused budget on every hypothesis version
    def run(x: Any, y: Any, eps: Any) -> None:
        classifier = make_classifier()
        try:
            trainer = factory(classifier, **{**(params or {}), "eps": eps})
        except (ValueError, TypeError) as error:
            assert_clear_error(error, extra_modules=extra_modules)
            outcomes["error"] += 1
            return
        before = [p.detach().clone() for p in classifier.model.parameters()]
        try:
            trainer.fit(x, y if y is not None else np.zeros(len(x), dtype=np.int64),
                        **{"nb_epochs": 1, "batch_size": 4, **(fit_params or {})})
        except (ValueError, TypeError) as error:
            assert_clear_error(error, extra_modules=extra_modules)
            outcomes["error"] += 1
            return
        after = list(classifier.model.parameters())
        assert all(torch.isfinite(p).all() for p in after), "non-finite weights after fit"
        assert any(not torch.equal(a, b) for a, b in zip(before, after)), "fit changed no weight"
        outcomes["trained"] += 1

    run()
    assert outcomes["trained"] >= 2 and outcomes["error"] >= 1, outcomes
