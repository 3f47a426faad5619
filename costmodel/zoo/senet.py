"""SE-ResNet for CIFAR: ResNet-18/34/50/101 with squeeze-and-excitation in every block.

From Hu, Shen, Sun, "Squeeze-and-Excitation Networks" (CVPR 2018): each residual branch ends in an
SE module (global average pool, Linear C -> C/16, ReLU, Linear C/16 -> C, sigmoid, channel-wise
multiply) applied before the residual add. The backbone is the CIFAR ResNet of
:mod:`costmodel.zoo.resnet` (3x3 stride-1 stem, no max-pool), whose blocks carry the SE hook.
"""

from __future__ import annotations

from costmodel.zoo.registry import register, register_alias
from costmodel.zoo.resnet import ResNet, build_resnet


def build_se_resnet(
    *, depth: int = 50, width: float = 1.0, reduction: int = 16, num_classes: int = 100
) -> ResNet:
    """A CIFAR SE-ResNet; ``reduction`` is the SE bottleneck ratio (16 in the paper)."""
    if reduction < 1:
        raise ValueError(f"SE reduction must be >= 1, got {reduction}")
    return build_resnet(depth=depth, width=width, num_classes=num_classes, se_reduction=reduction)


register(
    "se_resnet",
    "se_resnet",
    build_se_resnet,
    defaults={"depth": 50, "width": 1.0, "reduction": 16, "num_classes": 100},
    variants=[
        {"depth": 18},
        {"depth": 34},
        {},  # SE-ResNet-50, the study model
        {"depth": 101},
        {"depth": 50, "width": 0.5},
    ],
    description="SE-ResNet-18/34/50/101 for CIFAR (SE reduction 16 in every block); Hu et al. 2018",
    study=True,
)
register_alias("seresnet50", "se_resnet", depth=50)
for _d in (18, 34, 101):
    register_alias(f"seresnet{_d}", "se_resnet", depth=_d)
