"""SE-ResNet family: every variant builds and traces; SE-ResNet-50 matches the study's size."""

from __future__ import annotations

import pytest
import torch
import torch.fx
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

from costmodel.zoo import build, entries
from costmodel.zoo.layers import SqueezeExcite
from costmodel.zoo.specs import ModelSpec

FAMILY = "se_resnet"
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
    # every block's SE gate shows up as a sigmoid in the traced graph
    n_se = sum(isinstance(m, SqueezeExcite) for m in model.modules())
    assert n_se > 0
    assert sum(isinstance(m, nn.Sigmoid) for m in gm.modules()) == n_se


def test_small_variant_forward() -> None:
    model = build("se_resnet?depth=18&width=0.5&num_classes=10")
    with torch.no_grad():
        assert model(torch.randn(1, 3, 32, 32)).shape == (1, 10)


@pytest.mark.parametrize(("spec", "blocks"), [("seresnet18", 8), ("seresnet50", 16)])
def test_one_se_per_block(spec: str, blocks: int) -> None:
    model = build(spec)
    se = [m for m in model.modules() if isinstance(m, SqueezeExcite)]
    assert len(se) == blocks
    assert all(m.use_linear and m.fc1.out_features * 16 == m.fc1.in_features for m in se)


def test_study_model_size_and_macs() -> None:
    model = build("seresnet50")
    assert abs(n_params(model) - 26.3e6) / 26.3e6 < 0.05
    plain = sum(p.numel() for p in build("resnet50").parameters())
    assert n_params(model) > plain  # SE adds parameters on top of ResNet-50
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.randn(1, 3, 32, 32))
    macs = counter.get_total_flops() / 2
    assert 1.0e9 < macs < 1.6e9  # paper: ~1,316 M
