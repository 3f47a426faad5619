"""Building blocks shared by the zoo's model families (written once, used everywhere)."""

from __future__ import annotations

import torch
import torch.nn as nn


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round a scaled channel count to a multiple of ``divisor``, never below 90% of ``value``.

    The usual rule for width multipliers (MobileNet, EfficientNet, RegNet): hardware kernels like
    channel counts that are multiples of 8, and rounding down must not lose more than 10%.
    """
    min_value = min_value or divisor
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def scale_channels(channels: int, width: float, divisor: int = 8) -> int:
    """``channels`` scaled by a width multiplier (unchanged at width 1.0)."""
    return channels if width == 1.0 else make_divisible(channels * width, divisor)


def scale_depth(depth: int, multiplier: float) -> int:
    """A block count scaled by a depth multiplier, at least 1."""
    return max(1, round(depth * multiplier))


class ConvBNAct(nn.Sequential):
    """Conv2d (no bias) -> BatchNorm2d -> activation; ``act=None`` leaves the activation out."""

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        kernel_size: int | tuple[int, int] = 3,
        stride: int = 1,
        padding: int | tuple[int, int] | None = None,
        groups: int = 1,
        act: type[nn.Module] | None = nn.ReLU,
    ) -> None:
        if padding is None:
            k = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
            padding = (k[0] // 2, k[1] // 2)
        layers: list[nn.Module] = [
            nn.Conv2d(in_ch, out_ch, kernel_size, stride, padding, groups=groups, bias=False),
            nn.BatchNorm2d(out_ch),
        ]
        if act is not None:
            layers.append(act(inplace=True) if act in _INPLACE_ACTS else act())
        super().__init__(*layers)


_INPLACE_ACTS = (nn.ReLU, nn.ReLU6, nn.SiLU, nn.Hardswish, nn.Hardsigmoid)


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation: global pool, bottleneck of two 1x1 convs (or linears), gate.

    ``use_linear`` picks Linear layers (SE-ResNet style) over 1x1 convs (EfficientNet style).
    """

    def __init__(
        self,
        channels: int,
        reduced: int,
        act: type[nn.Module] = nn.ReLU,
        gate: type[nn.Module] = nn.Sigmoid,
        use_linear: bool = False,
    ) -> None:
        super().__init__()
        self.use_linear = use_linear
        self.pool = nn.AdaptiveAvgPool2d(1)
        if use_linear:
            self.fc1 = nn.Linear(channels, reduced)
            self.fc2 = nn.Linear(reduced, channels)
        else:
            self.fc1 = nn.Conv2d(channels, reduced, 1)
            self.fc2 = nn.Conv2d(reduced, channels, 1)
        self.act = act()
        self.gate = gate()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.pool(x)
        if self.use_linear:
            s = s.flatten(1)
        s = self.gate(self.fc2(self.act(self.fc1(s))))
        if self.use_linear:
            s = s.view(s.size(0), s.size(1), 1, 1)
        return x * s


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """ShuffleNet's channel shuffle: view -> transpose -> contiguous -> view."""
    n, c, h, w = x.size()
    x = x.view(n, groups, c // groups, h, w)
    x = x.transpose(1, 2).contiguous()
    return x.view(n, c, h, w)


class Classifier(nn.Sequential):
    """Global average pool -> flatten -> (dropout) -> linear: the common CIFAR head."""

    def __init__(self, in_features: int, num_classes: int, dropout: float = 0.0) -> None:
        layers: list[nn.Module] = [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        if dropout:
            layers.append(nn.Dropout(dropout))
        layers.append(nn.Linear(in_features, num_classes))
        super().__init__(*layers)
