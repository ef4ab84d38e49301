"""The native AutoAttack members (APGD, APGD-T, FAB-T, Square) and lists: they keep eps and the clip
bounds exactly, find the analytic minimum on a linear model, a list is never weaker than its first
member, and the registered attacks refuse bad input (the fuzz in test_fuzz.py covers the rest)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from scipy.optimize import linprog
from torch import nn

import art_ext
from art_ext.core.apgd import apgd, apgd_schedule, dlr_loss, targeted_dlr_loss
from art_ext.core.fab import fab_targeted, hyperplane_projection
from art_ext.core.square import p_schedule, square
from art_ext.evaluation import evaluate, native
from art_ext.models import make_classifier
from art_ext.testing import assert_set_params_atomic, make_tiny_classifier

torch.set_num_threads(1)


def _linear(seed: int = 0, classes: int = 4, shape: tuple[int, ...] = (1, 4, 4)) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(int(np.prod(shape)), classes)).eval()


def _minimal_distance(model: nn.Module, x: torch.Tensor, y: torch.Tensor, norm: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Per example, the distance to the nearest decision boundary of a linear model without a box,
    and the class beyond it: min_j (z_y - z_j) / ||w_y - w_j||_dual."""
    layer = model[1]
    with torch.no_grad():
        logits = model(x)
        w = layer.weight
        gaps = logits.gather(1, y.view(-1, 1)) - logits  # (N, K)
        diff = w[y].unsqueeze(1) - w.unsqueeze(0)  # (N, K, D)
        dual = diff.abs().sum(-1) if norm == "inf" else diff.norm(dim=-1)
        distance = gaps / dual.clamp_min(1e-12)
        distance[torch.arange(len(y)), y] = float("inf")
    best, target = distance.min(1)
    return best, target


@pytest.fixture(scope="module")
def linear_case():
    model = _linear()
    x = torch.rand(32, 1, 4, 4) * 0.2 + 0.4
    with torch.no_grad():
        y = model(x).argmax(1)  # the model's own labels: every example correct clean
    return model, x, y


# --------------------------------------------------------------------------- schedules and losses


def test_apgd_checkpoints_follow_the_paper():
    # p_0 = 0, p_1 = 0.22, p_j+1 = p_j + max(p_j - p_j-1 - 0.03, 0.06) of 100 iterations
    assert apgd_schedule(100) == [21, 40, 56, 69, 79, 86, 92, 98]
    assert apgd_schedule(1) == [0]


def test_square_p_schedule_halves_at_the_rescaled_marks():
    assert p_schedule(0, 10_000) == 0.8 and p_schedule(11, 10_000) == 0.4 and p_schedule(8001, 10_000) == 0.8 / 512
    assert p_schedule(500, 5000) == p_schedule(1000, 10_000)  # rescaled to the budget


def test_dlr_losses_match_their_definitions():
    logits = torch.tensor([[3.0, 1.0, 2.0, 0.0], [0.0, 4.0, 1.0, 2.0]])
    y = torch.tensor([0, 2])
    # correct: -(z_y - z_2nd) / (z_1 - z_3); wrong: -(z_y - z_1) / (z_1 - z_3)
    assert torch.allclose(dlr_loss(logits, y), torch.tensor([-(3 - 2) / (3 - 1), -(1 - 4) / (4 - 1)]))
    target = torch.tensor([2, 1])
    expected = torch.tensor([-(3 - 2) / (3 - 0.5 * (1 + 0)), -(1 - 4) / (4 - 0.5 * (1 + 0))])
    assert torch.allclose(targeted_dlr_loss(logits, y, target), expected)


# --------------------------------------------------------------------------- the projection FAB steps with


