"""A tiny module-level model builder for the import-spec tests (``_spec_builders:tiny``)."""

from __future__ import annotations

import torch.nn as nn


def tiny(
    *, width: int = 4, num_classes: int = 10, act: str = "relu", bias: bool = True
) -> nn.Module:
    """Conv -> activation -> pool -> linear."""
    activation = {"relu": nn.ReLU, "gelu": nn.GELU}[act]
    return nn.Sequential(
        nn.Conv2d(3, width, 3, padding=1, bias=bias),
        activation(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(width, num_classes),
    )


NOT_A_BUILDER = 42
