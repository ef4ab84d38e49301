"""The perturbation primitives on a real model (digits): budgets, clipping, restarts, targeted,
input-only gradients, custom losses."""

from __future__ import annotations

import pytest
import torch

from art_ext.core import perturb


@pytest.fixture
def batch(digits, digits_classifier):
    model = digits_classifier.model.eval()
    x = torch.from_numpy(digits.x_test[:120])
    y = torch.from_numpy(digits.y_test[:120])
    return model, x, y


def acc(model, x, y):
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


@pytest.mark.parametrize("norm", ["inf", "2"])
def test_pgd_stays_in_budget_and_box_and_fools(batch, norm):
    model, x, y = batch
    eps = 0.2 if norm == "inf" else 1.5
    x_adv = perturb.pgd(model, x, y, eps, eps / 4, 10, norm=norm, clip_values=(0.0, 1.0))
    delta = (x_adv - x).flatten(1)
    size = delta.abs().max(1).values if norm == "inf" else delta.norm(dim=1)
    assert float(size.max()) <= eps + 1e-5
    assert float(x_adv.min()) >= 0.0 and float(x_adv.max()) <= 1.0
    assert acc(model, x, y) > 0.9
    assert acc(model, x_adv, y) < acc(model, x, y) - 0.4


def test_gradients_are_input_only(batch):
    model, x, y = batch
    for p in model.parameters():
        p.grad = None
    perturb.pgd(model, x, y, 0.2, 0.05, 3)
    perturb.fgsm(model, x, y, 0.2)
    assert all(p.grad is None for p in model.parameters())


def test_restarts_keep_the_worst_case(batch):
    model, x, y = batch
    torch.manual_seed(0)
    one = perturb.pgd(model, x, y, 0.1, 0.025, 5, restarts=1)
    torch.manual_seed(0)
    many = perturb.pgd(model, x, y, 0.1, 0.025, 5, restarts=4)
    # the first restart of `many` is `one`; later restarts can only add fooled examples
    with torch.no_grad():
        fooled_one = model(one).argmax(1) != y
        fooled_many = model(many).argmax(1) != y
    assert bool((fooled_many | ~fooled_one).all())
    assert int(fooled_many.sum()) >= int(fooled_one.sum())


def test_targeted_reaches_target(batch):
    model, x, y = batch
    target = (y + 1) % 10
    x_adv = perturb.pgd(model, x, target, 0.3, 0.03, 20, targeted=True, clip_values=(0.0, 1.0))
    with torch.no_grad():
        hit = float((model(x_adv).argmax(1) == target).float().mean())
    assert hit > 0.5


def test_fgsm_random_start_step_above_eps_is_projected(batch):
    model, x, y = batch
    x_adv = perturb.fgsm(model, x, y, 0.1, step=0.125, random_start=True, clip_values=(0.0, 1.0))
    assert float((x_adv - x).abs().max()) <= 0.1 + 1e-6
    assert acc(model, x_adv, y) < acc(model, x, y)


def test_kl_loss_and_margin_loss(batch):
    model, x, y = batch
    with torch.no_grad():
        clean_logits = model(x)
    x_adv = perturb.pgd(model, x, clean_logits, 0.2, 0.05, 5, loss_fn=perturb.kl_loss, random_start=False,
                        x_init=x + 0.001 * torch.randn_like(x), clip_values=(0.0, 1.0))
    with torch.no_grad():
        assert float(perturb.kl_loss(model(x_adv), clean_logits).mean()) > 0.1
        assert torch.allclose(perturb.kl_loss(clean_logits, clean_logits), torch.zeros(len(x)), atol=1e-5)
    x_m = perturb.pgd(model, x, y, 0.2, 0.05, 10, loss_fn=perturb.margin_loss, clip_values=(0.0, 1.0))
    assert acc(model, x_m, y) < 0.5


def test_per_example_eps_and_tensor_clip(batch):
    model, x, y = batch
    eps = torch.linspace(0.0, 0.2, len(x))
    x_adv = perturb.pgd(model, x, y, eps, eps / 4, 5, clip_values=(torch.tensor(0.0), torch.tensor(1.0)))
    assert bool(((x_adv - x).abs().flatten(1).max(1).values <= eps + 1e-6).all())


def test_norm_names_and_bad_steps():
    import numpy as np

    assert perturb.normalize_norm(np.inf) == "inf"
    assert perturb.normalize_norm("l2") == "2"
    assert perturb.normalize_norm(2) == "2"
    with pytest.raises(ValueError, match="norm"):
        perturb.normalize_norm(1)
    model = torch.nn.Linear(4, 2)
    with pytest.raises(ValueError, match="restarts"):
        perturb.pgd(model, torch.zeros(2, 4), torch.zeros(2, dtype=torch.long), 0.1, 0.1, 1, restarts=0)
