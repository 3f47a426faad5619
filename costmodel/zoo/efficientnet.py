"""EfficientNet (B0-style compound scaling), CIFAR variant.

Tan and Le, "EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks"
(ICML 2019). The B0 baseline: a 3x3 stem (32 channels), seven stages of MBConv blocks (1x1
expansion, kxk depthwise conv, squeeze-and-excitation reduced to a quarter of the block's input
width, linear 1x1 projection, residual add when shape allows), all with SiLU (swish), a 1x1 conv
head to 1280 channels, pooling, dropout and a linear classifier. Compound scaling multiplies the
channel counts by ``width`` (rounded to multiples of 8) and each stage's block count by ``depth``
(rounded up), as in the paper's B1-B7 (B1: 1.0/1.1, B2: 1.1/1.2, B3: 1.2/1.4).

CIFAR adaptation: a stride-1 stem and the second stage (24 channels) keeps stride 1, so 32x32
ends at 4x4 (three halvings instead of five). Stochastic depth is left out (an inference model).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from costmodel.zoo.layers import Classifier, ConvBNAct, SqueezeExcite, scale_channels
from costmodel.zoo.registry import register, register_alias

# (expansion, kernel, stride, output channels, blocks) per stage: the paper's Table 1.
_STAGES: tuple[tuple[int, int, int, int, int], ...] = (
    (1, 3, 1, 16, 1),
    (6, 3, 1, 24, 2),  # stride 2 on ImageNet
    (6, 5, 2, 40, 2),
    (6, 3, 2, 80, 3),
    (6, 5, 1, 112, 3),
    (6, 5, 2, 192, 4),
    (6, 3, 1, 320, 1),
)


class MBConv(nn.Module):
    """Expand 1x1 -> depthwise kxk -> SE -> project 1x1 [+ input], SiLU throughout."""

    def __init__(self, in_ch: int, out_ch: int, expansion: int, kernel: int, stride: int) -> None:
        super().__init__()
        hidden = in_ch * expansion
        layers: list[nn.Module] = []
        if expansion != 1:
            layers.append(ConvBNAct(in_ch, hidden, 1, act=nn.SiLU))
        layers += [
            ConvBNAct(hidden, hidden, kernel, stride=stride, groups=hidden, act=nn.SiLU),
            # EfficientNet sizes the SE bottleneck from the block's input, not expanded, width.
            SqueezeExcite(hidden, max(1, in_ch // 4), act=nn.SiLU, gate=nn.Sigmoid),
            ConvBNAct(hidden, out_ch, 1, act=None),
        ]
        self.block = nn.Sequential(*layers)
        self.use_residual = stride == 1 and in_ch == out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.use_residual:
            return x + self.block(x)
        return self.block(x)


class EfficientNet(nn.Module):
    """EfficientNet for 32x32 inputs."""

    def __init__(
        self,
        num_classes: int = 100,
        width: float = 1.0,
        depth: float = 1.0,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        stem_ch = scale_channels(32, width)
        layers: list[nn.Module] = [ConvBNAct(3, stem_ch, 3, stride=1, act=nn.SiLU)]
        in_ch = stem_ch
        for expansion, kernel, stride, out, blocks in _STAGES:
            out_ch = scale_channels(out, width)
            # The paper rounds scaled block counts up (layers.scale_depth rounds to nearest).
            for i in range(max(1, math.ceil(blocks * depth))):
                layers.append(MBConv(in_ch, out_ch, expansion, kernel, stride if i == 0 else 1))
                in_ch = out_ch
        head_ch = scale_channels(1280, width)
        layers.append(ConvBNAct(in_ch, head_ch, 1, act=nn.SiLU))
        self.features = nn.Sequential(*layers)
        self.classifier = Classifier(head_ch, num_classes, dropout=dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def efficientnet(
    *, num_classes: int = 100, width: float = 1.0, depth: float = 1.0, dropout: float = 0.2
) -> nn.Module:
    """EfficientNet (CIFAR) with width and depth multipliers (1.0/1.0 is B0)."""
    return EfficientNet(num_classes=num_classes, width=width, depth=depth, dropout=dropout)


register(
    "efficientnet",
    "efficientnet",
    efficientnet,
    defaults={"num_classes": 100, "width": 1.0, "depth": 1.0, "dropout": 0.2},
    variants=[
        {"width": 0.5, "depth": 0.5},
        {"width": 0.75, "depth": 0.75},
        {},
        {"width": 1.0, "depth": 1.1},
        {"width": 1.1, "depth": 1.2},
    ],
    description="EfficientNet B0-style (CIFAR): MBConv with SE, SiLU; width/depth multipliers",
)
register_alias("efficientnet_b0", "efficientnet", width=1.0, depth=1.0)
register_alias("efficientnet_b1", "efficientnet", width=1.0, depth=1.1)
register_alias("efficientnet_b2", "efficientnet", width=1.1, depth=1.2)
