"""EfficientNet family: compound-scaled members build, trace and have the published sizes."""

from __future__ import annotations

import pytest
import torch
import torch.fx
import torch.nn as nn

from costmodel.zoo import build, entries
from costmodel.zoo.efficientnet import MBConv, efficientnet
from costmodel.zoo.specs import ModelSpec

FAMILY = "efficientnet"
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
    assert 0.3e6 < n_params(model) < 10e6
    gm = torch.fx.symbolic_trace(model)
    assert any(isinstance(m, nn.SiLU) for m in gm.modules())


def test_small_variant_forward() -> None:
    model = build("efficientnet?width=0.5&depth=0.5&num_classes=10")
    with torch.no_grad():
        assert model(torch.randn(1, 3, 32, 32)).shape == (1, 10)


@pytest.mark.parametrize(
    ("spec", "reference", "blocks"),
    # ImageNet sizes (5.29, 7.79, 9.11 M) with the 1000-class layer swapped for a 100-class one.
    [
        ("efficientnet_b0", 4.14e6, 16),
        ("efficientnet_b1", 6.64e6, 23),
        ("efficientnet_b2", 7.84e6, 23),
    ],
)
def test_published_sizes(spec: str, reference: float, blocks: int) -> None:
    model = build(spec)
    assert abs(n_params(model) - reference) / reference < 0.02
    assert sum(isinstance(m, MBConv) for m in model.modules()) == blocks
    stem = model.features[0][0]
    assert stem.kernel_size == (3, 3) and stem.stride == (1, 1)


def test_train_mode() -> None:
    assert efficientnet(width=0.5, depth=0.5).training
