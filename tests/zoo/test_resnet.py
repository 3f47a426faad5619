"""ResNet family: every variant builds and traces; ResNet-50 matches the study's size."""

from __future__ import annotations

import pytest
import torch
import torch.fx
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

from costmodel.zoo import build, entries
from costmodel.zoo.resnet import BasicBlock, Bottleneck, build_resnet
from costmodel.zoo.specs import ModelSpec

FAMILY = "resnet"
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
    assert 1e6 < n_params(model) < 60e6
    gm = torch.fx.symbolic_trace(model)
    assert not any(isinstance(m, nn.MaxPool2d) for m in gm.modules())  # CIFAR stem


def test_small_variant_forward() -> None:
    model = build("resnet?depth=18&width=0.5&num_classes=10")
    with torch.no_grad():
        assert model(torch.randn(1, 3, 32, 32)).shape == (1, 10)


@pytest.mark.parametrize(
    ("spec", "block", "blocks", "reference"),
    [
        ("resnet18", BasicBlock, 8, 11.2e6),
        ("resnet34", BasicBlock, 16, 21.3e6),
        ("resnet50", Bottleneck, 16, 23.7e6),
        ("resnet101", Bottleneck, 33, 42.7e6),
    ],
)
def test_depths(spec: str, block: type, blocks: int, reference: float) -> None:
    model = build(spec)
    assert sum(isinstance(m, block) for m in model.modules()) == blocks
    assert abs(n_params(model) - reference) / reference < 0.05


def test_study_model_size_and_macs() -> None:
    model = build("resnet50")
    assert abs(n_params(model) - 23.7e6) / 23.7e6 < 0.05
    stem = model.stem[0]
    assert stem.kernel_size == (3, 3) and stem.stride == (1, 1)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.randn(1, 3, 32, 32))
    macs = counter.get_total_flops() / 2
    assert 1.0e9 < macs < 1.6e9  # paper: ~1,310 M


def test_width_and_train_mode() -> None:
    model = build_resnet(depth=18, width=0.5)
    assert model.training
    assert model.stem[0].out_channels == 32 and model.out_channels == 256
    with pytest.raises(ValueError, match="depth"):
        build_resnet(depth=20)
