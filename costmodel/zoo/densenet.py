"""DenseNet-BC for CIFAR: densely connected bottleneck layers with compressed transitions.

From Huang, Liu, van der Maaten, Weinberger, "Densely Connected Convolutional Networks" (CVPR 2017).
Each layer is BN-ReLU-Conv1x1(4k)-BN-ReLU-Conv3x3(k) on the concatenation of all earlier feature
maps, and appends its ``k`` (growth rate) new channels with ``torch.cat``, so the network is
concatenation-heavy. Transitions between dense blocks are BN-ReLU-Conv1x1 (compressing channels
by ``compression``, 0.5 for "-BC") and a 2x2 average pool. The stem is a 3x3 stride-1 conv to 2k
channels with no max-pool.

``depth`` picks the layout:

* 121/169/201/264: the four-block ImageNet configurations ([6,12,24,16] etc.) on 32x32 input;
* any ``6 n + 4`` (40, 100, 190, 250): the paper's three-block CIFAR DenseNet-BC with ``n``
  bottleneck layers per block.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from costmodel.zoo.layers import Classifier
from costmodel.zoo.registry import register, register_alias

DENSENET_BLOCKS: dict[int, tuple[int, ...]] = {
    121: (6, 12, 24, 16),
    169: (6, 12, 32, 32),
    201: (6, 12, 48, 32),
    264: (6, 12, 64, 48),
}
BOTTLENECK_FACTOR = 4  # the 1x1 conv of a layer outputs 4k channels


def _bn_relu_conv(in_ch: int, out_ch: int, kernel_size: int) -> nn.Sequential:
    """Pre-activation unit: BN -> ReLU -> conv (no bias)."""
    return nn.Sequential(
        nn.BatchNorm2d(in_ch),
        nn.ReLU(inplace=True),
        nn.Conv2d(in_ch, out_ch, kernel_size, padding=kernel_size // 2, bias=False),
    )


class DenseLayer(nn.Module):
    """Bottleneck layer; returns its input with ``growth_rate`` new channels concatenated."""

    def __init__(self, in_ch: int, growth_rate: int) -> None:
        super().__init__()
        self.reduce = _bn_relu_conv(in_ch, BOTTLENECK_FACTOR * growth_rate, 1)
        self.conv = _bn_relu_conv(BOTTLENECK_FACTOR * growth_rate, growth_rate, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, self.conv(self.reduce(x))], 1)


class Transition(nn.Sequential):
    """BN -> ReLU -> 1x1 conv (compression) -> 2x2 average pool."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__(*_bn_relu_conv(in_ch, out_ch, 1), nn.AvgPool2d(2, 2))


class DenseNet(nn.Module):
    """Stem conv, dense blocks separated by transitions, final BN-ReLU, pooled linear head."""

    def __init__(
        self,
        blocks: tuple[int, ...],
        growth_rate: int = 32,
        compression: float = 0.5,
        num_classes: int = 100,
    ) -> None:
        super().__init__()
        ch = 2 * growth_rate
        self.stem = nn.Conv2d(3, ch, 3, padding=1, bias=False)
        layers: list[nn.Module] = []
        for i, n in enumerate(blocks):
            for _ in range(n):
                layers.append(DenseLayer(ch, growth_rate))
                ch += growth_rate
            if i < len(blocks) - 1:
                out_ch = max(1, int(ch * compression))
                layers.append(Transition(ch, out_ch))
                ch = out_ch
        self.features = nn.Sequential(*layers)
        self.norm = nn.Sequential(nn.BatchNorm2d(ch), nn.ReLU(inplace=True))
        self.head = Classifier(ch, num_classes)
        self.out_channels = ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.norm(self.features(self.stem(x))))


def densenet_blocks(depth: int) -> tuple[int, ...]:
    """Layers per dense block for a DenseNet depth (see the module docstring)."""
    if depth in DENSENET_BLOCKS:
        return DENSENET_BLOCKS[depth]
    if depth >= 10 and (depth - 4) % 6 == 0:
        n = (depth - 4) // 6  # two convs per layer, plus stem, two transitions and the linear
        return (n, n, n)
    raise ValueError(
        f"DenseNet depth must be one of {sorted(DENSENET_BLOCKS)} or 6n+4 (40, 100, ...), "
        f"got {depth}"
    )


def build_densenet(
    *, depth: int = 121, growth_rate: int = 32, compression: float = 0.5, num_classes: int = 100
) -> DenseNet:
    """A CIFAR DenseNet-BC of ``depth`` with growth rate ``growth_rate``."""
    if growth_rate < 1 or not 0.0 < compression <= 1.0:
        raise ValueError("growth_rate must be positive and compression in (0, 1]")
    return DenseNet(densenet_blocks(depth), growth_rate, compression, num_classes)


register(
    "densenet",
    "densenet",
    build_densenet,
    defaults={"depth": 121, "growth_rate": 32, "compression": 0.5, "num_classes": 100},
    variants=[
        {},  # DenseNet-121 layout, k=32
        {"growth_rate": 12},
        {"depth": 169, "growth_rate": 24},
        {"depth": 100, "growth_rate": 12},  # the paper's CIFAR DenseNet-BC (L=100, k=12)
        {"depth": 40, "growth_rate": 12},
        {"depth": 64, "growth_rate": 24},
    ],
    description="DenseNet-BC for CIFAR (concatenating bottleneck layers, compression 0.5); "
    "Huang et al. 2017",
)
register_alias("densenet121", "densenet", depth=121, growth_rate=32)
register_alias("densenet169", "densenet", depth=169, growth_rate=32)
register_alias("densenet_bc100", "densenet", depth=100, growth_rate=12)
