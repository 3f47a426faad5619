"""DenseNet-BC family: every variant builds and traces; concatenations and sizes are right."""

from __future__ import annotations

import operator

import pytest
import torch
import torch.fx
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

from costmodel.zoo import build, entries
from costmodel.zoo.densenet import DenseLayer, build_densenet
from costmodel.zoo.specs import ModelSpec

FAMILY = "densenet"
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
    assert 0.1e6 < n_params(model) < 60e6
    gm = torch.fx.symbolic_trace(model)
    cats = [n for n in gm.graph.nodes if n.op == "call_function" and n.target is torch.cat]
    assert len(cats) == sum(isinstance(m, DenseLayer) for m in model.modules())
    assert not any(n.target is operator.add for n in gm.graph.nodes)


def test_small_variant_forward() -> None:
    model = build("densenet?depth=40&growth_rate=12&num_classes=10")
    with torch.no_grad():
        assert model(torch.randn(1, 3, 32, 32)).shape == (1, 10)


@pytest.mark.parametrize(
    ("spec", "layers", "reference"),
    [
        ("densenet121", 58, 7.0e6),  # [6, 12, 24, 16], k=32
        ("densenet_bc100", 48, 0.8e6),  # Huang et al. 2017, Table 2: DenseNet-BC L=100, k=12
    ],
)
def test_layouts(spec: str, layers: int, reference: float) -> None:
    model = build(spec)
    assert sum(isinstance(m, DenseLayer) for m in model.modules()) == layers
    assert abs(n_params(model) - reference) / reference < 0.05


def test_macs_ballpark() -> None:
    model = build("densenet121")
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.randn(1, 3, 32, 32))
    assert 0.6e9 < counter.get_total_flops() / 2 < 1.2e9


def test_bad_arguments_and_train_mode() -> None:
    assert build_densenet(depth=40, growth_rate=12).training
    with pytest.raises(ValueError, match="6n\\+4"):
        build_densenet(depth=41)
    with pytest.raises(ValueError):
        build_densenet(compression=0.0)
