"""ShuffleNet (v1), CIFAR variant.

Zhang et al., "ShuffleNet: An Extremely Efficient Convolutional Neural Network for Mobile
Devices" (CVPR 2018). Each unit is a bottleneck of a grouped 1x1 conv (BN, ReLU), a channel
shuffle, a 3x3 depthwise conv (BN, no activation) and a grouped 1x1 conv (BN); stride-1 units
fuse with the input by addition, stride-2 units concatenate with a 3x3 average-pooled shortcut;
ReLU follows the fusion. Stages 2-4 repeat 4, 8 and 4 units, the bottleneck is a quarter of the
unit's output width, and the first 1x1 conv of stage 2 is not grouped (its input is narrow).
Output widths per group count are the paper's Table 1; ``width`` is its "ShuffleNet s x".

CIFAR adaptation: a 3x3 stride-1 stem (24 channels) and no max-pool, so stage 2 runs at 16x16 and
stage 4 at 4x4. At g=3 with 100 classes: 1.0 M parameters, ~43 MMACs.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from costmodel.zoo.layers import Classifier, ConvBNAct, channel_shuffle, make_divisible
from costmodel.zoo.registry import register

# groups -> output channels of stages 2, 3, 4 at 1x (the paper's Table 1).
_STAGE_CHANNELS: dict[int, tuple[int, int, int]] = {
    1: (144, 288, 576),
    2: (200, 400, 800),
    3: (240, 480, 960),
    4: (272, 544, 1088),
    8: (384, 768, 1536),
}
_STAGE_UNITS = (4, 8, 4)


class ShuffleUnit(nn.Module):
    """One ShuffleNet unit; ``stride=2`` concatenates an average-pooled shortcut."""

    def __init__(
        self, in_ch: int, out_ch: int, stride: int, groups: int, group_first: bool
    ) -> None:
        super().__init__()
        self.stride = stride
        self.groups = groups if group_first else 1
        # A stride-2 unit's branch only produces the channels the shortcut does not bring.
        branch_out = out_ch - in_ch if stride == 2 else out_ch
        mid = out_ch // 4
        self.compress = ConvBNAct(in_ch, mid, 1, groups=self.groups)
        self.depthwise = ConvBNAct(mid, mid, 3, stride=stride, groups=mid, act=None)
        self.expand = ConvBNAct(mid, branch_out, 1, groups=groups, act=None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.compress(x)
        # After an ungrouped conv a shuffle only reorders filters (no mixing gained): skip it.
        if self.groups > 1:
            out = channel_shuffle(out, self.groups)
        out = self.expand(self.depthwise(out))
        if self.stride == 2:
            return F.relu(torch.cat([F.avg_pool2d(x, 3, stride=2, padding=1), out], dim=1))
        return F.relu(x + out)


class ShuffleNet(nn.Module):
    """ShuffleNet v1 for 32x32 inputs."""

    def __init__(self, num_classes: int = 100, groups: int = 3, width: float = 1.0) -> None:
        super().__init__()
        if groups not in _STAGE_CHANNELS:
            raise ValueError(f"shufflenet groups must be one of {sorted(_STAGE_CHANNELS)}")
        # Bottlenecks (a quarter of the output) must split into groups, so widths are
        # multiples of 4 * groups; the stem must be a multiple of groups so that the concat
        # branch width (output minus input) is too.
        stem_ch = 24 if width == 1.0 else make_divisible(24 * width, groups, min_value=groups)
        widths = [
            c if width == 1.0 else make_divisible(c * width, 4 * groups)
            for c in _STAGE_CHANNELS[groups]
        ]
        layers: list[nn.Module] = [ConvBNAct(3, stem_ch, 3, stride=1)]
        in_ch = stem_ch
        for stage, (out_ch, units) in enumerate(zip(widths, _STAGE_UNITS, strict=True)):
            for i in range(units):
                group_first = not (stage == 0 and i == 0)
                layers.append(ShuffleUnit(in_ch, out_ch, 2 if i == 0 else 1, groups, group_first))
                in_ch = out_ch
        self.features = nn.Sequential(*layers)
        self.classifier = Classifier(in_ch, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def shufflenet(*, num_classes: int = 100, groups: int = 3, width: float = 1.0) -> nn.Module:
    """ShuffleNet v1 (CIFAR) with ``groups`` pointwise groups and width multiplier ``width``."""
    return ShuffleNet(num_classes=num_classes, groups=groups, width=width)


register(
    "shufflenet",
    "shufflenet",
    shufflenet,
    defaults={"num_classes": 100, "groups": 3, "width": 1.0},
    variants=[
        {"width": 0.5},
        {"groups": 8, "width": 0.5},
        {"groups": 1},
        {"groups": 2},
        {},
        {"groups": 8},
        {"width": 1.5},
    ],
    description="ShuffleNet v1 (CIFAR): grouped 1x1 convs, channel shuffle, add/concat fusion",
    study=True,
)
