"""AdvGAN as an ART attack on real data (sklearn digits; MNIST where ../shared/data exists)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from art_ext_plugins.gan.advgan import AdvGAN, NotFittedError, success_rate
from art_ext_plugins.gan.networks import AdvGANDiscriminator, AdvGANGenerator
from torch import nn

import art_ext
from art_ext.data import ImageDataset
from art_ext.models import accuracy


def other_targets(labels: np.ndarray, nb_classes: int = 10) -> np.ndarray:
    """A target different from each label, cycling through all other classes."""
    shift = 1 + np.arange(len(labels)) % (nb_classes - 1)
    return ((labels + shift) % nb_classes).astype(np.int64)


def blackbox(classifier):
    from art.estimators.classification import BlackBoxClassifier

    return BlackBoxClassifier(
        lambda x: classifier.predict(x.astype(np.float32)), classifier.input_shape, classifier.nb_classes,
        clip_values=(0.0, 1.0),
    )


def test_registered_and_an_art_attack(digits_classifier):
    from art.attacks import EvasionAttack

    attack = art_ext.get_attack("advgan", digits_classifier, eps=0.2, verbose=False)
    assert isinstance(attack, AdvGAN) and isinstance(attack, EvasionAttack)
    assert attack.eps == 0.2 and "alpha" in attack.attack_params


def test_generate_before_fit_is_a_clear_error(digits, digits_classifier):
    attack = AdvGAN(digits_classifier, verbose=False)
    with pytest.raises(NotFittedError, match="before fit"):
        attack.generate(digits.x_test[:4])


def test_fitted_advgan_lowers_accuracy_within_eps_and_clip(digits: ImageDataset, digits_classifier, untargeted_advgan):
    clean = accuracy(digits_classifier, digits.x_test, digits.y_test)
    x_adv = untargeted_advgan.generate(digits.x_test)
    robust = accuracy(digits_classifier, x_adv, digits.y_test)
    assert clean > 0.9
    assert robust < 0.25, f"AdvGAN left accuracy at {robust:.3f} (clean {clean:.3f})"
    assert x_adv.dtype == digits.x_test.dtype and x_adv.shape == digits.x_test.shape
    assert np.abs(x_adv - digits.x_test).max() <= 0.3 + 1e-6
    assert x_adv.min() >= 0.0 and x_adv.max() <= 1.0
    history = untargeted_advgan.history
    assert len(history["success"]) == 8 and history["success"][-1] > history["success"][0]


def test_generate_is_batched_and_deterministic(digits, untargeted_advgan):
    full = untargeted_advgan.generate(digits.x_test[:50])
    untargeted_advgan.batch_size = 7  # partial last batch
    try:
        chunked = untargeted_advgan.generate(digits.x_test[:50])
    finally:
        untargeted_advgan.batch_size = 128
    np.testing.assert_allclose(full, chunked, atol=1e-6)


def test_targeted_hits_targets_with_int_or_one_hot(digits, digits_classifier, targeted_advgan):
    targets = other_targets(digits.y_test)
    x_adv = targeted_advgan.generate(digits.x_test, targets)
    rate = success_rate(digits_classifier, x_adv, targets, targeted=True)
    assert rate > 0.6, f"targeted success {rate:.3f}"
    assert np.abs(x_adv - digits.x_test).max() <= 0.3 + 1e-6
    one_hot = np.eye(10, dtype=np.float32)[targets]
    np.testing.assert_array_equal(targeted_advgan.generate(digits.x_test, one_hot), x_adv)
    with pytest.raises(ValueError, match="y"):
        targeted_advgan.generate(digits.x_test[:4])


@pytest.mark.parametrize("bad", [np.array([0, 1, 2, 10]), np.array([-1, 0, 1, 2])])
def test_target_classes_out_of_range(digits, targeted_advgan, bad):
    with pytest.raises(ValueError, match=r"y has labels in \[-?\d+, \d+\]; expected 0 <= label < nb_classes = 10"):
        targeted_advgan.generate(digits.x_test[:4], bad)


def test_one_hot_of_wrong_width(digits, targeted_advgan):
    with pytest.raises(ValueError, match="one-hot labels have width 5; expected nb_classes = 10"):
        targeted_advgan.generate(digits.x_test[:4], np.eye(5)[:4])


def test_l2_outputs_within_eps(digits, digits_classifier):
    attack = AdvGAN(digits_classifier, eps=1.5, norm=2, nb_epochs=1, verbose=False)
    attack.fit(digits.x_train[:256])
    x_adv = attack.generate(digits.x_test)
    norms = np.linalg.norm((x_adv - digits.x_test).reshape(len(x_adv), -1), axis=1)
    assert norms.max() <= 1.5 + 1e-5
    assert x_adv.min() >= 0.0 and x_adv.max() <= 1.0


def test_save_load_round_trip(tmp_path, digits, digits_classifier, untargeted_advgan, targeted_advgan):
    path = untargeted_advgan.save(tmp_path / "g.safetensors")
    loaded = AdvGAN.load(path, digits_classifier)
    np.testing.assert_array_equal(loaded.generate(digits.x_test), untargeted_advgan.generate(digits.x_test))
    assert loaded.eps == 0.3 and not loaded.targeted

    path_t = targeted_advgan.save(tmp_path / "t.safetensors")
    loaded_t = AdvGAN.load(path_t, digits_classifier, eps=0.3)
    targets = other_targets(digits.y_test)
    np.testing.assert_array_equal(loaded_t.generate(digits.x_test, targets), targeted_advgan.generate(digits.x_test, targets))

    with pytest.raises(ValueError, match="eps=0.5 exceeds the generator's trained eps=0.3"):
        AdvGAN.load(path, digits_classifier, eps=0.5)
    smaller = AdvGAN.load(path, digits_classifier, eps=0.1)  # a trained eps is a cap: a smaller one projects
    x_small = smaller.generate(digits.x_test)
    assert np.abs(x_small - digits.x_test).max() <= 0.1 + 1e-6
    with pytest.raises(ValueError, match="norm='2' contradicts the generator"):
        AdvGAN.load(path, digits_classifier, norm=2)
    assert AdvGAN.load(path, digits_classifier, norm=np.inf, targeted=False).norm_key == "inf"
    with pytest.raises(ValueError, match="targeted=True contradicts"):
        AdvGAN.load(path, digits_classifier, targeted=True)


def test_load_checks_input_shape(tmp_path, untargeted_advgan):
    from art_ext.models import SmallCNN, make_classifier

    path = untargeted_advgan.save(tmp_path / "g.safetensors")
    other = make_classifier(SmallCNN((1, 28, 28), 10), (1, 28, 28), 10)
    with pytest.raises(ValueError, match=r"classifier: input_shape \(1, 28, 28\) does not match"):
        AdvGAN.load(path, other)


def test_save_before_fit_raises(tmp_path, digits_classifier):
    with pytest.raises(NotFittedError):
        AdvGAN(digits_classifier, verbose=False).save(tmp_path / "x.safetensors")


def test_black_box_distillation_counts_queries(digits, digits_classifier):
    target = blackbox(digits_classifier)
    attack = AdvGAN(target, mode="black-box", nb_epochs=4, distill_epochs=4, verbose=False)
    n = len(digits.x_train)
    history = attack.fit(digits.x_train)
    # the target is queried once on the clean inputs, then once per epoch on the adversarial ones
    assert attack.n_queries == n * (1 + 4) == history["queries"][-1]
    x_adv = attack.generate(digits.x_test)
    assert np.abs(x_adv - digits.x_test).max() <= 0.3 + 1e-6
    clean = accuracy(digits_classifier, digits.x_test, digits.y_test)
    robust = accuracy(digits_classifier, x_adv, digits.y_test)
    assert robust < clean - 0.3, f"black-box AdvGAN: accuracy {clean:.3f} -> {robust:.3f}"


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"eps": 0.0}, "eps must be a finite number > 0"),
        ({"eps": -0.1}, "eps must be a finite number > 0"),
        ({"eps": 1.5}, "eps=1.5 exceeds the input range"),
        ({"eps": 9.0, "norm": 2}, "eps=9 exceeds the input range"),
        ({"norm": 1}, "norm must be 'inf'"),
        ({"norm": "l1"}, "norm must be 'inf'"),
        ({"precision": "fp8"}, "precision must be one of"),
        ({"mode": "white"}, "mode must be one of"),
        ({"alpha": -1.0}, "alpha must be"),
        ({"nb_epochs": 0}, "nb_epochs must be"),
        ({"batch_size": 0}, "batch_size must be"),
    ],
)
def test_bad_parameters(digits_classifier, params, match):
    with pytest.raises(ValueError, match=match):
        AdvGAN(digits_classifier, verbose=False, **params)


def test_set_params_is_checked(digits_classifier):
    attack = AdvGAN(digits_classifier, verbose=False)
    with pytest.raises(ValueError, match="eps must be a finite number > 0"):
        attack.set_params(eps=0)


def test_mismatched_generator(digits_classifier):
    with pytest.raises(ValueError, match=r"generator output shape \(2, 1, 6, 6\) does not match the input shape \(2, 1, 8, 8\)"):
        AdvGAN(digits_classifier, generator=nn.Conv2d(1, 1, 3), verbose=False)


def test_semi_whitebox_needs_gradients(digits_classifier):
    with pytest.raises(TypeError, match="classifier: mode='semi-whitebox' needs the target's gradients"):
        AdvGAN(blackbox(digits_classifier), verbose=False)


def test_wrong_input_shape(digits, untargeted_advgan):
    with pytest.raises(ValueError, match=r"x has shape \(3, 1, 28, 28\); expected \(N, 1, 8, 8\)"):
        untargeted_advgan.generate(np.zeros((3, 1, 28, 28), dtype=np.float32))


def test_custom_generator_is_used(digits, digits_classifier):
    generator = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 1, 3, padding=1), nn.Tanh())
    attack = AdvGAN(digits_classifier, generator=generator, nb_epochs=1, verbose=False)
    attack.fit(digits.x_train[:128])
    assert attack.generator is generator
    assert np.abs(attack.generate(digits.x_test[:10]) - digits.x_test[:10]).max() <= 0.3 + 1e-6


@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28), (3, 32, 32), (3, 30, 30)])
def test_default_networks_adapt_to_shape(shape):
    x = torch.rand(2, *shape)
    assert AdvGANGenerator(shape)(x).shape == x.shape
    assert AdvGANGenerator(shape, nb_classes=10)(x, torch.eye(10)[:2]).shape == x.shape
    assert AdvGANDiscriminator(shape)(x).shape == (2,)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_fit_and_generate_on_cuda(digits):
    from art_ext.models import SmallCNN, make_classifier

    classifier = make_classifier(SmallCNN((1, 8, 8), 10), (1, 8, 8), 10, device_type="gpu")
    attack = AdvGAN(classifier, nb_epochs=1, verbose=False)
    assert attack.device.type == "cuda"
    attack.fit(digits.x_train[:256])
    assert np.abs(attack.generate(digits.x_test[:32]) - digits.x_test[:32]).max() <= 0.3 + 1e-6


@pytest.mark.needs_data
@pytest.mark.slow
def test_mnist_advgan_lowers_accuracy(mnist_dir):
    from art_ext.data import load_mnist
    from art_ext.models import trained_small_cnn

    data = load_mnist(mnist_dir, n_train=2000, n_test=500, full=False)
    classifier = trained_small_cnn(data.x_train, data.y_train, epochs=4, seed=0)
    clean = accuracy(classifier, data.x_test, data.y_test)
    attack = AdvGAN(classifier, nb_epochs=3, batch_size=32, verbose=False)
    attack.fit(data.x_train)
    x_adv = attack.generate(data.x_test)
    assert np.abs(x_adv - data.x_test).max() <= 0.3 + 1e-6 and x_adv.min() >= 0.0 and x_adv.max() <= 1.0
    robust = accuracy(classifier, x_adv, data.y_test)
    # measured: clean 0.808 -> 0.106 under AdvGAN (seed 0)
    assert clean > 0.75 and robust < 0.4, f"MNIST: accuracy {clean:.3f} -> {robust:.3f}"


# ---------------------------------------------------------------- issue 12 regressions
def test_nan_uint8_and_out_of_range_inputs_are_refused(digits, digits_classifier, untargeted_advgan):
    attack = AdvGAN(digits_classifier, nb_epochs=1, verbose=False)
    x = digits.x_train[:64].copy()
    x[3, 0, 2, 2] = np.nan
    with pytest.raises(ValueError, match=r"x contains 1 NaN or inf values \(first at index \(3, 0, 2, 2\)\)"):
        attack.fit(x)  # before: every later generate output was NaN
    with pytest.raises(ValueError, match="outside the classifier's clip_values"):
        attack.fit(digits.x_train[:64] * 3)  # before: accepted x in [0, 3]
    with pytest.raises(TypeError, match="dtype uint8"):
        untargeted_advgan.generate((digits.x_test[:8] * 255).astype(np.uint8))  # before: truncated perturbation
    with pytest.raises(ValueError, match="outside the classifier's clip_values"):
        untargeted_advgan.generate(digits.x_test[:8] * 255)  # before: outputs outside clip_values


def test_float64_in_float64_out_within_eps(digits, untargeted_advgan):
    x = digits.x_test[:32].astype(np.float64)
    x_adv = untargeted_advgan.generate(x)
    assert x_adv.dtype == np.float64 and x_adv.shape == x.shape
    assert np.abs(x_adv - x).max() <= 0.3 * (1 + 1e-12) and x_adv.min() >= 0 and x_adv.max() <= 1


def test_trained_eps_is_a_cap_in_art_and_in_foolbox(digits, digits_classifier, untargeted_advgan):
    import copy

    import foolbox as fb
    from art_ext_plugins.gan.foolbox_attack import AdvGANAttack

    x = torch.from_numpy(digits.x_test[:40])
    y = torch.from_numpy(digits.y_test[:40])
    fmodel = fb.PyTorchModel(digits_classifier.model.eval(), bounds=(0, 1))
    _, native, _ = AdvGANAttack(untargeted_advgan)(fmodel, x, y, epsilons=0.5)
    attack = copy.deepcopy(untargeted_advgan)
    _, bridged, _ = art_ext.to_foolbox(attack)(fmodel, x, y, epsilons=0.5)
    # before: the bridge set eps=0.5 and rescaled the generator (0.3 -> 0.5)
    np.testing.assert_allclose(bridged.numpy(), native.numpy(), atol=1e-6)
    assert float((bridged - x).abs().max()) <= 0.3 + 1e-6
    _, small, _ = art_ext.to_foolbox(attack)(fmodel, x, y, epsilons=0.1)
    assert float((small - x).abs().max()) <= 0.1 + 1e-6


def test_loss_terms(digits):
    from art_ext_plugins.gan.losses import adversarial_loss, hinge_loss

    logits = torch.tensor([[3.0, 1.0, 0.0], [0.0, 2.0, 1.0]])
    labels = torch.tensor([0, 0])
    # untargeted: Z_y - max_{i != y} Z_i, clamped at -kappa (G stops once past the boundary by kappa)
    assert adversarial_loss(logits, labels, False, 0.0).tolist() == [2.0, -0.0]
    assert adversarial_loss(logits, labels, False, 5.0).tolist() == [2.0, -2.0]
    # targeted at class 2: max_{i != t} Z_i - Z_t
    assert adversarial_loss(logits, torch.tensor([2, 2]), True, 10.0).tolist() == [3.0, 1.0]
    x = torch.zeros(2, 1, 2, 2)
    x_adv = x.clone()
    x_adv[0] += 0.5  # L2 norm 1.0
    assert hinge_loss(x_adv, x, 0.1).tolist() == pytest.approx([0.9, 0.0])


def test_load_errors_name_the_path(tmp_path, digits, digits_classifier, untargeted_advgan):
    from safetensors.torch import save_file

    from art_ext.models import make_classifier

    good = untargeted_advgan.save(tmp_path / "g.safetensors")
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(good.read_bytes()[:300])
    with pytest.raises(ValueError, match=r"truncated\.safetensors is not a readable safetensors file"):
        AdvGAN.load(truncated, digits_classifier)
    bare = tmp_path / "bare.safetensors"
    save_file({"w": torch.zeros(2)}, str(bare))
    with pytest.raises(ValueError, match=r"bare\.safetensors is not an art-ext AdvGAN file"):
        AdvGAN.load(bare, digits_classifier)
    partial = tmp_path / "partial.safetensors"
    save_file({"w": torch.zeros(2)}, str(partial), metadata={"format": "art_ext.advgan"})
    with pytest.raises(ValueError, match=r"partial\.safetensors lacks AdvGAN metadata \['version', 'input_shape'"):
        AdvGAN.load(partial, digits_classifier)  # before: KeyError: 'nb_classes'
    other_clip = make_classifier(digits_classifier.model, digits.input_shape, 10, (0.0, 255.0))
    with pytest.raises(ValueError, match=r"clip_values \[0\.0, 255\.0\] differ"):
        AdvGAN.load(good, other_clip)
    with pytest.raises(ValueError, match="is a folder"):
        AdvGAN.load(tmp_path, digits_classifier)
    with pytest.raises(FileNotFoundError, match="missing"):
        AdvGAN.load(tmp_path / "missing.safetensors", digits_classifier)
