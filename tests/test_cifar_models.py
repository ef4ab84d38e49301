"""The 32x32 colour networks (issue 26): the papers' sizes, any image shape, and the per-channel
normalisation carried by the ART classifier so that every attack works on [0, 1] images."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from art_ext.cifar_models import CifarCNN, PreActResNet18, WideResNet, wide_resnet_28_10
from art_ext.evaluation import evaluate
from art_ext.models import MODEL_ZOO, make_classifier

CIFAR10_NORMALISATION = ((0.4914, 0.4822, 0.4465), (0.2471, 0.2435, 0.2616))


def _parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_the_networks_have_their_papers_sizes():
    assert round(_parameters(PreActResNet18()) / 1e6, 2) == 11.17  # Wong et al. / Rice et al.
    assert round(_parameters(wide_resnet_28_10()) / 1e6, 1) == 36.5  # Zagoruyko & Komodakis
    assert len(WideResNet(depth=16, widen=2).blocks) == 6  # (16 - 4) / 6 = 2 blocks x 3 stages
    assert {"preact_resnet18", "wrn_28_10", "cifar_cnn"} <= set(MODEL_ZOO)


@pytest.mark.parametrize("build", [PreActResNet18, CifarCNN, lambda s, c: WideResNet(s, c, depth=10, widen=1)])
@pytest.mark.parametrize("shape", [(3, 32, 32), (1, 28, 28)])
def test_any_image_shape_gives_logits(build, shape):
    model = build(shape, 7).eval()
    assert model(torch.zeros(2, *shape)).shape == (2, 7)


def test_bad_shapes_and_depths_are_refused():
    with pytest.raises(ValueError, match="at least 8x8"):
        PreActResNet18((3, 4, 4))
    with pytest.raises(ValueError, match="6n \\+ 4"):
        WideResNet(depth=27)


def test_normalisation_lives_in_the_classifier_and_attacks_see_unit_range_images():
    torch.manual_seed(0)
    model = CifarCNN((3, 32, 32), 10).eval()
    classifier = make_classifier(model, (3, 32, 32), 10, normalisation=CIFAR10_NORMALISATION)
    x = np.random.default_rng(0).random((6, 3, 32, 32)).astype(np.float32)
    mean, std = (np.asarray(v, np.float32).reshape(1, 3, 1, 1) for v in CIFAR10_NORMALISATION)
    with torch.no_grad():
        expected = model(torch.from_numpy((x - mean) / std)).numpy()
    np.testing.assert_allclose(classifier.predict(x), expected, rtol=1e-4, atol=1e-5)
    labels = classifier.predict(x).argmax(1)
    report = evaluate(classifier, x, labels, eps=8 / 255, pgd_steps=3, pgd_restarts=1, autoattack_version=None)
    assert report.accuracy("clean") == 1.0 and 0.0 <= report.accuracy("worst") <= 1.0
