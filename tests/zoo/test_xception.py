"""Xception family: every variant builds and traces; the study model matches the paper."""

from __future__ import annotations

import operator

import pytest
import torch
import torch.fx
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

from costmodel.zoo import build, entries
from costmodel.zoo.specs import ModelSpec
from costmodel.zoo.xception import build_xception

FAMILY = "xception"
SPECS = [
    (ModelSpec("zoo", e.name, dict(v)).canonical(), {**e.defaults, **v})
    for e in entries()
    if e.family == FAMILY
    for v in e.variants
]


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_family_has_members() -> None:
    assert len(SPECS) >= 4
    assert [e.study for e in entries() if e.family == FAMILY] == [True]


@pytest.mark.parametrize(("spec", "kwargs"), SPECS, ids=[s for s, _ in SPECS])
def test_variant_builds_and_traces(spec: str, kwargs: dict) -> None:
    model = build(spec)
    assert 0.3e6 < n_params(model) < 25e6
    gm = torch.fx.symbolic_trace(model)
    adds = [n for n in gm.graph.nodes if n.op == "call_function" and n.target is operator.add]
    assert len(adds) == 4 + kwargs["middle_repeats"]  # 3 entry + middle + 1 exit
    # every separable conv is a depthwise conv then a 1x1 conv
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    depthwise = [m for m in convs if m.groups > 1]
    assert all(m.groups == m.in_channels == m.out_channels for m in depthwise)
    assert len(depthwise) == 6 + 3 * kwargs["middle_repeats"] + 4


def test_study_model() -> None:
    model = build("xception")
    assert abs(n_params(model) - 21.0e6) / 21.0e6 < 0.05
    # paper.md: "~23,000 groups in total"
    groups = sum(m.groups for m in model.modules() if isinstance(m, nn.Conv2d) and m.groups > 1)
    assert 22_000 < groups < 24_000
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        out = model(torch.randn(1, 3, 32, 32))
    assert out.shape == (1, 100)
    assert 0.9e9 < counter.get_total_flops() / 2 < 1.4e9  # paper.md: ~1,140 MMACs


def test_small_variant_forward() -> None:
    model = build("xception?width=0.25&middle_repeats=2&num_classes=10")
    with torch.no_grad():
        assert model(torch.randn(1, 3, 32, 32)).shape == (1, 10)


def test_bad_arguments_and_train_mode() -> None:
    assert build_xception(width=0.25, middle_repeats=1).training
    with pytest.raises(ValueError):
        build_xception(middle_repeats=-1)
