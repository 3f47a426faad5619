"""Inception family (v3 and v4): every variant builds and traces; study models match the paper."""

from __future__ import annotations

import pytest
import torch
import torch.fx
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

from costmodel.zoo import build, entries, family
from costmodel.zoo.inception import build_inceptionv3
from costmodel.zoo.specs import ModelSpec

FAMILY = "inception"
SPECS = [
    ModelSpec("zoo", e.name, dict(v)).canonical()
    for e in entries()
    if e.family == FAMILY
    for v in e.variants
]
# paper.md: parameters (100 classes) and concatenations of the study models
STUDY = {"inceptionv3": (22.3e6, 15), "inceptionv4": (41.3e6, 25)}


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def n_cats(gm: torch.fx.GraphModule) -> int:
    return sum(n.op == "call_function" and n.target is torch.cat for n in gm.graph.nodes)


def test_family_has_members() -> None:
    assert len(SPECS) >= 4
    assert family("inceptionv3") == family("inceptionv4") == FAMILY
    study = {e.name for e in entries() if e.family == FAMILY and e.study}
    assert study == set(STUDY)


@pytest.mark.parametrize("spec", SPECS)
def test_variant_builds_and_traces(spec: str) -> None:
    model = build(spec)
    assert 0.5e6 < n_params(model) < 45e6
    gm = torch.fx.symbolic_trace(model)
    assert n_cats(gm) == STUDY[ModelSpec("zoo", spec.partition("?")[0]).name][1]


@pytest.mark.parametrize("name", sorted(STUDY))
def test_study_model_size(name: str) -> None:
    reference = STUDY[name][0]
    assert abs(n_params(build(name)) - reference) / reference < 0.05


def test_small_variants_forward() -> None:
    # the full Inception-v4 takes seconds per pass on 2 cores: run only narrow members
    for spec in ("inceptionv3?width=0.25&num_classes=10", "inceptionv4?width=0.25&num_classes=10"):
        with torch.no_grad():
            assert build(spec)(torch.randn(1, 3, 32, 32)).shape == (1, 10)


@pytest.mark.parametrize(("name", "mmacs"), [("inceptionv3", 3400), ("inceptionv4", 7560)])
def test_macs_ballpark(name: str, mmacs: float) -> None:
    # paper.md's MACs; counted on the meta device (shapes only) to keep the test fast
    model = build(name).to("meta")
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        out = model(torch.randn(1, 3, 32, 32, device="meta"))
    assert out.shape == (1, 100)
    assert 0.85 < counter.get_total_flops() / 2 / (mmacs * 1e6) < 1.15


def test_bad_arguments_and_train_mode() -> None:
    assert build_inceptionv3(width=0.25).training
    with pytest.raises(ValueError):
        build_inceptionv3(width=0.0)
