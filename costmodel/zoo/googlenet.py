"""GoogLeNet (Inception-v1) for CIFAR.

From Szegedy et al., "Going Deeper with Convolutions" (CVPR 2015), Table 1: nine Inception
modules (3a-3b, 4a-4e, 5a-5b), each concatenating four branches: 1x1 | 1x1-3x3 | 1x1-5x5 |
3x3 max-pool-1x1, with stride-2 max-pools between the groups, global average pooling, dropout 0.4
and one linear layer (no auxiliary classifiers). BatchNorm follows every conv (as in the
BN-Inception and all common CIFAR versions), and the 5x5 branch is two 3x3 convs, the
factorisation the later Inception papers use.

CIFAR form: the ImageNet stem (7x7/2 conv, pools, 3x3 conv, 224 -> 28) becomes three stride-1
3x3 convs to 192 channels, so modules 3x run at 32x32, 4x at 16x16 and 5x at 8x8.
``width`` multiplies every channel count.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from costmodel.zoo.layers import Classifier, ConvBNAct, scale_channels
from costmodel.zoo.registry import register, register_alias

# Table 1: (#1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj); None marks a max-pool
GOOGLENET_CFG: tuple[tuple[int, int, int, int, int, int] | None, ...] = (
    (64, 96, 128, 16, 32, 32),  # 3a
    (128, 128, 192, 32, 96, 64),  # 3b
    None,
    (192, 96, 208, 16, 48, 64),  # 4a
    (160, 112, 224, 24, 64, 64),  # 4b
    (128, 128, 256, 24, 64, 64),  # 4c
    (112, 144, 288, 32, 64, 64),  # 4d
    (256, 160, 320, 32, 128, 128),  # 4e
    None,
    (256, 160, 320, 32, 128, 128),  # 5a
    (384, 192, 384, 48, 128, 128),  # 5b
)


class InceptionModule(nn.Module):
    """Four parallel branches concatenated along channels."""

    def __init__(
        self, in_ch: int, n1: int, r3: int, n3: int, r5: int, n5: int, pool_proj: int
    ) -> None:
        super().__init__()
        self.b1 = ConvBNAct(in_ch, n1, 1)
        self.b3 = nn.Sequential(ConvBNAct(in_ch, r3, 1), ConvBNAct(r3, n3, 3))
        # "5x5" branch as two stacked 3x3 convs (same receptive field, fewer MACs)
        self.b5 = nn.Sequential(ConvBNAct(in_ch, r5, 1), ConvBNAct(r5, n5, 3), ConvBNAct(n5, n5, 3))
        self.pool = nn.Sequential(
            nn.MaxPool2d(3, stride=1, padding=1), ConvBNAct(in_ch, pool_proj, 1)
        )
        self.out_ch = n1 + n3 + n5 + pool_proj

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b1(x), self.b3(x), self.b5(x), self.pool(x)], 1)


class GoogLeNet(nn.Module):
    """Three-conv stem, nine Inception modules with two max-pools, pooled linear classifier."""

    def __init__(self, width: float = 1.0, num_classes: int = 100, dropout: float = 0.4) -> None:
        super().__init__()

        def s(ch: int) -> int:
            return scale_channels(ch, width)

        self.stem = nn.Sequential(
            ConvBNAct(3, s(64), 3), ConvBNAct(s(64), s(64), 3), ConvBNAct(s(64), s(192), 3)
        )
        layers: list[nn.Module] = []
        ch = s(192)
        for cfg in GOOGLENET_CFG:
            if cfg is None:
                layers.append(nn.MaxPool2d(3, stride=2, padding=1))
                continue
            layers.append(InceptionModule(ch, *(s(c) for c in cfg)))
            ch = layers[-1].out_ch
        self.blocks = nn.Sequential(*layers)
        self.classifier = Classifier(ch, num_classes, dropout=dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.blocks(self.stem(x)))


def build_googlenet(*, width: float = 1.0, num_classes: int = 100) -> GoogLeNet:
    """CIFAR GoogLeNet; ``width`` scales every channel count."""
    if width <= 0:
        raise ValueError(f"width must be positive, got {width}")
    return GoogLeNet(width=width, num_classes=num_classes)


register(
    "googlenet",
    "googlenet",
    build_googlenet,
    defaults={"width": 1.0, "num_classes": 100},
    variants=[{"width": 0.25}, {"width": 0.5}, {"width": 0.75}, {}],
    description="GoogLeNet / Inception-v1 for CIFAR (3-conv stride-1 stem, 9 four-branch "
    "Inception modules, concatenation); Szegedy et al. 2015",
)
register_alias("inceptionv1", "googlenet")
