"""Inception-v3 and Inception-v4 for CIFAR (one family, ``inception``).

Inception-v3: Szegedy, Vanhoucke, Ioffe, Shlens and Wojna, "Rethinking the Inception Architecture
for Computer Vision" (CVPR 2016): Inception modules with factorised convolutions (5x5 as two 3x3,
7x7 as 1x7 then 7x1, expanded 1x3/3x1 pairs in the last grid), grid reductions by parallel
stride-2 conv and pooling branches, 15 concatenations in all.

Inception-v4: Szegedy, Ioffe, Vanhoucke and Alemi, "Inception-v4, Inception-ResNet and the Impact
of Residual Connections on Learning" (AAAI 2017): a stem with three concatenations, 4 Inception-A,
Reduction-A (k, l, m, n = 192, 224, 256, 384), 7 Inception-B, Reduction-B and 3 Inception-C
blocks, 25 concatenations in all.

Both are the common CIFAR-100 forms: the ImageNet stems' stride-2 convs and max-pools are
replaced by stride-1 3x3 convs, so a 32x32 input keeps a 30x30 grid up to the first reduction
(one unpadded 3x3 conv), then 14x14 and 6x6 (v3) or 7x7 (v4). No auxiliary classifier. ``width``
multiplies every channel count; the study models (22.3 M and 41.3 M parameters) are the defaults.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn as nn

from costmodel.zoo.layers import Classifier, ConvBNAct, scale_channels
from costmodel.zoo.registry import register

Scale = Callable[[int], int]


def _scaler(width: float) -> Scale:
    if width <= 0:
        raise ValueError(f"width must be positive, got {width}")
    return lambda ch: scale_channels(ch, width)


def _conv(in_ch: int, out_ch: int, k: int | tuple[int, int], **kw) -> ConvBNAct:
    """Conv-BN-ReLU; ``padding`` defaults to "same" for odd kernels (ConvBNAct's rule)."""
    return ConvBNAct(in_ch, out_ch, k, **kw)


# ---------------------------------------------------------------- Inception-v3 modules


class V3BlockA(nn.Module):
    """35x35-grid module (Fig. 5): 1x1 | 1x1-5x5 | 1x1-3x3-3x3 | avg-pool-conv.

    The pool branch's projection is a 3x3 conv, not the paper's 1x1: that is how the common
    CIFAR-100 Inception-v3 (the study's, 22.3 M parameters, ~3,400 MMACs) is built.
    """

    def __init__(self, in_ch: int, pool_ch: int, s: Scale) -> None:
        super().__init__()
        self.b1 = _conv(in_ch, s(64), 1)
        self.b5 = nn.Sequential(_conv(in_ch, s(48), 1), _conv(s(48), s(64), 5))
        self.b3 = nn.Sequential(
            _conv(in_ch, s(64), 1), _conv(s(64), s(96), 3), _conv(s(96), s(96), 3)
        )
        self.pool = nn.Sequential(nn.AvgPool2d(3, stride=1, padding=1), _conv(in_ch, s(pool_ch), 3))
        self.out_ch = s(64) + s(64) + s(96) + s(pool_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b1(x), self.b5(x), self.b3(x), self.pool(x)], 1)


class V3ReductionA(nn.Module):
    """35 -> 17 grid reduction: stride-2 3x3 | 1x1-3x3-3x3/2 | max-pool/2 (unpadded)."""

    def __init__(self, in_ch: int, s: Scale) -> None:
        super().__init__()
        self.b3 = _conv(in_ch, s(384), 3, stride=2, padding=0)
        self.b3dbl = nn.Sequential(
            _conv(in_ch, s(64), 1),
            _conv(s(64), s(96), 3),
            _conv(s(96), s(96), 3, stride=2, padding=0),
        )
        self.pool = nn.MaxPool2d(3, stride=2)
        self.out_ch = s(384) + s(96) + in_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b3(x), self.b3dbl(x), self.pool(x)], 1)


