"""ResNet for CIFAR: basic-block ResNet-18/34 and bottleneck ResNet-50/101.

From He, Zhang, Ren, Sun, "Deep Residual Learning for Image Recognition" (CVPR 2016), in the common
CIFAR form: a 3x3 stride-1 stem with 64 channels and no max-pool, four stages of 64/128/256/512
planes at 32/16/8/4 pixels, global average pooling and one linear layer. Down-sampling happens in
the first 3x3 of a stage (the "ResNet v1.5" placement) and the shortcut is a 1x1 conv + BN when the
shape changes.

The blocks here are shared: SE-ResNet (:mod:`costmodel.zoo.senet`) turns on their
squeeze-excitation hook and ResNeXt (:mod:`costmodel.zoo.resnext`) their grouped 3x3 conv.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from costmodel.zoo.layers import Classifier, ConvBNAct, SqueezeExcite, scale_channels
from costmodel.zoo.registry import register, register_alias

# depth -> (block kind, blocks per stage), as in Table 1 of the paper
RESNET_LAYERS: dict[int, tuple[str, tuple[int, ...]]] = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}


def _shortcut(in_ch: int, out_ch: int, stride: int) -> nn.Module:
    """Identity when shapes match, else a projection (1x1 conv + BN)."""
    if stride == 1 and in_ch == out_ch:
        return nn.Identity()
    return ConvBNAct(in_ch, out_ch, 1, stride, act=None)


def _se(channels: int, se_reduction: int) -> nn.Module:
    """Squeeze-excitation on the residual branch (before the add), or identity when off."""
    if se_reduction <= 0:
        return nn.Identity()
    return SqueezeExcite(channels, max(1, channels // se_reduction), use_linear=True)


class BasicBlock(nn.Module):
    """Two 3x3 convs with BN; ``out_ch = planes``. ``se_reduction > 0`` adds an SE module."""

    expansion = 1

    def __init__(
        self,
        in_ch: int,
        planes: int,
        stride: int = 1,
        *,
        se_reduction: int = 0,
    ) -> None:
        super().__init__()
        out_ch = planes * self.expansion
        self.conv1 = ConvBNAct(in_ch, planes, 3, stride)
        self.conv2 = ConvBNAct(planes, out_ch, 3, 1, act=None)
        self.se = _se(out_ch, se_reduction)
        self.shortcut = _shortcut(in_ch, out_ch, stride)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.se(self.conv2(self.conv1(x)))
        return self.relu(out + self.shortcut(x))


class Bottleneck(nn.Module):
    """1x1 reduce -> 3x3 (stride, optionally grouped) -> 1x1 expand (x4), BN after each conv.

    The inner width is ``int(planes * base_width / 64) * groups``: ``planes`` for a plain ResNet
    (groups 1, base width 64), ``cardinality x d`` per 64 planes for ResNeXt.
    """

    expansion = 4

    def __init__(
        self,
        in_ch: int,
        planes: int,
        stride: int = 1,
        *,
        groups: int = 1,
        base_width: int = 64,
        se_reduction: int = 0,
    ) -> None:
        super().__init__()
        inner = int(planes * base_width / 64) * groups
        out_ch = planes * self.expansion
        self.conv1 = ConvBNAct(in_ch, inner, 1)
        self.conv2 = ConvBNAct(inner, inner, 3, stride, groups=groups)
        self.conv3 = ConvBNAct(inner, out_ch, 1, act=None)
        self.se = _se(out_ch, se_reduction)
        self.shortcut = _shortcut(in_ch, out_ch, stride)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.se(self.conv3(self.conv2(self.conv1(x))))
        return self.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    """Stem, stages of residual blocks (first block of each stage but the first has stride 2), head.

    ``block_kwargs`` are passed to every block (``se_reduction``, ``groups``, ``base_width``).
    """

    def __init__(
        self,
        block: type[BasicBlock] | type[Bottleneck],
        layers: tuple[int, ...],
        planes: tuple[int, ...],
        stem_ch: int,
        num_classes: int = 100,
        **block_kwargs: int,
    ) -> None:
        super().__init__()
        self.stem = ConvBNAct(3, stem_ch, 3, 1)
        stages: list[nn.Module] = []
        in_ch = stem_ch
        for i, (n, p) in enumerate(zip(layers, planes, strict=True)):
            blocks: list[nn.Module] = []
            for j in range(n):
                stride = 2 if (i > 0 and j == 0) else 1
                blocks.append(block(in_ch, p, stride, **block_kwargs))
                in_ch = p * block.expansion
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.head = Classifier(in_ch, num_classes)
        self.out_channels = in_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.stages(self.stem(x)))


def resnet_layers(depth: int) -> tuple[type[BasicBlock] | type[Bottleneck], tuple[int, ...]]:
    """The block class and blocks per stage of a standard ResNet depth (18/34/50/101/152)."""
    if depth not in RESNET_LAYERS:
        raise ValueError(f"ResNet depth must be one of {sorted(RESNET_LAYERS)}, got {depth}")
    kind, layers = RESNET_LAYERS[depth]
    return (BasicBlock if kind == "basic" else Bottleneck), layers


def build_resnet(
    *, depth: int = 50, width: float = 1.0, num_classes: int = 100, se_reduction: int = 0
) -> ResNet:
    """A CIFAR ResNet; ``width`` scales every stage's planes (and the stem) by a multiplier.

    ``se_reduction > 0`` puts squeeze-excitation in every block (used by SE-ResNet).
    """
    block, layers = resnet_layers(depth)
    planes = tuple(scale_channels(p, width) for p in (64, 128, 256, 512))
    kwargs = {"se_reduction": se_reduction} if se_reduction > 0 else {}
    return ResNet(block, layers, planes, planes[0], num_classes, **kwargs)


def _build(*, depth: int = 50, width: float = 1.0, num_classes: int = 100) -> ResNet:
    """Registered builder: a plain ResNet (no SE)."""
    return build_resnet(depth=depth, width=width, num_classes=num_classes)


register(
    "resnet",
    "resnet",
    _build,
    defaults={"depth": 50, "width": 1.0, "num_classes": 100},
    variants=[
        {"depth": 18},
        {"depth": 34},
        {},  # ResNet-50, the study model
        {"depth": 101},
        {"depth": 18, "width": 0.5},
        {"depth": 50, "width": 0.5},
    ],
    description="ResNet-18/34/50/101 for CIFAR (3x3 stem, no max-pool); He et al. 2016",
    study=True,
)
for _d in (18, 34, 50, 101):
    register_alias(f"resnet{_d}", "resnet", depth=_d)
