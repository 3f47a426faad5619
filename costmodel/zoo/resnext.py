"""ResNeXt for CIFAR: ResNeXt-29 style networks with grouped 3x3 convolutions.

From Xie, Girshick, Dollar, Tu, He, "Aggregated Residual Transformations for Deep Neural Networks"
(CVPR 2017), Section 5.3 (CIFAR): a 3x3 stem with 64 channels, three stages of bottleneck blocks
with outputs 256/512/1024 at 32/16/8 pixels, global average pooling and a linear layer. Each
bottleneck's 3x3 conv is split into ``cardinality`` groups of ``base_width`` channels (doubling
each stage): ResNeXt-29 "8x64d" has 8 groups of 64 channels in its first stage. Depth is
``9 n + 2`` for ``n`` blocks per stage (29 -> 3 blocks). The blocks are the ResNet bottlenecks of
:mod:`costmodel.zoo.resnet` with their ``groups``/``base_width`` knobs.
"""

from __future__ import annotations

from costmodel.zoo.registry import register, register_alias
from costmodel.zoo.resnet import Bottleneck, ResNet


def build_resnext(
    *, depth: int = 29, cardinality: int = 4, base_width: int = 32, num_classes: int = 100
) -> ResNet:
    """A CIFAR ResNeXt of ``depth`` (9n+2), ``cardinality`` groups of ``base_width`` channels."""
    if depth < 11 or (depth - 2) % 9:
        raise ValueError(f"ResNeXt depth must be 9n+2 (11, 20, 29, ...), got {depth}")
    if cardinality < 1 or base_width < 1:
        raise ValueError("cardinality and base_width must be positive")
    n = (depth - 2) // 9
    # planes 64/128/256 -> outputs 256/512/1024; inner width = cardinality * base_width * 2^stage
    return ResNet(
        Bottleneck,
        (n, n, n),
        (64, 128, 256),
        64,
        num_classes,
        groups=cardinality,
        base_width=base_width,
    )


register(
    "resnext",
    "resnext",
    build_resnext,
    defaults={"depth": 29, "cardinality": 4, "base_width": 32, "num_classes": 100},
    variants=[
        {},  # ResNeXt-29 4x32d
        {"cardinality": 2, "base_width": 64},
        {"cardinality": 8, "base_width": 16},
        {"cardinality": 32, "base_width": 4},
        {"depth": 20, "cardinality": 8, "base_width": 8},
        {"depth": 11, "cardinality": 16, "base_width": 4},
    ],
    description="ResNeXt-29 style CIFAR networks with grouped 3x3 convs; Xie et al. 2017",
)
register_alias("resnext29_2x64d", "resnext", depth=29, cardinality=2, base_width=64)
register_alias("resnext29_4x32d", "resnext", depth=29, cardinality=4, base_width=32)
register_alias("resnext29_8x64d", "resnext", depth=29, cardinality=8, base_width=64)
register_alias("resnext29_32x4d", "resnext", depth=29, cardinality=32, base_width=4)