class V3BlockB(nn.Module):
    """17x17-grid module (Fig. 6): 7x7 convs factorised into 1x7 and 7x1 pairs."""

    def __init__(self, in_ch: int, mid: int, s: Scale) -> None:
        super().__init__()
        m = s(mid)
        self.b1 = _conv(in_ch, s(192), 1)
        self.b7 = nn.Sequential(_conv(in_ch, m, 1), _conv(m, m, (1, 7)), _conv(m, s(192), (7, 1)))
        self.b7dbl = nn.Sequential(
            _conv(in_ch, m, 1),
            _conv(m, m, (7, 1)),
            _conv(m, m, (1, 7)),
            _conv(m, m, (7, 1)),
            _conv(m, s(192), (1, 7)),
        )
        self.pool = nn.Sequential(nn.AvgPool2d(3, stride=1, padding=1), _conv(in_ch, s(192), 1))
        self.out_ch = 4 * s(192)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b1(x), self.b7(x), self.b7dbl(x), self.pool(x)], 1)


class V3ReductionB(nn.Module):
    """17 -> 8 grid reduction: 1x1-3x3/2 | 1x1-1x7-7x1-3x3/2 | avg-pool/2 (unpadded).

    Average rather than max pooling in the pool branch, as in the common CIFAR variant (the paper
    allows either, Fig. 10).
    """

    def __init__(self, in_ch: int, s: Scale) -> None:
        super().__init__()
        self.b3 = nn.Sequential(
            _conv(in_ch, s(192), 1), _conv(s(192), s(320), 3, stride=2, padding=0)
        )
        self.b7 = nn.Sequential(
            _conv(in_ch, s(192), 1),
            _conv(s(192), s(192), (1, 7)),
            _conv(s(192), s(192), (7, 1)),
            _conv(s(192), s(192), 3, stride=2, padding=0),
        )
        self.pool = nn.AvgPool2d(3, stride=2)
        self.out_ch = s(320) + s(192) + in_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b3(x), self.b7(x), self.pool(x)], 1)


class V3BlockC(nn.Module):
    """8x8-grid module (Fig. 7): 3x3 convs expanded into parallel 1x3 and 3x1 outputs."""

    def __init__(self, in_ch: int, s: Scale) -> None:
        super().__init__()
        self.b1 = _conv(in_ch, s(320), 1)
        self.b3 = _conv(in_ch, s(384), 1)
        self.b3_a = _conv(s(384), s(384), (1, 3))
        self.b3_b = _conv(s(384), s(384), (3, 1))
        self.b3dbl = nn.Sequential(_conv(in_ch, s(448), 1), _conv(s(448), s(384), 3))
        self.b3dbl_a = _conv(s(384), s(384), (1, 3))
        self.b3dbl_b = _conv(s(384), s(384), (3, 1))
        self.pool = nn.Sequential(nn.AvgPool2d(3, stride=1, padding=1), _conv(in_ch, s(192), 1))
        self.out_ch = s(320) + 4 * s(384) + s(192)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y3 = self.b3(x)
        y3 = torch.cat([self.b3_a(y3), self.b3_b(y3)], 1)
        yd = self.b3dbl(x)
        yd = torch.cat([self.b3dbl_a(yd), self.b3dbl_b(yd)], 1)
        return torch.cat([self.b1(x), y3, yd, self.pool(x)], 1)


class InceptionV3(nn.Module):
    """CIFAR Inception-v3: 5-conv stride-1 stem, 3xA, Red-A, 4xB, Red-B, 2xC, pool, classifier."""

    def __init__(self, width: float = 1.0, num_classes: int = 100, dropout: float = 0.5) -> None:
        super().__init__()
        s = _scaler(width)
        # the ImageNet stem (299 -> 35) without its strides and max-pools; the last 3x3 is unpadded
        self.stem = nn.Sequential(
            _conv(3, s(32), 3),
            _conv(s(32), s(32), 3),
            _conv(s(32), s(64), 3),
            _conv(s(64), s(80), 1),
            _conv(s(80), s(192), 3, padding=0),
        )
        blocks: list[nn.Module] = []
        ch = s(192)
        for pool_ch in (32, 64, 64):
            blocks.append(V3BlockA(ch, pool_ch, s))
            ch = blocks[-1].out_ch
        blocks.append(V3ReductionA(ch, s))
        ch = blocks[-1].out_ch
        for mid in (128, 160, 160, 192):
            blocks.append(V3BlockB(ch, mid, s))
            ch = blocks[-1].out_ch
        blocks.append(V3ReductionB(ch, s))
        ch = blocks[-1].out_ch
        for _ in range(2):
            blocks.append(V3BlockC(ch, s))
            ch = blocks[-1].out_ch
        self.blocks = nn.Sequential(*blocks)
        self.classifier = Classifier(ch, num_classes, dropout=dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.blocks(self.stem(x)))


# ---------------------------------------------------------------- Inception-v4 modules


