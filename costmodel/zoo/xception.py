"""Xception for CIFAR.

From Chollet, "Xception: Deep Learning with Depthwise Separable Convolutions" (CVPR 2017), Fig. 5:
an entry flow (two convs, then three residual blocks of separable convs with 1x1 projection
shortcuts), a middle flow of residual blocks of three ReLU-separable-BN layers with identity
shortcuts (repeated eight times), and an exit flow (one more residual block, two separable convs
to 2048 channels, global average pooling, linear). A separable conv is a depthwise 3x3 conv
(``groups`` = channels) followed by a pointwise 1x1 conv, with no activation between them.

CIFAR form (the study's, 21.0 M parameters, ~1,140 MMACs): stride-1 stem convs, the first two
entry blocks halve the grid (32 -> 16 -> 8), the third keeps it (its max-pool has stride 1), the
middle flow runs at 8x8 and the exit block halves to 4x4; 3 + ``middle_repeats`` + 1 residual
adds. ``width`` multiplies every channel count.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from costmodel.zoo.layers import Classifier, ConvBNAct, scale_channels
from costmodel.zoo.registry import register


class SeparableConv(nn.Sequential):
    """Depthwise kxk conv then pointwise 1x1 conv, both without bias."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int = 3) -> None:
        super().__init__(
            nn.Conv2d(
                in_ch, in_ch, kernel_size, padding=kernel_size // 2, groups=in_ch, bias=False
            ),
            nn.Conv2d(in_ch, out_ch, 1, bias=False),
        )


class XceptionBlock(nn.Module):
    """Residual block: ``[ReLU] -> sep -> BN`` repeated, optional max-pool; shortcut added.

    ``channels`` lists the separable convs' outputs. The shortcut is a strided 1x1 conv + BN when
    the shape changes, else the identity. ``first_relu=False`` drops the leading ReLU (the first
    entry block follows a Conv-BN-ReLU already).
    """

    def __init__(
        self,
        in_ch: int,
        channels: tuple[int, ...],
        pool_stride: int | None,
        first_relu: bool = True,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        ch = in_ch
        for i, out in enumerate(channels):
            if i > 0 or first_relu:
                # not in-place: the block input is still needed by the shortcut
                layers.append(nn.ReLU(inplace=i > 0))
            layers += [SeparableConv(ch, out), nn.BatchNorm2d(out)]
            ch = out
        if pool_stride is not None:
            layers.append(nn.MaxPool2d(3, stride=pool_stride, padding=1))
        self.residual = nn.Sequential(*layers)
        stride = pool_stride or 1
        if stride == 1 and in_ch == ch:
            self.shortcut: nn.Module = nn.Identity()
        else:
            # a biased 1x1 conv as in the common CIFAR version (its BN makes the bias redundant)
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_ch, ch, 1, stride=stride), nn.BatchNorm2d(ch)
            )
        self.out_ch = ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.residual(x) + self.shortcut(x)


class Xception(nn.Module):
    """Entry flow, ``middle_repeats`` middle blocks, exit flow, pooled linear classifier."""

    def __init__(self, width: float = 1.0, middle_repeats: int = 8, num_classes: int = 100) -> None:
        super().__init__()

        def s(ch: int) -> int:
            return scale_channels(ch, width)

        mid = s(728)
        self.stem = nn.Sequential(ConvBNAct(3, s(32), 3), ConvBNAct(s(32), s(64), 3))
        self.entry = nn.Sequential(
            XceptionBlock(s(64), (s(128), s(128)), pool_stride=2, first_relu=False),
            XceptionBlock(s(128), (s(256), s(256)), pool_stride=2),
            XceptionBlock(s(256), (mid, mid), pool_stride=1),  # no downsampling at 32x32 input
        )
        self.middle = nn.Sequential(
            *(XceptionBlock(mid, (mid, mid, mid), pool_stride=None) for _ in range(middle_repeats))
        )
        self.exit = nn.Sequential(
            XceptionBlock(mid, (mid, s(1024)), pool_stride=2),
            SeparableConv(s(1024), s(1536)),
            nn.BatchNorm2d(s(1536)),
            nn.ReLU(inplace=True),
            SeparableConv(s(1536), s(2048)),
            nn.BatchNorm2d(s(2048)),
            nn.ReLU(inplace=True),
        )
        self.classifier = Classifier(s(2048), num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.entry(self.stem(x))
        return self.classifier(self.exit(self.middle(x)))


def build_xception(
    *, width: float = 1.0, middle_repeats: int = 8, num_classes: int = 100
) -> Xception:
    """CIFAR Xception; ``width`` scales channels, ``middle_repeats`` sets the middle-flow length."""
    if width <= 0:
        raise ValueError(f"width must be positive, got {width}")
    if middle_repeats < 0:
        raise ValueError(f"middle_repeats must be >= 0, got {middle_repeats}")
    return Xception(width=width, middle_repeats=middle_repeats, num_classes=num_classes)


register(
    "xception",
    "xception",
    build_xception,
    defaults={"width": 1.0, "middle_repeats": 8, "num_classes": 100},
    variants=[
        {},  # the study model
        {"middle_repeats": 4},
        {"width": 0.5},
        {"width": 0.5, "middle_repeats": 4},
        {"width": 0.25, "middle_repeats": 2},
    ],
    description="Xception for CIFAR (entry/middle/exit flows of depthwise-then-pointwise "
    "separable convs, 12 residual adds); Chollet 2017. Study model: the default",
    study=True,
)
