"""MobileNetV2 family: every variant builds and traces; the default matches the study's size."""

from __future__ import annotations

import operator

import pytest
import torch
import torch.fx
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

from costmodel.zoo import build, entries
from costmodel.zoo.mobilenetv2 import InvertedResidual, mobilenetv2
from costmodel.zoo.specs import ModelSpec

FAMILY = "mobilenetv2"
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
    assert 0.3e6 < n_params(model) < 6e6
    gm = torch.fx.symbolic_trace(model)
    adds = [n for n in gm.graph.nodes if n.target in (operator.add, torch.add)]
    assert len(adds) == 10
    assert any(isinstance(m, nn.ReLU6) for m in gm.modules())


def test_small_variant_forward() -> None:
    model = build("mobilenetv2?width=0.35&num_classes=10")
    with torch.no_grad():
        assert model(torch.randn(1, 3, 32, 32)).shape == (1, 10)


def test_study_model_structure_size_and_macs() -> None:
    model = build("mobilenetv2")
    assert abs(n_params(model) - 2.37e6) / 2.37e6 < 0.05
    stem = model.features[0][0]
    assert stem.kernel_size == (3, 3) and stem.stride == (1, 1)
    assert sum(isinstance(m, InvertedResidual) for m in model.modules()) == 17
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.randn(1, 3, 32, 32))
    macs = counter.get_total_flops() / 2
    assert 50e6 < macs < 90e6  # paper: ~68 M


def test_width_and_train_mode() -> None:
    model = mobilenetv2(width=0.5)
    assert model.training
    assert model.classifier[-1].in_features == 1280  # the head is not thinned
    assert mobilenetv2(width=1.4).classifier[-1].in_features == 1792
