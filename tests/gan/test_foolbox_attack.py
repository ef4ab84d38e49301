"""The native Foolbox AdvGAN attack agrees with the ART one."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from art_ext_plugins.gan.advgan import AdvGAN, NotFittedError
from art_ext_plugins.gan.foolbox_attack import AdvGANAttack


@pytest.fixture
def fmodel(digits_classifier):
    import foolbox as fb

    return fb.PyTorchModel(digits_classifier.model.eval(), bounds=(0.0, 1.0), device="cpu")


def test_foolbox_agrees_with_art(digits, digits_classifier, untargeted_advgan, fmodel):
    import foolbox as fb

    attack = AdvGANAttack(untargeted_advgan)
    assert attack.distance is fb.distances.linf
    x = torch.as_tensor(digits.x_test)
    y = torch.as_tensor(digits.y_test)
    raw, clipped, success = attack(fmodel, x, y, epsilons=0.3)
    art_adv = untargeted_advgan.generate(digits.x_test)
    np.testing.assert_allclose(clipped.numpy(), art_adv, atol=1e-6)
    np.testing.assert_allclose(raw.numpy(), clipped.numpy(), atol=1e-6)  # raw already within eps
    art_success = np.argmax(digits_classifier.predict(art_adv), axis=1) != digits.y_test
    assert np.mean(success.numpy() == art_success) > 0.99
    assert success.float().mean().item() > 0.75


def test_epsilons_above_trained_eps_are_clipped_to_it(digits, untargeted_advgan, fmodel):
    attack = AdvGANAttack(untargeted_advgan)
    x = torch.as_tensor(digits.x_test[:64])
    y = torch.as_tensor(digits.y_test[:64])
    raws, clippeds, success = attack(fmodel, x, y, epsilons=[0.1, 0.3, 0.6])
    assert success.shape == (3, 64)
    for eps, adv in zip([0.1, 0.3, 0.6], clippeds):
        assert (adv - x).abs().max().item() <= min(eps, 0.3) + 1e-6
    torch.testing.assert_close(raws[1], raws[2])  # no stronger than the trained bound
    assert success[0].sum() <= success[1].sum()


def test_targeted_criterion(digits, digits_classifier, targeted_advgan, fmodel):
    import foolbox as fb

    targets = ((digits.y_test + 1) % 10).astype(np.int64)
    attack = AdvGANAttack(targeted_advgan)
    criterion = fb.criteria.TargetedMisclassification(torch.as_tensor(targets))
    _, clipped, success = attack(fmodel, torch.as_tensor(digits.x_test), criterion, epsilons=0.3)
    np.testing.assert_allclose(clipped.numpy(), targeted_advgan.generate(digits.x_test, targets), atol=1e-6)
    assert success.float().mean().item() > 0.5


def test_criterion_mismatch_and_unfitted(digits, digits_classifier, untargeted_advgan, targeted_advgan, fmodel):
    import foolbox as fb

    x = torch.as_tensor(digits.x_test[:8])
    y = torch.as_tensor(digits.y_test[:8])
    with pytest.raises(ValueError, match="criterion: this AdvGAN is targeted"):
        AdvGANAttack(targeted_advgan)(fmodel, x, y, epsilons=0.3)
    with pytest.raises(ValueError, match="criterion: TargetedMisclassification needs"):
        AdvGANAttack(untargeted_advgan)(fmodel, x, fb.criteria.TargetedMisclassification(y), epsilons=0.3)
    with pytest.raises(NotFittedError):
        AdvGANAttack(AdvGAN(digits_classifier, verbose=False))
    with pytest.raises(TypeError, match="advgan must be an AdvGAN"):
        AdvGANAttack(object())  # type: ignore[arg-type]
