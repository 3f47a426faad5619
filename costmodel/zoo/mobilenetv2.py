"""MobileNetV2, CIFAR variant.

Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks" (CVPR 2018): a stem
convolution, 17 inverted-residual blocks (1x1 expansion + ReLU6, 3x3 depthwise + ReLU6, linear
1x1 projection; a residual add when stride is 1 and the channel count is unchanged), a 1x1 conv
to 1280 channels, global average pooling and a linear classifier.

CIFAR adaptation: the stem is a 3x3 stride-1 conv, and of the ImageNet stage strides
1, 2, 2, 2, 1, 2, 1 the 64-channel stage's stride 2 is dropped, so 32x32 ends at 4x4. This layout
matches the study's reference: 2.35 M parameters and ~69 MMACs with 100 classes, and 10 residual
adds. (Dropping the 160-channel stage's stride instead gives only ~44 MMACs, the 24-channel
stage's ~88 MMACs.)
"""

from __future__ import annotations

import torch
import torch.nn as nn

from costmodel.zoo.layers import Classifier, ConvBNAct, make_divisible, scale_channels
from costmodel.zoo.registry import register

# (expansion t, output channels c, repeats n, first stride s) per stage.
_STAGES: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 1),  # stride 2 on ImageNet; 1 here (see the module docstring)
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


class InvertedResidual(nn.Module):
    """Expand (1x1, ReLU6) -> depthwise 3x3 (ReLU6) -> project (1x1, linear) [+ input]."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = in_ch * expansion
        layers: list[nn.Module] = []
        if expansion != 1:
            layers.append(ConvBNAct(in_ch, hidden, 1, act=nn.ReLU6))
        layers += [
            ConvBNAct(hidden, hidden, 3, stride=stride, groups=hidden, act=nn.ReLU6),
            ConvBNAct(hidden, out_ch, 1, act=None),
        ]
        self.conv = nn.Sequential(*layers)
        self.use_residual = stride == 1 and in_ch == out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.use_residual:
            return x + self.conv(x)
        return self.conv(x)


class MobileNetV2(nn.Module):
    """MobileNetV2 for 32x32 inputs."""

    def __init__(self, num_classes: int = 100, width: float = 1.0, dropout: float = 0.0) -> None:
        super().__init__()
        stem_ch = scale_channels(32, width)
        # The 1280-channel head conv is only widened, never thinned (as in the paper).
        last_ch = make_divisible(1280 * max(1.0, width))
        layers: list[nn.Module] = [ConvBNAct(3, stem_ch, 3, stride=1, act=nn.ReLU6)]
        in_ch = stem_ch
        for t, c, n, s in _STAGES:
            out_ch = scale_channels(c, width)
            for i in range(n):
                layers.append(InvertedResidual(in_ch, out_ch, s if i == 0 else 1, t))
                in_ch = out_ch
        layers.append(ConvBNAct(in_ch, last_ch, 1, act=nn.ReLU6))
        self.features = nn.Sequential(*layers)
        self.classifier = Classifier(last_ch, num_classes, dropout=dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def mobilenetv2(*, num_classes: int = 100, width: float = 1.0, dropout: float = 0.0) -> nn.Module:
    """MobileNetV2 (CIFAR) with width multiplier ``width``."""
    return MobileNetV2(num_classes=num_classes, width=width, dropout=dropout)


register(
    "mobilenetv2",
    "mobilenetv2",
    mobilenetv2,
    defaults={"num_classes": 100, "width": 1.0, "dropout": 0.0},
    variants=[{"width": 0.35}, {"width": 0.5}, {"width": 0.75}, {}, {"width": 1.4}],
    description="MobileNetV2 (CIFAR): inverted residuals with ReLU6, width multiplier",
    study=True,
)
