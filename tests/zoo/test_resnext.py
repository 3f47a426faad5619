"""ResNeXt family: every variant builds and traces with grouped convs; sizes match the paper."""

from __future__ import annotations

import pytest
import torch
import torch.fx
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

from costmodel.zoo import build, entries
from costmodel.zoo.resnext import build_resnext
from costmodel.zoo.specs import ModelSpec

FAMILY = "resnext"
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
    assert 0.5e6 < n_params(model) < 60e6
    gm = torch.fx.symbolic_trace(model)
    groups = {m.groups for m in gm.modules() if isinstance(m, nn.Conv2d)}
    assert max(groups) > 1


def test_small_variant_forward() -> None:
    model = build("resnext?depth=11&cardinality=16&base_width=4&num_classes=10")
    with torch.no_grad():
        assert model(torch.randn(1, 3, 32, 32)).shape == (1, 10)


def test_grouped_widths_double_per_stage() -> None:
    model = build("resnext29_8x64d?num_classes=10")
    grouped = [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.groups > 1]
    assert len(grouped) == 9 and all(m.groups == 8 for m in grouped)
    assert [grouped[i].in_channels for i in (0, 3, 6)] == [512, 1024, 2048]
    # Xie et al. 2017, Table 7: ResNeXt-29 8x64d has 34.4 M parameters (CIFAR-10)
    assert abs(n_params(model) - 34.4e6) / 34.4e6 < 0.05


def test_macs_ballpark() -> None:
    model = build("resnext")
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.randn(1, 3, 32, 32))
    assert 0.5e9 < counter.get_total_flops() / 2 < 2e9


def test_bad_arguments_and_train_mode() -> None:
    assert build_resnext(depth=11, cardinality=4, base_width=4).training
    with pytest.raises(ValueError, match="9n\\+2"):
        build_resnext(depth=28)
    with pytest.raises(ValueError):
        build_resnext(cardinality=0)