@pytest.mark.parametrize("norm", ["inf", "2"])
def test_hyperplane_projection_is_the_constrained_optimum(norm):
    rng = np.random.default_rng(0)
    p = torch.tensor(rng.random((6, 12)) * 0.6 + 0.2)
    w = torch.tensor(rng.normal(size=(6, 12)))
    b = (w * p).sum(1) + torch.tensor(rng.normal(size=6))
    low, high = torch.zeros_like(p), torch.ones_like(p)
    d = hyperplane_projection(p, w, b, low, high, norm)
    assert ((p + d) >= -1e-9).all() and ((p + d) <= 1 + 1e-9).all()
    feasible = []
    for i in range(6):
        pi, wi, need = p[i].numpy(), w[i].numpy(), float(b[i] - (w[i] * p[i]).sum())
        if norm == "inf":  # min t: |d| <= t, box, w.d = need
            res = linprog(np.r_[np.zeros(12), 1.0],
                          A_ub=np.r_[np.c_[np.eye(12), -np.ones(12)], np.c_[-np.eye(12), -np.ones(12)]],
                          b_ub=np.zeros(24), A_eq=np.r_[wi, 0.0][None], b_eq=[need],
                          bounds=[(-v, 1 - v) for v in pi] + [(0, None)])
            if res.status == 0:
                feasible.append(i)
                assert abs(float(d[i].abs().max()) - res.x[-1]) < 1e-6
        else:
            achievable = np.clip(np.sign(wi * need) * np.inf, -pi, 1 - pi) @ wi
            if abs(achievable) >= abs(need):
                feasible.append(i)
                # KKT: d = clip(l w) for one l >= 0 (after turning w towards the hyperplane)
                ratio = d[i].numpy() / np.where(wi == 0, 1, wi * np.sign(need))
                inside = (np.abs(d[i].numpy() + pi - np.clip(d[i].numpy() + pi, 0, 1)) < 1e-9) & (
                    (pi + d[i].numpy() > 1e-9) & (pi + d[i].numpy() < 1 - 1e-9))
                assert np.ptp(ratio[inside]) < 1e-6
        if i in feasible:
            assert abs(float((w[i] * (p[i] + d[i])).sum() - b[i])) < 1e-6
    assert feasible  # the test saw the constrained optimum, not only out-of-reach rows


# --------------------------------------------------------------------------- analytic minimum on a linear model


@pytest.mark.parametrize("norm", ["inf", "2"])
def test_fab_finds_the_minimal_perturbation_of_a_linear_model(linear_case, norm):
    model, x, y = linear_case
    distance, target = _minimal_distance(model, x, y, norm)
    x_adv, _ = fab_targeted(model, x, y, target, eps=float(distance.max()) * 2, norm=norm, steps=50,
                            clip_values=(-10.0, 10.0))
    found = (x_adv - x).flatten(1)
    found = found.abs().amax(1) if norm == "inf" else found.norm(dim=1)
    with torch.no_grad():
        assert (model(x_adv).argmax(1) != y).all()
    assert torch.all(found >= distance * (1 - 1e-4))  # nothing beats the analytic minimum
    assert torch.all(found <= distance * 1.02)  # and FAB gets within 2% of it


@pytest.mark.parametrize("norm", ["inf", "2"])
@pytest.mark.parametrize("loss", ["ce", "dlr"])
def test_apgd_breaks_exactly_the_examples_within_reach(linear_case, norm, loss):
    model, x, y = linear_case
    distance, _ = _minimal_distance(model, x, y, norm)
    eps = float(distance.median())
    x_adv, fooled = apgd(model, x, y, eps=eps, norm=norm, loss=loss, steps=50, clip_values=(-10.0, 10.0),
                         generator=torch.Generator().manual_seed(0))
    reachable = distance < eps * 0.98
    assert not fooled[distance > eps * 1.0001].any()  # impossible beyond the ball
    assert fooled[reachable].all()  # a linear model has no local optima to hide in
    with torch.no_grad():
        assert torch.equal(model(x_adv).argmax(1) != y, fooled)


def test_apgd_t_reaches_the_class_it_targets(linear_case):
    model, x, y = linear_case
    distance, target = _minimal_distance(model, x, y, "inf")
    _, fooled = apgd(model, x, y, eps=float(distance.max()) * 1.05, loss="dlr-targeted", target=target,
                         steps=50, clip_values=(-10.0, 10.0), generator=torch.Generator().manual_seed(0))
    assert fooled.all()


def test_square_finds_the_linear_models_vertex(linear_case):
    model, x, y = linear_case
    distance, _ = _minimal_distance(model, x, y, "inf")
    _, fooled = square(model, x, y, eps=float(distance.max()) * 1.25, queries=2000, clip_values=(-10.0, 10.0),
                           generator=torch.Generator().manual_seed(0))
    assert fooled.float().mean() >= 0.9


# --------------------------------------------------------------------------- bounds


CLIP_PER_CHANNEL = (torch.tensor([0.1, 0.0, 0.2]).view(3, 1, 1), torch.tensor([0.9, 1.0, 0.7]).view(3, 1, 1))


def _bounded_case() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 5)).eval()
    low, high = CLIP_PER_CHANNEL
    x = low + (high - low) * torch.rand(16, 3, 8, 8)
    with torch.no_grad():
        y = model(x).argmax(1)
    return model, x, y


