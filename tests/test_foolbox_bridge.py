import foolbox as fb
import numpy as np
import pytest
import torch

import art_ext
from art_ext.foolbox import ArtAttackAsFoolbox


@pytest.fixture(scope="module")
def fmodel(digits_classifier):
    return fb.PyTorchModel(digits_classifier.model.eval(), bounds=(0, 1), device="cpu")


def _one_hot(labels):
    return np.eye(10, dtype=np.float32)[labels]


@pytest.mark.smoke
def test_fgsm_through_foolbox_matches_art(digits, digits_classifier, fmodel):
    attack = art_ext.get_attack("art.fgsm", digits_classifier, eps=0.1)
    art_adv = attack.generate(digits.x_test, y=_one_hot(digits.y_test))
    art_success = digits_classifier.predict(art_adv).argmax(1) != digits.y_test

    raw, clipped, success = art_ext.to_foolbox(attack)(
        fmodel, torch.tensor(digits.x_test), torch.tensor(digits.y_test), epsilons=0.1
    )
    assert isinstance(raw, torch.Tensor) and raw.shape == clipped.shape == digits.x_test.shape
    np.testing.assert_allclose(clipped.numpy(), art_adv, atol=1e-6)
    np.testing.assert_array_equal(success.numpy(), art_success)
    assert art_success.mean() > 0.2  # the attack does something on this model


def test_list_of_epsilons_and_targeted(digits, digits_classifier, fmodel):
    attack = art_ext.get_attack("art.pgd", digits_classifier, eps=0.1, max_iter=10, num_random_init=0)
    wrapped = ArtAttackAsFoolbox(attack)
    x, targets = torch.tensor(digits.x_test[:100]), torch.tensor((digits.y_test[:100] + 3) % 10)
    raws, clippeds, success = wrapped(
        fmodel, x, fb.criteria.TargetedMisclassification(targets), epsilons=[0.02, 0.3]
    )
    assert len(raws) == len(clippeds) == 2 and success.shape == (2, 100)
    for eps, adv in zip([0.02, 0.3], clippeds):
        assert (adv - x).abs().max() <= eps + 1e-6
        assert adv.min() >= 0 and adv.max() <= 1
    rates = success.float().mean(1)
    assert rates[1] > 0.8 and rates[0] < rates[1]
    hits = digits_classifier.predict(clippeds[1].numpy()).argmax(1) == targets.numpy()
    np.testing.assert_array_equal(hits, success[1].numpy())
    # the wrapped attack's own parameters are restored afterwards
    assert attack.eps == 0.1 and attack.targeted is False


def test_out_of_bounds_inputs_get_clear_error(digits, digits_classifier, fmodel):
    wrapped = art_ext.to_foolbox(art_ext.get_attack("art.fgsm", digits_classifier, eps=0.1))
    with pytest.raises(ValueError, match="outside the model's bounds"):
        wrapped(fmodel, torch.tensor(digits.x_test[:4]) * 2, torch.tensor(digits.y_test[:4]), epsilons=0.1)


def test_bad_epsilon_and_criterion(digits, digits_classifier, fmodel):
    wrapped = art_ext.to_foolbox(art_ext.get_attack("art.fgsm", digits_classifier, eps=0.1))
    x, y = torch.tensor(digits.x_test[:4]), torch.tensor(digits.y_test[:4])
    with pytest.raises(ValueError, match="epsilons must be positive"):
        wrapped(fmodel, x, y, epsilons=-0.1)
    with pytest.raises(TypeError, match="criterion"):
        wrapped.run(fmodel, x, object(), epsilon=0.1)


def test_rejects_non_art_attack_and_untargeted_only_attack(digits_classifier, fmodel):
    with pytest.raises(TypeError, match="EvasionAttack"):
        ArtAttackAsFoolbox(object())
    deepfool = art_ext.get_attack("art.deepfool", digits_classifier)
    with pytest.raises(ValueError, match="eps_param"):
        ArtAttackAsFoolbox(deepfool)
