"""MobileNet (v1), CIFAR variant.

Howard et al., "MobileNets: Efficient Convolutional Neural Networks for Mobile Vision
Applications" (arXiv 1704.04861, 2017): a 3x3 stem convolution followed by 13
depthwise-separable blocks (3x3 depthwise conv + BN + ReLU, then 1x1 pointwise conv + BN + ReLU),
global average pooling and one linear layer. The width multiplier ``alpha`` thins every layer.

CIFAR adaptation (the variant common in PyTorch CIFAR-100 code): the stem has stride 1 and the
first separable block (32 -> 64) keeps stride 1, so the four stride-2 blocks take 32x32 down to
2x2 before pooling. With 100 classes this gives 3.3 M parameters and ~47 MMACs, matching the
study's reference table.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from costmodel.zoo.layers import Classifier, ConvBNAct, scale_channels
from costmodel.zoo.registry import register

# (output channels, stride) of the 13 depthwise-separable blocks.
_BLOCKS: tuple[tuple[int, int], ...] = (
    (64, 1),
    (128, 2),
    (128, 1),
    (256, 2),
    (256, 1),
    (512, 2),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (1024, 2),
    (1024, 1),
)


class DepthwiseSeparable(nn.Sequential):
    """3x3 depthwise conv + BN + ReLU, then 1x1 pointwise conv + BN + ReLU."""

    def __init__(self, in_ch: int, out_ch: int, stride: int) -> None:
        super().__init__(
            ConvBNAct(in_ch, in_ch, 3, stride=stride, groups=in_ch),
            ConvBNAct(in_ch, out_ch, 1),
        )


class MobileNet(nn.Module):
    """MobileNet v1 for 32x32 inputs."""

    def __init__(self, num_classes: int = 100, width: float = 1.0) -> None:
        super().__init__()
        stem_ch = scale_channels(32, width)
        layers: list[nn.Module] = [ConvBNAct(3, stem_ch, 3, stride=1)]
        in_ch = stem_ch
        for out, stride in _BLOCKS:
            out_ch = scale_channels(out, width)
            layers.append(DepthwiseSeparable(in_ch, out_ch, stride))
            in_ch = out_ch
        self.features = nn.Sequential(*layers)
        self.classifier = Classifier(in_ch, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def mobilenet(*, num_classes: int = 100, width: float = 1.0) -> nn.Module:
    """MobileNet v1 (CIFAR) with width multiplier ``width``."""
    return MobileNet(num_classes=num_classes, width=width)


register(
    "mobilenet",
    "mobilenet",
    mobilenet,
    defaults={"num_classes": 100, "width": 1.0},
    variants=[{"width": 0.25}, {"width": 0.5}, {"width": 0.75}, {}],
    description="MobileNet v1 (CIFAR): 13 depthwise-separable blocks, width multiplier",
    study=True,
)
