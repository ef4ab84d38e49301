"""Default AdvGAN networks that adapt to the input shape.

The architectures follow the AdvGAN paper (Xiao et al., IJCAI 2018, section 4.1), which takes
the generator from Johnson et al.'s image-transformation network and a small convolutional
discriminator, at the widths of the widely used public PyTorch reference for MNIST:

* generator: ``c3s1-w``, ``d2w``, ``d4w``, ``4 x r4w``, ``u2w``, ``uw``, ``c3s1-C``, ``tanh``; each
  convolution followed by instance norm and ReLU. The number of stride-2 stages (0, 1 or 2)
  is chosen so that the bottleneck keeps at least 4x4 pixels: 8x8 digits get one stage,
  28x28 MNIST and 32x32 CIFAR-like images get two. Output in ``[-1, 1]``, same shape as the
  input; the attack scales it by ``eps``.
* conditional generator (targeted mode): the target class is given as ``nb_classes`` one-hot
  planes concatenated to the input, so one generator serves every target class.
* discriminator: stride-2 ``c4-w``, ``c4-2w``, ``c4-4w`` with leaky ReLU (as many stages as the
  input allows), then a linear layer to one realness score per example.

Any ``torch.nn.Module`` may replace them: a generator maps ``x`` (and, in targeted mode, a
one-hot ``target`` of shape ``(N, nb_classes)``) to a tensor of the input's shape; a
discriminator maps ``x`` to one score per example.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from art_ext.models import SmallCNN

__all__ = [
    "MODES", "AdvGANDiscriminator", "AdvGANGenerator", "default_surrogate", "n_down_stages"]

#: how AdvGAN's generator learns: against the target's gradients, or against a surrogate distilled
#: from the target's predictions
MODES = ("semi-whitebox", "black-box")


def n_down_stages(height: int, width: int, max_stages: int = 2, min_size: int = 4) -> int:
    """How many stride-2 stages keep both sides even and the bottleneck at least ``min_size``."""
    stages = 0
    while stages < max_stages and height % 2 == 0 and width % 2 == 0 and min(height, width) // 2 >= min_size:
        height, width = height // 2, width // 2
        stages += 1
    return stages


class _ResidualBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.InstanceNorm2d(channels, affine=True),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.InstanceNorm2d(channels, affine=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)  # type: ignore[no-any-return]


def _conv_block(c_in: int, c_out: int, kernel: int, stride: int, padding: int) -> list[nn.Module]:
    return [
        nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False),
        nn.InstanceNorm2d(c_out, affine=True),
        nn.ReLU(inplace=True),
    ]


class AdvGANGenerator(nn.Module):
    """Encoder / residual bottleneck / decoder generator of perturbations in ``[-1, 1]``.

    :param input_shape: ``(C, H, W)`` of one input.
    :param nb_classes: when given, the generator is conditional on a one-hot target class
        (targeted AdvGAN) and ``forward(x, target)`` takes it as ``(N, nb_classes)``.
    :param width: channels of the first stage (8 in the reference MNIST generator).
    :param n_residual: residual blocks in the bottleneck (4 in the paper).
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        nb_classes: int | None = None,
        width: int = 8,
        n_residual: int = 4,
    ) -> None:
        super().__init__()
        if len(input_shape) != 3:
            raise ValueError(f"input_shape must be (C, H, W), got {tuple(input_shape)}")
        channels, height, width_px = (int(v) for v in input_shape)
        self.input_shape = (channels, height, width_px)
        self.nb_classes = nb_classes
        self.width = width
        self.n_residual = n_residual
        stages = n_down_stages(height, width_px)
        c_in = channels + (nb_classes or 0)
        layers: list[nn.Module] = _conv_block(c_in, width, 3, 1, 1)
        c = width
        for _ in range(stages):
            layers += _conv_block(c, 2 * c, 3, 2, 1)
            c *= 2
        layers += [_ResidualBlock(c) for _ in range(n_residual)]
        for _ in range(stages):
            layers += [
                nn.ConvTranspose2d(c, c // 2, 4, stride=2, padding=1, bias=False),
                nn.InstanceNorm2d(c // 2, affine=True),
                nn.ReLU(inplace=True),
            ]
            c //= 2
        layers += [nn.Conv2d(c, channels, 3, padding=1), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
        if self.nb_classes is not None:
            if target is None:
                raise ValueError("this generator is conditional (targeted AdvGAN): pass the one-hot target")
            planes = target.to(x.dtype)[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])
            x = torch.cat([x, planes], dim=1)
        return self.net(x)  # type: ignore[no-any-return]


class AdvGANDiscriminator(nn.Module):
    """Small convolutional discriminator; one unbounded realness score per example (LSGAN)."""

    def __init__(self, input_shape: Sequence[int], width: int = 8) -> None:
        super().__init__()
        channels, height, width_px = (int(v) for v in input_shape)
        layers: list[nn.Module] = []
        c_in, c_out = channels, width
        h, w = height, width_px
        for _ in range(3):
            if min(h, w) < 4:
                break
            layers += [nn.Conv2d(c_in, c_out, 4, stride=2, padding=1), nn.LeakyReLU(0.2, inplace=True)]
            c_in, c_out = c_out, 2 * c_out
            h, w = h // 2, w // 2
        if not layers:  # tiny inputs: one stride-1 convolution
            layers = [nn.Conv2d(c_in, c_out, 3, padding=1), nn.LeakyReLU(0.2, inplace=True)]
            c_in = c_out
        self.features = nn.Sequential(*layers)
        with torch.no_grad():
            flat = self.features(torch.zeros(1, channels, height, width_px)).numel()
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(flat, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)).squeeze(1)  # type: ignore[no-any-return]


def default_surrogate(input_shape: Sequence[int], nb_classes: int) -> nn.Module:
    """The black-box mode's distilled surrogate: art-ext's :class:`~art_ext.models.SmallCNN`."""
    return SmallCNN(tuple(input_shape), nb_classes)
