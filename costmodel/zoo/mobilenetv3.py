"""MobileNetV3 (large and small), CIFAR variant.

Howard et al., "Searching for MobileNetV3" (ICCV 2019): inverted-residual blocks as in
MobileNetV2, some with squeeze-and-excitation (ReLU bottleneck, hard-sigmoid gate, reduced to a
quarter of the expanded width rounded to 8), ReLU in the early blocks and hard-swish in the late
ones, a 1x1 conv head (hard-swish), global pooling, then a hidden linear layer (hard-swish,
dropout) before the classifier. Block tables are the paper's Tables 1 and 2.

CIFAR adaptation: the stem is a 3x3 stride-1 conv and the first stride-2 block keeps stride 1,
so 32x32 ends at 4x4 (three halvings instead of ImageNet's five).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from costmodel.zoo.layers import ConvBNAct, SqueezeExcite, make_divisible, scale_channels
from costmodel.zoo.registry import register, register_alias

# (kernel, expanded channels, output channels, use SE, activation "RE"/"HS", stride) per block.
_LARGE: tuple[tuple[int, int, int, bool, str, int], ...] = (
    (3, 16, 16, False, "RE", 1),
    (3, 64, 24, False, "RE", 1),  # stride 2 on ImageNet
    (3, 72, 24, False, "RE", 1),
    (5, 72, 40, True, "RE", 2),
    (5, 120, 40, True, "RE", 1),
    (5, 120, 40, True, "RE", 1),
    (3, 240, 80, False, "HS", 2),
    (3, 200, 80, False, "HS", 1),
    (3, 184, 80, False, "HS", 1),
    (3, 184, 80, False, "HS", 1),
    (3, 480, 112, True, "HS", 1),
    (3, 672, 112, True, "HS", 1),
    (5, 672, 160, True, "HS", 2),
    (5, 960, 160, True, "HS", 1),
    (5, 960, 160, True, "HS", 1),
)
_SMALL: tuple[tuple[int, int, int, bool, str, int], ...] = (
    (3, 16, 16, True, "RE", 1),  # stride 2 on ImageNet
    (3, 72, 24, False, "RE", 2),
    (3, 88, 24, False, "RE", 1),
    (5, 96, 40, True, "HS", 2),
    (5, 240, 40, True, "HS", 1),
    (5, 240, 40, True, "HS", 1),
    (5, 120, 48, True, "HS", 1),
    (5, 144, 48, True, "HS", 1),
    (5, 288, 96, True, "HS", 2),
    (5, 576, 96, True, "HS", 1),
    (5, 576, 96, True, "HS", 1),
)
# mode -> (block table, head conv channels, hidden linear width)
_CONFIGS = {"large": (_LARGE, 960, 1280), "small": (_SMALL, 576, 1024)}
_ACTS: dict[str, type[nn.Module]] = {"RE": nn.ReLU, "HS": nn.Hardswish}


class Bneck(nn.Module):
    """Expand 1x1 -> depthwise kxk -> (SE) -> linear project 1x1 [+ input]."""

    def __init__(
        self,
        in_ch: int,
        exp_ch: int,
        out_ch: int,
        kernel: int,
        use_se: bool,
        act: type[nn.Module],
        stride: int,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        if exp_ch != in_ch:
            layers.append(ConvBNAct(in_ch, exp_ch, 1, act=act))
        layers.append(ConvBNAct(exp_ch, exp_ch, kernel, stride=stride, groups=exp_ch, act=act))
        if use_se:
            reduced = make_divisible(exp_ch // 4, 8)
            layers.append(SqueezeExcite(exp_ch, reduced, act=nn.ReLU, gate=nn.Hardsigmoid))
        layers.append(ConvBNAct(exp_ch, out_ch, 1, act=None))
        self.block = nn.Sequential(*layers)
        self.use_residual = stride == 1 and in_ch == out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.use_residual:
            return x + self.block(x)
        return self.block(x)


class MobileNetV3(nn.Module):
    """MobileNetV3 for 32x32 inputs."""

    def __init__(
        self,
        num_classes: int = 100,
        mode: str = "large",
        width: float = 1.0,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        if mode not in _CONFIGS:
            raise ValueError(f"mobilenetv3 mode must be one of {sorted(_CONFIGS)}, got {mode!r}")
        table, head_ch, hidden = _CONFIGS[mode]
        stem_ch = scale_channels(16, width)
        layers: list[nn.Module] = [ConvBNAct(3, stem_ch, 3, stride=1, act=nn.Hardswish)]
        in_ch = stem_ch
        for kernel, exp, out, use_se, act, stride in table:
            exp_ch, out_ch = scale_channels(exp, width), scale_channels(out, width)
            layers.append(Bneck(in_ch, exp_ch, out_ch, kernel, use_se, _ACTS[act], stride))
            in_ch = out_ch
        head_ch = scale_channels(head_ch, width)
        layers.append(ConvBNAct(in_ch, head_ch, 1, act=nn.Hardswish))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        hidden = scale_channels(hidden, width)
        self.classifier = nn.Sequential(
            nn.Linear(head_ch, hidden),
            nn.Hardswish(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


def mobilenetv3(
    *, num_classes: int = 100, mode: str = "large", width: float = 1.0, dropout: float = 0.2
) -> nn.Module:
    """MobileNetV3-Large or -Small (CIFAR) with width multiplier ``width``."""
    return MobileNetV3(num_classes=num_classes, mode=mode, width=width, dropout=dropout)


register(
    "mobilenetv3",
    "mobilenetv3",
    mobilenetv3,
    defaults={"num_classes": 100, "mode": "large", "width": 1.0, "dropout": 0.2},
    variants=[
        {"mode": "small", "width": 0.5},
        {"mode": "small", "width": 0.75},
        {"mode": "small"},
        {"width": 0.5},
        {"width": 0.75},
        {},
    ],
    description="MobileNetV3 large/small (CIFAR): hard-swish, SE with hard-sigmoid gate",
)
register_alias("mobilenetv3_large", "mobilenetv3", mode="large")
register_alias("mobilenetv3_small", "mobilenetv3", mode="small")
