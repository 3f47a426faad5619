"""ShuffleNetV2, CIFAR variant.

Ma et al., "ShuffleNet V2: Practical Guidelines for Efficient CNN Architecture Design"
(ECCV 2018). A stride-1 unit splits its input channels in half, passes one half through
1x1 conv (BN, ReLU) -> 3x3 depthwise conv (BN) -> 1x1 conv (BN, ReLU), concatenates it with the
untouched half and shuffles the channels (2 groups). A stride-2 unit feeds the whole input to two
branches (the one above, and 3x3 depthwise stride-2 -> 1x1 conv), concatenates them (doubling
the width) and shuffles. Stages 2-4 repeat 4, 8 and 4 units; a 1x1 conv head precedes pooling.
Stage widths per multiplier are the paper's Table 5.

CIFAR adaptation: a 3x3 stride-1 stem (24 channels) and no max-pool, so stage 2 runs at 16x16
and stage 4 at 4x4. At 1.0x with 100 classes: 1.36 M parameters, ~45 MMACs.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from costmodel.zoo.layers import Classifier, ConvBNAct, channel_shuffle, make_divisible
from costmodel.zoo.registry import register

# width -> (stage 2, 3, 4 output channels, head conv channels), the paper's Table 5.
_WIDTHS: dict[float, tuple[int, int, int, int]] = {
    0.5: (48, 96, 192, 1024),
    1.0: (116, 232, 464, 1024),
    1.5: (176, 352, 704, 1024),
    2.0: (244, 488, 976, 2048),
}
_STAGE_UNITS = (4, 8, 4)


def _branch(in_ch: int, out_ch: int, stride: int) -> nn.Sequential:
    """1x1 conv (ReLU) -> 3x3 depthwise (no activation) -> 1x1 conv (ReLU)."""
    return nn.Sequential(
        ConvBNAct(in_ch, out_ch, 1),
        ConvBNAct(out_ch, out_ch, 3, stride=stride, groups=out_ch, act=None),
        ConvBNAct(out_ch, out_ch, 1),
    )


class ShuffleV2Unit(nn.Module):
    """Stride 1: split -> branch on one half -> concat -> shuffle.

    Stride 2: both branches see the whole input -> concat -> shuffle.
    """

    def __init__(self, in_ch: int, out_ch: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        half = out_ch // 2
        if stride == 1:
            if in_ch != out_ch:
                raise ValueError("a stride-1 ShuffleNetV2 unit keeps its width")
            self.right = _branch(half, half, 1)
        else:
            self.left = nn.Sequential(
                ConvBNAct(in_ch, in_ch, 3, stride=2, groups=in_ch, act=None),
                ConvBNAct(in_ch, half, 1),
            )
            self.right = _branch(in_ch, half, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            left, right = x.chunk(2, dim=1)
            out = torch.cat([left, self.right(right)], dim=1)
        else:
            out = torch.cat([self.left(x), self.right(x)], dim=1)
        return channel_shuffle(out, 2)


class ShuffleNetV2(nn.Module):
    """ShuffleNetV2 for 32x32 inputs."""

    def __init__(self, num_classes: int = 100, width: float = 1.0) -> None:
        super().__init__()
        if width in _WIDTHS:
            *stages, head_ch = _WIDTHS[width]
        else:
            # Off-table multipliers: scale the 1.0x widths (kept even for the split).
            stages = [make_divisible(c * width, 8) for c in _WIDTHS[1.0][:3]]
            head_ch = 1024 if width <= 1.5 else 2048
        stem_ch = 24
        layers: list[nn.Module] = [ConvBNAct(3, stem_ch, 3, stride=1)]
        in_ch = stem_ch
        for out_ch, units in zip(stages, _STAGE_UNITS, strict=True):
            for i in range(units):
                layers.append(ShuffleV2Unit(in_ch, out_ch, 2 if i == 0 else 1))
                in_ch = out_ch
        layers.append(ConvBNAct(in_ch, head_ch, 1))
        self.features = nn.Sequential(*layers)
        self.classifier = Classifier(head_ch, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def shufflenetv2(*, num_classes: int = 100, width: float = 1.0) -> nn.Module:
    """ShuffleNetV2 (CIFAR); ``width`` 0.5, 1.0, 1.5 or 2.0 follows the paper's table."""
    return ShuffleNetV2(num_classes=num_classes, width=width)


register(
    "shufflenetv2",
    "shufflenetv2",
    shufflenetv2,
    defaults={"num_classes": 100, "width": 1.0},
    variants=[{"width": 0.5}, {}, {"width": 1.5}, {"width": 2.0}],
    description="ShuffleNetV2 (CIFAR): channel split, concat and shuffle in every unit",
    study=True,
)
