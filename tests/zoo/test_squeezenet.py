"""SqueezeNet family: every variant builds and traces; Fire modules concatenate two expands."""

from __future__ import annotations

import operator

import pytest
import torch
import torch.fx
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

from costmodel.zoo import build, entries
from costmodel.zoo.specs import ModelSpec
from costmodel.zoo.squeezenet import build_squeezenet

FAMILY = "squeezenet"
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


@pytest.mark.parametrize(("spec", "kwargs"), SPECS, ids=[s for s, _ in SPECS])
def test_variant_builds_traces_and_runs(spec: str, kwargs: dict) -> None:
    model = build(spec)
    assert 0.1e6 < n_params(model) < 5e6
    gm = torch.fx.symbolic_trace(model)
    fn = [n.target for n in gm.graph.nodes if n.op == "call_function"]
    assert fn.count(torch.cat) == 8
    assert fn.count(operator.add) == (4 if kwargs["bypass"] else 0)
    with torch.no_grad():  # every member is small (< 0.4 GMACs)
        assert model(torch.randn(1, 3, 32, 32)).shape == (1, 100)


def test_default_size_and_macs() -> None:
    model = build("squeezenet")
    # paper: SqueezeNet v1.0 has 1.25 M parameters with 1000 classes (conv10 = 0.51 M of them)
    assert 0.7e6 < n_params(model) < 0.85e6
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.randn(1, 3, 32, 32))
    assert 0.15e9 < counter.get_total_flops() / 2 < 0.3e9


def test_version_spellings_and_errors() -> None:
    assert n_params(build("squeezenet?version=1")) == n_params(build("squeezenet"))
    assert build_squeezenet(version=1.1, num_classes=10).training
    with pytest.raises(ValueError):
        build_squeezenet(version=1.2)
    with pytest.raises(ValueError):
        build_squeezenet(width=0.0)
