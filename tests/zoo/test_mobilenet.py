"""MobileNet v1 family: every variant builds and traces; the default matches the study's size."""

from __future__ import annotations

import pytest
import torch
import torch.fx
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

from costmodel.zoo import build, entries
from costmodel.zoo.mobilenet import DepthwiseSeparable, mobilenet
from costmodel.zoo.specs import ModelSpec

FAMILY = "mobilenet"
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
    assert 0.1e6 < n_params(model) < 5e6
    gm = torch.fx.symbolic_trace(model)
    assert not any(isinstance(m, nn.MaxPool2d) for m in gm.modules())


def test_small_variant_forward() -> None:
    model = build("mobilenet?width=0.25&num_classes=10")
    with torch.no_grad():
        assert model(torch.randn(1, 3, 32, 32)).shape == (1, 10)


def test_study_model_structure_size_and_macs() -> None:
    model = build("mobilenet")
    assert abs(n_params(model) - 3.3e6) / 3.3e6 < 0.05
    stem = model.features[0][0]
    assert stem.kernel_size == (3, 3) and stem.stride == (1, 1)
    blocks = [m for m in model.modules() if isinstance(m, DepthwiseSeparable)]
    assert len(blocks) == 13
    assert sum(b[0][0].stride == (2, 2) for b in blocks) == 4  # 32x32 -> 2x2
    assert all(b[0][0].groups == b[0][0].in_channels for b in blocks)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.randn(1, 3, 32, 32))
    macs = counter.get_total_flops() / 2
    assert 36e6 < macs < 60e6  # paper: ~48 M


def test_width_and_train_mode() -> None:
    model = mobilenet(width=0.5)
    assert model.training
    assert model.classifier[-1].in_features == 512
