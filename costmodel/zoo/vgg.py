"""VGG with batch normalisation for CIFAR: VGG-11/13/16/19.

From Simonyan and Zisserman, "Very Deep Convolutional Networks for Large-Scale Image Recognition"
(ICLR 2015), configurations A/B/D/E, with BatchNorm after every 3x3 conv (Ioffe and Szegedy 2015)
in the common CIFAR form: five 2x2 max-pools take 32x32 down to 1x1, so the classifier is
512 -> 4096 -> 4096 -> num_classes with ReLU and dropout between (no 7x7 adaptive pool).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from costmodel.zoo.layers import ConvBNAct, scale_channels
from costmodel.zoo.registry import register, register_alias

# depth -> conv channels per stage; a max-pool follows every stage (Table 1 of the paper)
VGG_STAGES: dict[int, tuple[tuple[int, ...], ...]] = {
    11: ((64,), (128,), (256, 256), (512, 512), (512, 512)),
    13: ((64, 64), (128, 128), (256, 256), (512, 512), (512, 512)),
    16: ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512)),
    19: ((64, 64), (128, 128), (256,) * 4, (512,) * 4, (512,) * 4),
}


class VGG(nn.Module):
    """Conv3x3-BN-ReLU stages, each closed by a 2x2 max-pool, then a three-layer classifier."""

    def __init__(
        self,
        stages: tuple[tuple[int, ...], ...],
        hidden: int = 4096,
        num_classes: int = 100,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_ch = 3
        for stage in stages:
            for ch in stage:
                layers.append(ConvBNAct(in_ch, ch, 3))
                in_ch = ch
            layers.append(nn.MaxPool2d(2, 2))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Linear(in_ch, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        return self.classifier(torch.flatten(x, 1))


def build_vgg(*, depth: int = 16, width: float = 1.0, num_classes: int = 100) -> VGG:
    """A CIFAR VGG-BN; ``width`` scales every conv and the classifier's hidden layers."""
    if depth not in VGG_STAGES:
        raise ValueError(f"VGG depth must be one of {sorted(VGG_STAGES)}, got {depth}")
    stages = tuple(tuple(scale_channels(c, width) for c in s) for s in VGG_STAGES[depth])
    return VGG(stages, hidden=scale_channels(4096, width), num_classes=num_classes)


register(
    "vgg",
    "vgg",
    build_vgg,
    defaults={"depth": 16, "width": 1.0, "num_classes": 100},
    variants=[
        {"depth": 11},
        {"depth": 13},
        {},  # VGG-16-BN, the study model
        {"depth": 19},
        {"depth": 11, "width": 0.5},
        {"depth": 16, "width": 0.5},
    ],
    description="VGG-11/13/16/19 with BatchNorm for CIFAR (5 max-pools, 4096-wide classifier); "
    "Simonyan & Zisserman 2015",
    study=True,
)
for _d in sorted(VGG_STAGES):
    register_alias(f"vgg{_d}", "vgg", depth=_d)