def _within(x: torch.Tensor, x_adv: torch.Tensor, eps: float, norm: str) -> None:
    low, high = CLIP_PER_CHANNEL
    size = (x_adv - x).flatten(1)
    size = size.abs().amax(1) if norm == "inf" else size.norm(dim=1)
    assert (size <= eps * (1 + 1e-5) + 1e-7).all()
    assert (x_adv >= low - 1e-7).all() and (x_adv <= high + 1e-7).all()


@pytest.mark.parametrize("norm,eps", [("inf", 0.05), ("2", 0.5)])
def test_every_member_keeps_eps_and_per_channel_clip_bounds(norm, eps):
    model, x, y = _bounded_case()
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        target = model(x).argsort(1, descending=True)[:, 1]
    outputs = [
        apgd(model, x, y, eps=eps, norm=norm, steps=20, clip_values=CLIP_PER_CHANNEL, generator=generator)[0],
        apgd(model, x, y, eps=eps, norm=norm, steps=20, loss="dlr-targeted", target=target,
             clip_values=CLIP_PER_CHANNEL, generator=generator)[0],
        square(model, x, y, eps=eps, norm=norm, queries=50, clip_values=CLIP_PER_CHANNEL, generator=generator)[0],
    ]
    for x_adv in outputs:
        _within(x, x_adv, eps, norm)
    fab_adv, fooled = fab_targeted(model, x, y, target, eps=eps, norm=norm, steps=20, clip_values=CLIP_PER_CHANNEL)
    low, high = CLIP_PER_CHANNEL
    assert (fab_adv >= low - 1e-7).all() and (fab_adv <= high + 1e-7).all()  # FAB is minimum-norm: the box only
    size = (fab_adv - x).flatten(1)
    size = size.abs().amax(1) if norm == "inf" else size.norm(dim=1)
    assert (size[fooled] <= eps * (1 + 1e-5)).all()


# --------------------------------------------------------------------------- lists


def test_a_list_is_never_weaker_than_its_first_member(monkeypatch):
    from art_ext.data import load_digits

    digits = load_digits()
    torch.manual_seed(0)
    from art_ext.models import SmallCNN

    classifier = make_classifier(SmallCNN((1, 8, 8), 10), (1, 8, 8), 10, (0.0, 1.0))
    classifier.fit(digits.x_train, digits.y_train, nb_epochs=3, batch_size=64)
    monkeypatch.setitem(native.NATIVE_LISTS, "first-only", ("apgd-ce",))
    monkeypatch.setitem(native.MEMBERS, "fab-t", native.Member("fab", "FAB-T (20 iterations, 3 targets)",
                                                                {"steps": 20}, targets=3))
    monkeypatch.setitem(native.MEMBERS, "apgd-t", native.Member("apgd", "APGD-T (20 iterations, 3 targets)",
                                                                 {"loss": "dlr-targeted", "steps": 20}, targets=3))
    monkeypatch.setitem(native.MEMBERS, "square", native.Member("square", "Square (200 queries)", {"queries": 200}))
    x = torch.tensor(digits.x_test[:96])
    y = torch.tensor(digits.y_test[:96]).long()
    model = classifier.model.eval()
    with torch.no_grad():
        clean = model(x).argmax(1) == y
    first, _, _ = native.run_native_list(model, x, y, clean, eps=0.1, norm="inf", version="first-only",
                                         clip_values=(0.0, 1.0), nb_classes=10, batch_size=40, seed=3)
    whole, x_adv, details = native.run_native_list(model, x, y, clean, eps=0.1, norm="inf", version="standard",
                                                   clip_values=(0.0, 1.0), nb_classes=10, batch_size=40, seed=3)
    assert not (whole & ~first).any() and not (whole & ~clean).any()
    assert 0 < int(first.sum()) < int(clean.sum())  # the attack mattered and left work for the others
    assert sum(details["broken_by"].values()) == int(clean.sum() - whole.sum())
    with torch.no_grad():
        assert torch.equal(model(x_adv).argmax(1) == y, whole | ~clean & (model(x).argmax(1) == y))
    assert ((x_adv - x).abs().amax(dim=(1, 2, 3)) <= 0.1 + 1e-6).all()


def test_a_list_with_nothing_left_to_attack_ends_cleanly():
    """Regression: an empty batch of survivors (every example misclassified clean, or broken by an
    earlier member) reached FAB-T, which failed with an IndexError from inside torch."""
    model, x, y = _bounded_case()
    wrong = (y + 1) % 5
    clean = torch.zeros(len(y), dtype=torch.bool)
    robust, x_adv, details = native.run_native_list(model, x, wrong, clean, eps=0.05, norm="inf", version="standard",
                                                    clip_values=CLIP_PER_CHANNEL, nb_classes=5, batch_size=8, seed=0)
    assert not robust.any() and torch.equal(x_adv, x) and sum(details["broken_by"].values()) == 0
    empty = x[:0]
    for norm in ("inf", "2"):
        x_fab, fooled = fab_targeted(model, empty, y[:0], y[:0], eps=0.05, norm=norm, clip_values=CLIP_PER_CHANNEL)
        assert x_fab.shape == empty.shape and fooled.shape == (0,)


