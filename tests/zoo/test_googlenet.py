"""GoogLeNet family: every variant builds and traces; nine four-branch modules."""

from __future__ import annotations

import pytest
import torch
import torch.fx
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

from costmodel.zoo import build, entries
from costmodel.zoo.googlenet import build_googlenet
from costmodel.zoo.specs import ModelSpec

FAMILY = "googlenet"
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
    assert 0.2e6 < n_params(model) < 10e6
    gm = torch.fx.symbolic_trace(model)
    cats = [n for n in gm.graph.nodes if n.op == "call_function" and n.target is torch.cat]
    assert len(cats) == 9
    assert all(len(n.args[0]) == 4 for n in cats)


def test_full_width_size_and_macs() -> None:
    model = build("googlenet")
    assert abs(n_params(model) - 6.4e6) / 6.4e6 < 0.05
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        out = model(torch.randn(1, 3, 32, 32))
    assert out.shape == (1, 100)
    assert 1.2e9 < counter.get_total_flops() / 2 < 2.2e9


def test_small_variant_forward_and_alias() -> None:
    model = build("googlenet?width=0.25&num_classes=10")
    with torch.no_grad():
        assert model(torch.randn(1, 3, 32, 32)).shape == (1, 10)
    assert n_params(build("inceptionv1")) == n_params(build("googlenet"))


def test_bad_arguments_and_train_mode() -> None:
    assert build_googlenet(width=0.25).training
    with pytest.raises(ValueError):
        build_googlenet(width=-1.0)
