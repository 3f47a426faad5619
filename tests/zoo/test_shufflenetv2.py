"""ShuffleNetV2 family: every variant builds and traces; 1.0x matches the study's size."""

from __future__ import annotations

import pytest
import torch
import torch.fx
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

from costmodel.zoo import build, entries
from costmodel.zoo.shufflenetv2 import ShuffleV2Unit, shufflenetv2
from costmodel.zoo.specs import ModelSpec

FAMILY = "shufflenetv2"
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
    assert 0.2e6 < n_params(model) < 7e6
    targets = [n.target for n in torch.fx.symbolic_trace(model).graph.nodes]
    assert targets.count(torch.cat) == 16  # every unit concatenates ...
    assert targets.count("transpose") == 16  # ... and shuffles
    assert targets.count("chunk") == 13  # stride-1 units split their input


def test_small_variant_forward() -> None:
    model = build("shufflenetv2?width=0.5&num_classes=10")
    with torch.no_grad():
        assert model(torch.randn(1, 3, 32, 32)).shape == (1, 10)


def test_study_model_structure_size_and_macs() -> None:
    model = build("shufflenetv2")
    assert abs(n_params(model) - 1.36e6) / 1.36e6 < 0.05
    stem = model.features[0][0]
    assert stem.kernel_size == (3, 3) and stem.stride == (1, 1)
    assert sum(isinstance(m, ShuffleV2Unit) for m in model.modules()) == 16
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.randn(1, 3, 32, 32))
    macs = counter.get_total_flops() / 2
    assert 34e6 < macs < 60e6  # paper: ~46 M


def test_off_table_width_and_train_mode() -> None:
    model = shufflenetv2(width=0.75)
    assert model.training
    with torch.no_grad():
        assert model.eval()(torch.randn(1, 3, 32, 32)).shape == (1, 100)
