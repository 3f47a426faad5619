"""ShuffleNet v1 family: every variant builds and traces; g=3 matches the study's size."""

from __future__ import annotations

import operator

import pytest
import torch
import torch.fx
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

from costmodel.zoo import build, entries
from costmodel.zoo.shufflenet import ShuffleUnit, shufflenet
from costmodel.zoo.specs import ModelSpec

FAMILY = "shufflenet"
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
    assert 0.1e6 < n_params(model) < 3e6
    graph = torch.fx.symbolic_trace(model).graph
    targets = [n.target for n in graph.nodes]
    assert targets.count(torch.cat) == 3  # one concat fusion per stage
    assert targets.count(operator.add) == 13  # add fusion in every other unit
    groups = model.features[-1].groups
    shuffles = targets.count("transpose")
    assert shuffles == (15 if groups > 1 else 0)  # all units but the first (ungrouped 1x1)


def test_small_variant_forward() -> None:
    model = build("shufflenet?width=0.5&num_classes=10")
    with torch.no_grad():
        assert model(torch.randn(1, 3, 32, 32)).shape == (1, 10)


def test_study_model_structure_size_and_macs() -> None:
    model = build("shufflenet")
    assert abs(n_params(model) - 1.0e6) / 1.0e6 < 0.05
    stem = model.features[0][0]
    assert stem.kernel_size == (3, 3) and stem.stride == (1, 1)
    units = [m for m in model.modules() if isinstance(m, ShuffleUnit)]
    assert len(units) == 16
    assert [u.expand[0].groups for u in units] == [3] * 16
    assert units[0].compress[0].groups == 1 and units[1].compress[0].groups == 3
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.randn(1, 3, 32, 32))
    macs = counter.get_total_flops() / 2
    assert 34e6 < macs < 60e6  # paper: ~46 M


@pytest.mark.parametrize("groups", [1, 2, 3, 4, 8])
@pytest.mark.parametrize("width", [0.25, 0.5, 1.0, 1.5])
def test_groups_and_widths_are_consistent(groups: int, width: float) -> None:
    model = shufflenet(groups=groups, width=width)
    assert model.training
    for unit in (m for m in model.modules() if isinstance(m, ShuffleUnit)):
        conv = unit.expand[0]
        assert conv.in_channels % groups == 0 and conv.out_channels % groups == 0


def test_bad_groups() -> None:
    with pytest.raises(ValueError, match="groups"):
        shufflenet(groups=5)