def test_evaluate_defaults_to_the_native_standard_list():
    import inspect

    assert inspect.signature(evaluate).parameters["autoattack_version"].default == "standard"
    assert native.NATIVE_LISTS["standard"] == ("apgd-ce", "apgd-t", "fab-t", "square")
    assert native.MEMBERS["apgd-t"].targets == 9 and native.MEMBERS["fab-t"].targets == 9
    assert native.MEMBERS["square"].params == {"queries": 5000}


def test_evaluate_refuses_a_list_the_classes_cannot_run():
    classifier = make_tiny_classifier(nb_classes=3)
    x = np.random.default_rng(0).random((4, 1, 8, 8)).astype(np.float32)
    with pytest.raises(ValueError, match="autoattack_version 'standard' needs at least 4 classes"):
        evaluate(classifier, x, np.zeros(4, dtype=int), eps=0.1, pgd_steps=0)


# --------------------------------------------------------------------------- the registered attacks


NAMES = {"apgd": {"max_iter": 5}, "apgd-t": {"max_iter": 5, "nb_targets": 2},
         "fab-t": {"max_iter": 5, "nb_targets": 2}, "square": {"max_queries": 20},
         "autoattack": {"version": "fast"}}


@pytest.mark.parametrize("name", sorted(NAMES))
def test_registered_attacks_refuse_bad_parameters_with_one_line(name):
    classifier = make_tiny_classifier()
    attack = art_ext.get_attack(name, classifier, **NAMES[name])
    assert_set_params_atomic(attack)
    bad = {"apgd": {"loss": "hinge"}, "apgd-t": {"nb_targets": 10}, "fab-t": {"beta": 1.5},
           "square": {"p_init": 0.0}, "autoattack": {"version": "plus"}}[name]
    key = next(iter(bad))
    with pytest.raises(ValueError, match=key):
        art_ext.get_attack(name, classifier, **{**NAMES[name], **bad})
    with pytest.raises(ValueError, match="norm"):
        art_ext.get_attack(name, classifier, **{**NAMES[name], "norm": 1})
    x = np.full((2, 1, 8, 8), 0.5, dtype=np.float32)
    x[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="x"):
        attack.generate(x)
    with pytest.raises(ValueError, match="y"):
        attack.generate(np.full((2, 1, 8, 8), 0.5, dtype=np.float32), y=np.array([0, 10]))


def test_square_refuses_non_image_inputs():
    classifier = make_classifier(nn.Sequential(nn.Linear(6, 4)), (6,), 4, (0.0, 1.0))
    with pytest.raises(ValueError, match="square needs image inputs"):
        art_ext.get_attack("square", classifier, eps=0.1)


def test_native_apgd_runs_through_foolbox_and_the_cli(tmp_path):
    import foolbox as fb

    classifier = make_tiny_classifier()
    x = torch.rand(6, 1, 8, 8)
    fmodel = fb.PyTorchModel(classifier.model.eval(), bounds=(0.0, 1.0))
    labels = fmodel(x).argmax(1)
    _, clipped, success = art_ext.to_foolbox(art_ext.get_attack("apgd", classifier, eps=0.2, max_iter=10))(
        fmodel, x, labels, epsilons=0.2)
    assert clipped.shape == x.shape and (clipped - x).abs().max() <= 0.2 + 1e-6
    assert success.shape == (6,)

    from art_ext.cli import main

    assert main(["attack", "apgd", "--n-test", "8", "--eps", "0.1", "--param", "max_iter=5", "--json",
                 "--out", str(tmp_path / "run")]) == 0
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["attack"] == "apgd" and results["max_linf"] <= 0.1 + 1e-6 and results["examples"] == 8


def test_the_benchmark_reads_each_attacks_threat_model():
    from art_ext.bench.attacks import threat_model

    classifier = make_tiny_classifier(nb_classes=4)
    threats = {name: threat_model(art_ext.get_attack(name, classifier, **params)) for name, params in NAMES.items()}
    assert threats == {"apgd": "white-box", "apgd-t": "white-box", "fab-t": "white-box", "square": "black-box",
                       "autoattack": "ensemble"}