class V4Stem(nn.Module):
    """The v4 stem (Fig. 3) at stride 1: three convs, then three two-way concatenations."""

    def __init__(self, s: Scale) -> None:
        super().__init__()
        self.convs = nn.Sequential(
            _conv(3, s(32), 3, padding=0),  # 32 -> 30, as the ImageNet stem's unpadded convs
            _conv(s(32), s(32), 3),
            _conv(s(32), s(64), 3),
        )
        self.mix1_conv = _conv(s(64), s(96), 3)
        self.mix1_pool = nn.MaxPool2d(3, stride=1, padding=1)
        c1 = s(96) + s(64)
        self.mix2_a = nn.Sequential(_conv(c1, s(64), 1), _conv(s(64), s(96), 3))
        self.mix2_b = nn.Sequential(
            _conv(c1, s(64), 1),
            _conv(s(64), s(64), (7, 1)),
            _conv(s(64), s(64), (1, 7)),
            _conv(s(64), s(96), 3),
        )
        c2 = 2 * s(96)
        self.mix3_conv = _conv(c2, c2, 3)
        self.mix3_pool = nn.MaxPool2d(3, stride=1, padding=1)
        self.out_ch = 2 * c2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.convs(x)
        x = torch.cat([self.mix1_conv(x), self.mix1_pool(x)], 1)
        x = torch.cat([self.mix2_a(x), self.mix2_b(x)], 1)
        return torch.cat([self.mix3_conv(x), self.mix3_pool(x)], 1)


class V4BlockA(nn.Module):
    """Inception-A (Fig. 4): avg-pool-1x1 | 1x1 | 1x1-3x3 | 1x1-3x3-3x3, 4 x 96 channels."""

    def __init__(self, in_ch: int, s: Scale) -> None:
        super().__init__()
        self.pool = nn.Sequential(nn.AvgPool2d(3, stride=1, padding=1), _conv(in_ch, s(96), 1))
        self.b1 = _conv(in_ch, s(96), 1)
        self.b3 = nn.Sequential(_conv(in_ch, s(64), 1), _conv(s(64), s(96), 3))
        self.b3dbl = nn.Sequential(
            _conv(in_ch, s(64), 1), _conv(s(64), s(96), 3), _conv(s(96), s(96), 3)
        )
        self.out_ch = 4 * s(96)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.pool(x), self.b1(x), self.b3(x), self.b3dbl(x)], 1)


class V4ReductionA(nn.Module):
    """Reduction-A (Fig. 7) with k, l, m, n = 192, 224, 256, 384; 30 -> 14 (unpadded)."""

    def __init__(self, in_ch: int, s: Scale) -> None:
        super().__init__()
        self.pool = nn.MaxPool2d(3, stride=2)
        self.b3 = _conv(in_ch, s(384), 3, stride=2, padding=0)
        self.b3dbl = nn.Sequential(
            _conv(in_ch, s(192), 1),
            _conv(s(192), s(224), 3),
            _conv(s(224), s(256), 3, stride=2, padding=0),
        )
        self.out_ch = in_ch + s(384) + s(256)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.pool(x), self.b3(x), self.b3dbl(x)], 1)


class V4BlockB(nn.Module):
    """Inception-B (Fig. 5): 7x7 factorised into 1x7/7x1; 128 + 384 + 256 + 256 channels."""

    def __init__(self, in_ch: int, s: Scale) -> None:
        super().__init__()
        self.pool = nn.Sequential(nn.AvgPool2d(3, stride=1, padding=1), _conv(in_ch, s(128), 1))
        self.b1 = _conv(in_ch, s(384), 1)
        self.b7 = nn.Sequential(
            _conv(in_ch, s(192), 1), _conv(s(192), s(224), (1, 7)), _conv(s(224), s(256), (7, 1))
        )
        self.b7dbl = nn.Sequential(
            _conv(in_ch, s(192), 1),
            _conv(s(192), s(192), (1, 7)),
            _conv(s(192), s(224), (7, 1)),
            _conv(s(224), s(224), (1, 7)),
            _conv(s(224), s(256), (7, 1)),
        )
        self.out_ch = s(128) + s(384) + 2 * s(256)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.pool(x), self.b1(x), self.b7(x), self.b7dbl(x)], 1)


