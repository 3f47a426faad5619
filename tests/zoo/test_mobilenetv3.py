"""MobileNetV3 family: large and small members build, trace and have the published sizes."""

from __future__ import annotations

import pytest
import torch
import torch.fx
import torch.nn as nn

from costmodel.zoo import build, entries
from costmodel.zoo.layers import SqueezeExcite
from costmodel.zoo.mobilenetv3 import mobilenetv3
from costmodel.zoo.specs import ModelSpec

FAMILY = "mobilenetv3"
SPECS = [
    ModelSpec("zoo", e.name, dict(v)).canonical()
    for e in entries()
    if e.family == FAMILY
    for v in e.variants
]


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_family_has_members() -> None:
    assert len(SPECS) >= 4


@pytest.mark.parametrize("spec", SPECS)
def test_variant_builds_and_traces(spec: str) -> None:
    model = build(spec)
    assert 0.2e6 < n_params(model) < 6e6
    gm = torch.fx.symbolic_trace(model)
    modules = list(gm.modules())
    assert any(isinstance(m, nn.Hardswish) for m in modules)
    assert any(isinstance(m, nn.Hardsigmoid) for m in modules)


def test_small_variant_forward() -> None:
    model = build("mobilenetv3_small?width=0.5&num_classes=10")
    with torch.no_grad():
        assert model(torch.randn(1, 3, 32, 32)).shape == (1, 10)


@pytest.mark.parametrize(
    ("spec", "reference", "se_blocks"),
    # ImageNet sizes (5.48 M, 2.54 M) with the 1000-class layer swapped for a 100-class one.
    [("mobilenetv3_large", 4.33e6, 8), ("mobilenetv3_small", 1.62e6, 9)],
)
def test_published_sizes(spec: str, reference: float, se_blocks: int) -> None:
    model = build(spec)
    assert abs(n_params(model) - reference) / reference < 0.02
    assert sum(isinstance(m, SqueezeExcite) for m in model.modules()) == se_blocks
    stem = model.features[0][0]
    assert stem.kernel_size == (3, 3) and stem.stride == (1, 1)


def test_bad_mode_and_train_mode() -> None:
    assert mobilenetv3(mode="small").training
    with pytest.raises(ValueError, match="mode"):
        mobilenetv3(mode="medium")
