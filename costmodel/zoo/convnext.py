"""ConvNeXt for CIFAR (Liu et al., "A ConvNet for the 2020s", CVPR 2022).

A patchify stem (``stem`` x ``stem`` convolution with that stride, then LayerNorm), four stages of
ConvNeXt blocks with a LayerNorm + 2x2 stride-2 convolution between them, global average
pooling, LayerNorm and a linear head. A block is the paper's: a large-kernel depthwise
convolution (7x7), then, channels last, LayerNorm -> Linear (4x) -> GELU -> Linear, a learned
per-channel layer scale, back to channels first, and the residual add.

The work MACs do not see is the point of the family: the 7x7 depthwise kernels (a runtime may
have no fast kernel for 49 taps), the two permutes around every block's MLP, the LayerNorms over
channels of a feature map (permute -> layer norm -> permute, as timm's ``LayerNorm2d``), GELU
and the layer-scale multiply. CIFAR form: a 2x2 stride-2 stem takes 32x32 to 16x16, so the
stages run at 16, 8, 4 and 2 pixels (``stem=1`` keeps 32x32 in the first stage).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from costmodel.zoo.layers import scale_channels, scale_depth
from costmodel.zoo.registry import register, register_alias

# ConvNeXt-Atto's stages (timm): the smallest of the published widths, sized for 32x32 inputs.
_DIMS = (40, 80, 160, 320)
_DEPTHS = (2, 2, 6, 2)


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of an (N, C, H, W) map: permute, normalise, permute back."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class Block(nn.Module):
    """Depthwise k x k conv -> (channels last) LayerNorm -> Linear 4x -> GELU -> Linear ->
    layer scale -> (channels first) + input."""

    def __init__(self, dim: int, kernel: int, mlp_ratio: int, layer_scale: float) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, kernel, padding=kernel // 2, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, mlp_ratio * dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(mlp_ratio * dim, dim)
        self.gamma = nn.Parameter(torch.full((dim,), layer_scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dwconv(x).permute(0, 2, 3, 1)  # (N, H, W, C)
        y = self.pwconv2(self.act(self.pwconv1(self.norm(y))))
        return x + (self.gamma * y).permute(0, 3, 1, 2)


class ConvNeXt(nn.Module):
    """Stem, four stages of blocks with down-sampling between them, pooled head."""

    def __init__(
        self,
        dims: tuple[int, ...],
        depths: tuple[int, ...],
        kernel: int,
        stem: int,
        mlp_ratio: int,
        num_classes: int,
    ) -> None:
        super().__init__()
        if kernel % 2 == 0:
            raise ValueError(f"ConvNeXt kernel must be odd (same padding), got {kernel}")
        if stem not in (1, 2, 4):
            raise ValueError(f"ConvNeXt stem must be 1, 2 or 4 (its stride), got {stem}")
        self.stem = nn.Sequential(nn.Conv2d(3, dims[0], stem, stride=stem), LayerNorm2d(dims[0]))
        stages: list[nn.Module] = []
        for i, (dim, depth) in enumerate(zip(dims, depths, strict=True)):
            layers: list[nn.Module] = []
            if i > 0:
                layers += [LayerNorm2d(dims[i - 1]), nn.Conv2d(dims[i - 1], dim, 2, stride=2)]
            layers += [Block(dim, kernel, mlp_ratio, 1e-6) for _ in range(depth)]
            stages.append(nn.Sequential(*layers))
        self.stages = nn.Sequential(*stages)
        self.norm = nn.LayerNorm(dims[-1])
        self.head = nn.Linear(dims[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.stem(x))
        return self.head(self.norm(x.mean(dim=(2, 3))))


def convnext(
    *,
    width: float = 1.0,
    depth: float = 1.0,
    kernel: int = 7,
    stem: int = 2,
    mlp_ratio: int = 4,
    num_classes: int = 100,
) -> nn.Module:
    """A CIFAR ConvNeXt: ConvNeXt-Atto's stages (40/80/160/320 channels, 2/2/6/2 blocks)
    scaled by ``width`` and ``depth``, ``kernel`` x ``kernel`` depthwise convolutions."""
    dims = tuple(scale_channels(c, width) for c in _DIMS)
    depths = tuple(scale_depth(d, depth) for d in _DEPTHS)
    return ConvNeXt(dims, depths, kernel, stem, mlp_ratio, num_classes)


register(
    "convnext",
    "convnext",
    convnext,
    defaults=dict(width=1.0, depth=1.0, kernel=7, stem=2, mlp_ratio=4, num_classes=100),
    variants=[
        {},
        dict(width=0.5),
        dict(width=1.5, depth=0.5),
        dict(depth=0.5, stem=1),  # 32x32 in the first stage: the 7x7 kernels at full size
        dict(kernel=5),
        dict(kernel=3, width=0.75),
    ],
    description="ConvNeXt (7x7 depthwise conv, channels-last LayerNorm + GELU MLP, layer "
    "scale), CIFAR",
)
register_alias("convnext_atto", "convnext")
