"""SqueezeNet v1.0 and v1.1 for CIFAR.

From Iandola et al., "SqueezeNet: AlexNet-level accuracy with 50x fewer parameters and <0.5MB
model size" (2016): Fire modules squeeze with a 1x1 conv, then expand with parallel 1x1 and 3x3
convs whose outputs are concatenated; eight Fire modules (fire2-fire9), a 1x1 conv classifier
(conv10) and global average pooling, no linear layer. ``bypass=True`` adds the paper's "simple
bypass" (identity adds around fire3, fire5, fire7 and fire9, whose input and output widths match).
v1.1 (the SqueezeNet repository's later version) uses a 64-channel stem and moves the max-pools
earlier.

CIFAR form: the 7x7/2 (v1.0) or 3x3/2 (v1.1) stem conv becomes a stride-1 3x3 conv and the stem's
max-pool is dropped; the two later max-pools (3x3, stride 2) stay, so Fire modules run at 32, 16
and 8 pixels. BatchNorm follows every conv but conv10, as in the common CIFAR versions.
``width`` multiplies every channel count.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from costmodel.zoo.layers import ConvBNAct, scale_channels
from costmodel.zoo.registry import register

# (squeeze, expand per branch) of fire2..fire9, Table 1 of the paper
FIRE_CFG: tuple[tuple[int, int], ...] = (
    (16, 64),
    (16, 64),
    (32, 128),
    (32, 128),
    (48, 192),
    (48, 192),
    (64, 256),
    (64, 256),
)
# version -> (stem channels, indices into FIRE_CFG after which a max-pool follows)
VERSIONS: dict[float, tuple[int, tuple[int, ...]]] = {
    1.0: (96, (2, 6)),  # pools after fire4 and fire8
    1.1: (64, (1, 3)),  # pools after fire3 and fire5
}


class Fire(nn.Module):
    """Squeeze 1x1 -> (expand 1x1 | expand 3x3) -> concatenate; optional identity bypass."""

    def __init__(self, in_ch: int, squeeze: int, expand: int, bypass: bool = False) -> None:
        super().__init__()
        self.squeeze = ConvBNAct(in_ch, squeeze, 1)
        self.expand1 = ConvBNAct(squeeze, expand, 1)
        self.expand3 = ConvBNAct(squeeze, expand, 3)
        self.out_ch = 2 * expand
        self.bypass = bypass and in_ch == self.out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.squeeze(x)
        y = torch.cat([self.expand1(s), self.expand3(s)], 1)
        return y + x if self.bypass else y


class SqueezeNet(nn.Module):
    """Stem conv, eight Fire modules with two max-pools, dropout, 1x1 conv classifier, avg-pool."""

    def __init__(
        self,
        version: float = 1.0,
        width: float = 1.0,
        bypass: bool = False,
        num_classes: int = 100,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()

        def s(ch: int) -> int:
            return scale_channels(ch, width)

        stem_ch, pools_after = VERSIONS[version]
        self.stem = ConvBNAct(3, s(stem_ch), 3)
        layers: list[nn.Module] = []
        ch = s(stem_ch)
        for i, (sq, ex) in enumerate(FIRE_CFG):
            layers.append(Fire(ch, s(sq), s(ex), bypass=bypass))
            ch = layers[-1].out_ch
            if i in pools_after:
                layers.append(nn.MaxPool2d(3, stride=2, padding=1))
        self.fires = nn.Sequential(*layers)
        # conv10: a 1x1 conv straight to class scores, then global average pooling
        self.classifier = nn.Sequential(
            nn.Dropout(dropout),
            nn.Conv2d(ch, num_classes, 1),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.fires(self.stem(x)))


def build_squeezenet(
    *, version: float = 1.0, width: float = 1.0, bypass: bool = False, num_classes: int = 100
) -> SqueezeNet:
    """CIFAR SqueezeNet; ``version`` 1.0 or 1.1, ``width`` scales channels, ``bypass`` adds."""
    matches = [v for v in VERSIONS if abs(float(version) - v) < 1e-9]
    if not matches:
        raise ValueError(f"SqueezeNet version must be one of {sorted(VERSIONS)}, got {version}")
    if width <= 0:
        raise ValueError(f"width must be positive, got {width}")
    return SqueezeNet(version=matches[0], width=width, bypass=bypass, num_classes=num_classes)


register(
    "squeezenet",
    "squeezenet",
    build_squeezenet,
    defaults={"version": 1.0, "width": 1.0, "bypass": False, "num_classes": 100},
    variants=[
        {},
        {"bypass": True},
        {"version": 1.1},
        {"width": 0.5},
        {"version": 1.1, "width": 2.0},
    ],
    description="SqueezeNet v1.0/v1.1 for CIFAR (Fire modules: squeeze 1x1, expand 1x1 and 3x3, "
    "concatenation; optional simple bypass); Iandola et al. 2016",
)
