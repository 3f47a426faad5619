"""VGG-BN family: every variant builds and traces; VGG16-BN matches the study's size."""

from __future__ import annotations

import pytest
import torch
import torch.fx
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

from costmodel.zoo import build, entries
from costmodel.zoo.specs import ModelSpec

FAMILY = "vgg"
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
    assert sum(isinstance(m, nn.MaxPool2d) for m in gm.modules()) == 5


def test_small_variant_forward() -> None:
    model = build("vgg?depth=11&width=0.5&num_classes=10")
    with torch.no_grad():
        assert model(torch.randn(1, 3, 32, 32)).shape == (1, 10)


@pytest.mark.parametrize(
    ("spec", "convs", "reference"),
    [("vgg11", 8, 28.5e6), ("vgg13", 10, 28.7e6), ("vgg16", 13, 34.0e6), ("vgg19", 16, 39.3e6)],
)
def test_depths(spec: str, convs: int, reference: float) -> None:
    model = build(spec)
    assert sum(isinstance(m, nn.Conv2d) for m in model.modules()) == convs
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == convs
    assert abs(n_params(model) - reference) / reference < 0.05


def test_study_model_size_and_macs() -> None:
    model = build("vgg16")
    assert abs(n_params(model) - 34.0e6) / 34.0e6 < 0.05
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [
        (512, 4096),
        (4096, 4096),
        (4096, 100),
    ]
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.randn(1, 3, 32, 32))
    macs = counter.get_total_flops() / 2
    assert 250e6 < macs < 420e6  # paper: ~334 M


def test_model_is_in_train_mode_and_bad_depth_rejected() -> None:
    from costmodel.zoo.vgg import build_vgg

    assert build_vgg(depth=11, width=0.5).training
    with pytest.raises(ValueError, match="depth"):
        build_vgg(depth=12)