class V4ReductionB(nn.Module):
    """Reduction-B (Fig. 8), padded here so that 14 -> 7."""

    def __init__(self, in_ch: int, s: Scale) -> None:
        super().__init__()
        self.pool = nn.MaxPool2d(3, stride=2, padding=1)
        self.b3 = nn.Sequential(_conv(in_ch, s(192), 1), _conv(s(192), s(192), 3, stride=2))
        self.b7 = nn.Sequential(
            _conv(in_ch, s(256), 1),
            _conv(s(256), s(256), (1, 7)),
            _conv(s(256), s(320), (7, 1)),
            _conv(s(320), s(320), 3, stride=2),
        )
        self.out_ch = in_ch + s(192) + s(320)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.pool(x), self.b3(x), self.b7(x)], 1)


class V4BlockC(nn.Module):
    """Inception-C (Fig. 6): two branches end in parallel 1x3 and 3x1 convs; 6 x 256 channels."""

    def __init__(self, in_ch: int, s: Scale) -> None:
        super().__init__()
        self.pool = nn.Sequential(nn.AvgPool2d(3, stride=1, padding=1), _conv(in_ch, s(256), 1))
        self.b1 = _conv(in_ch, s(256), 1)
        self.b3 = _conv(in_ch, s(384), 1)
        self.b3_a = _conv(s(384), s(256), (1, 3))
        self.b3_b = _conv(s(384), s(256), (3, 1))
        self.b3dbl = nn.Sequential(
            _conv(in_ch, s(384), 1), _conv(s(384), s(448), (1, 3)), _conv(s(448), s(512), (3, 1))
        )
        self.b3dbl_a = _conv(s(512), s(256), (3, 1))
        self.b3dbl_b = _conv(s(512), s(256), (1, 3))
        self.out_ch = 6 * s(256)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y3 = self.b3(x)
        y3 = torch.cat([self.b3_a(y3), self.b3_b(y3)], 1)
        yd = self.b3dbl(x)
        yd = torch.cat([self.b3dbl_a(yd), self.b3dbl_b(yd)], 1)
        return torch.cat([self.pool(x), self.b1(x), y3, yd], 1)


class InceptionV4(nn.Module):
    """CIFAR Inception-v4: stem, 4xA, Red-A, 7xB, Red-B, 3xC, global pool, dropout, linear."""

    def __init__(self, width: float = 1.0, num_classes: int = 100, dropout: float = 0.2) -> None:
        super().__init__()
        s = _scaler(width)
        self.stem = V4Stem(s)
        blocks: list[nn.Module] = []
        ch = self.stem.out_ch
        for block, count in ((V4BlockA, 4), (V4ReductionA, 1), (V4BlockB, 7), (V4ReductionB, 1)):
            for _ in range(count):
                blocks.append(block(ch, s))
                ch = blocks[-1].out_ch
        for _ in range(3):
            blocks.append(V4BlockC(ch, s))
            ch = blocks[-1].out_ch
        self.blocks = nn.Sequential(*blocks)
        self.classifier = Classifier(ch, num_classes, dropout=dropout)  # dropout: keep 0.8

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.blocks(self.stem(x)))


def build_inceptionv3(*, width: float = 1.0, num_classes: int = 100) -> InceptionV3:
    """CIFAR Inception-v3; ``width`` scales every channel count (1.0 is the study model)."""
    return InceptionV3(width=width, num_classes=num_classes)


def build_inceptionv4(*, width: float = 1.0, num_classes: int = 100) -> InceptionV4:
    """CIFAR Inception-v4; ``width`` scales every channel count (1.0 is the study model)."""
    return InceptionV4(width=width, num_classes=num_classes)


# Both entries are study models: the study's InceptionV3 / InceptionV4 is each entry's default
# (width 1.0); the narrower variants are family members for calibration only.
register(
    "inceptionv3",
    "inception",
    build_inceptionv3,
    defaults={"width": 1.0, "num_classes": 100},
    variants=[{}, {"width": 0.5}, {"width": 0.25}],
    description="Inception-v3 for CIFAR (stride-1 stem, factorised 1x7/7x1 convs, "
    "15 concatenations); Szegedy et al. 2016. Study model: the default (width 1.0)",
    study=True,
)
register(
    "inceptionv4",
    "inception",
    build_inceptionv4,
    defaults={"width": 1.0, "num_classes": 100},
    variants=[{}, {"width": 0.5}, {"width": 0.25}],
    description="Inception-v4 for CIFAR (3-concat stem, 4xA/7xB/3xC with reductions, "
    "25 concatenations); Szegedy et al. 2017. Study model: the default (width 1.0)",
    study=True,
)
