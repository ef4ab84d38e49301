"""Networks for 32x32 colour images: the architectures of the fast/robust adversarial-training
literature, written here from their papers (no download, no torchvision).

* :class:`PreActResNet18`: He, Zhang, Ren & Sun, "Identity Mappings in Deep Residual Networks",
  ECCV 2016, in the CIFAR-10 form of Wong, Rice & Kolter, "Fast is better than free", ICLR 2020 and
  Rice, Wong & Kolter, "Overfitting in adversarially robust deep learning", ICML 2020: a 3x3 stem of
  64 channels, four stages of two pre-activation basic blocks (64, 128, 256, 512 channels, stride 2
  from the second stage), BatchNorm-ReLU, global average pooling, one linear layer (11.2 M
  parameters for 10 classes).
* :class:`WideResNet`: Zagoruyko & Komodakis, "Wide Residual Networks", BMVC 2016; ``depth=28,
  widen=10`` is WRN-28-10 (36.5 M parameters), the network of Madry et al.'s CIFAR-10 model and of
  most of RobustBench's CIFAR-10 leaderboard.
* :class:`CifarCNN`: a small four-convolution network for CPU runs (1.1 M parameters).

Every network takes inputs already normalised: the per-channel mean and standard deviation of the
data set travel in the ART classifier's ``preprocessing`` (:func:`art_ext.models.make_classifier`),
so ART, Foolbox and every art-ext attack work on images in ``[0, 1]`` and on the budgets written for
them (``8/255``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["CifarCNN", "PreActResNet18", "WideResNet", "wide_resnet_28_10"]


class _PreActBlock(nn.Module):
    """BN-ReLU-conv3x3-BN-ReLU-conv3x3 with an identity (or 1x1 strided) shortcut taken after the
    first BN-ReLU, as in the pre-activation paper."""

    def __init__(self, in_planes: int, planes: int, stride: int, drop: float = 0.0) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.drop = nn.Dropout(drop) if drop > 0 else nn.Identity()
        self.shortcut = (nn.Conv2d(in_planes, planes, 1, stride, bias=False)
                         if stride != 1 or in_planes != planes else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(x))
        shortcut = x if self.shortcut is None else self.shortcut(out)
        out = self.conv1(out)
        out = self.conv2(self.drop(torch.relu(self.bn2(out))))
        return out + shortcut


def _check_image_shape(input_shape: Sequence[int], name: str) -> int:
    channels, height, width = (int(d) for d in input_shape)
    if height < 8 or width < 8:
        raise ValueError(f"{name} needs images of at least 8x8 pixels, got input_shape {tuple(input_shape)}")
    return channels


class PreActResNet18(nn.Module):
    """Pre-activation ResNet-18 (see the module docstring); any (C, H, W) of 8x8 and up."""

    def __init__(self, input_shape: Sequence[int] = (3, 32, 32), nb_classes: int = 10) -> None:
        super().__init__()
        channels = _check_image_shape(input_shape, "PreActResNet18")
        self.stem = nn.Conv2d(channels, 64, 3, 1, 1, bias=False)
        blocks: list[nn.Module] = []
        in_planes = 64
        for planes, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            blocks += [_PreActBlock(in_planes, planes, stride), _PreActBlock(planes, planes, 1)]
            in_planes = planes
        self.blocks = nn.Sequential(*blocks)
        self.bn = nn.BatchNorm2d(512)
        self.linear = nn.Linear(512, nb_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn(self.blocks(self.stem(x))))
        return self.linear(torch.flatten(nn.functional.adaptive_avg_pool2d(out, 1), 1))  # type: ignore[no-any-return]


class WideResNet(nn.Module):
    """Wide ResNet ``depth``-``widen`` (``(depth - 4) / 6`` pre-activation blocks per stage, stages
    of 16k, 32k and 64k channels for ``k = widen``); He-normal init of the convolutions, zero
    biases of the linear layer, as in the paper's code."""

    def __init__(self, input_shape: Sequence[int] = (3, 32, 32), nb_classes: int = 10, depth: int = 28,
                 widen: int = 10, drop: float = 0.0) -> None:
        super().__init__()
        if (depth - 4) % 6 != 0 or depth < 10:
            raise ValueError(f"WideResNet depth must be 6n + 4 (10, 16, 22, 28, ...), got {depth}")
        if widen < 1:
            raise ValueError(f"WideResNet widen must be a positive integer, got {widen}")
        channels = _check_image_shape(input_shape, "WideResNet")
        per_stage = (depth - 4) // 6
        widths = (16, 16 * widen, 32 * widen, 64 * widen)
        self.stem = nn.Conv2d(channels, widths[0], 3, 1, 1, bias=False)
        blocks: list[nn.Module] = []
        in_planes = widths[0]
        for stage, planes in enumerate(widths[1:]):
            for index in range(per_stage):
                blocks.append(_PreActBlock(in_planes, planes, 2 if stage > 0 and index == 0 else 1, drop))
                in_planes = planes
        self.blocks = nn.Sequential(*blocks)
        self.bn = nn.BatchNorm2d(in_planes)
        self.linear = nn.Linear(in_planes, nb_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.Linear):
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn(self.blocks(self.stem(x))))
        return self.linear(torch.flatten(nn.functional.adaptive_avg_pool2d(out, 1), 1))  # type: ignore[no-any-return]


def wide_resnet_28_10(input_shape: Sequence[int] = (3, 32, 32), nb_classes: int = 10) -> WideResNet:
    """WRN-28-10."""
    return WideResNet(input_shape, nb_classes, depth=28, widen=10)


class CifarCNN(nn.Module):
    """Four 3x3 convolutions (32, 32, 64, 64 channels, max-pooling after each pair) and two linear
    layers: a colour-image network that trains in minutes on a CPU."""

    def __init__(self, input_shape: Sequence[int] = (3, 32, 32), nb_classes: int = 10) -> None:
        super().__init__()
        channels = _check_image_shape(input_shape, "CifarCNN")

        def pair(cin: int, cout: int) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(), nn.Conv2d(cout, cout, 3, padding=1), nn.ReLU(),
                    nn.MaxPool2d(2)]

        self.features = nn.Sequential(*pair(channels, 32), *pair(32, 64))
        with torch.no_grad():
            flat = self.features(torch.zeros(1, *input_shape)).numel()
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(flat, 256), nn.ReLU(), nn.Linear(256, nb_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))  # type: ignore[no-any-return]
