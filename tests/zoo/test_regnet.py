"""RegNet family: design-space width rule, registered variants, published sizes."""

from __future__ import annotations

import pytest
import torch
import torch.fx

import costmodel.zoo as zoo
from costmodel.zoo.registry import resolve_name
from costmodel.zoo.regnet import generate_stages, regnet

ENTRY = resolve_name("regnet")[0]
VARIANT_SPECS = [zoo.ModelSpec("zoo", "regnet", dict(v)).canonical() for v in ENTRY.variants]


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(
    "w0, wa, wm, depth, g, widths, depths",
    [
        (24, 36.44, 2.49, 13, 8, [24, 56, 152, 368], [1, 1, 4, 7]),  # X-200MF
        (24, 24.48, 2.54, 22, 16, [32, 64, 160, 384], [1, 2, 7, 12]),  # X-400MF
        (48, 36.97, 2.24, 16, 24, [48, 96, 240, 528], [1, 3, 5, 7]),  # X-600MF
        (48, 27.89, 2.09, 16, 8, [48, 104, 208, 440], [1, 3, 6, 6]),  # Y-400MF
    ],
)
def test_width_rule_reproduces_published_stages(w0, wa, wm, depth, g, widths, depths):
    model = regnet(w0=w0, wa=wa, wm=wm, depth=depth, group_width=g)
    assert (model.stage_widths, model.stage_depths) == (widths, depths)
    assert [len(stage) for stage in model.stages] == depths


def test_quantised_widths_before_group_adjustment():
    # X-400MF: the raw quantised widths, before the bottleneck is made a multiple of 16
    assert generate_stages(24, 24.48, 2.54, 22) == ([24, 64, 152, 392], [1, 2, 7, 12])


@pytest.mark.parametrize(
    "alias, published_m",
    [
        ("regnetx_200mf", 2.7),
        ("regnetx_400mf", 5.2),
        ("regnetx_600mf", 6.2),
        ("regnety_200mf", 3.2),
        ("regnety_400mf", 4.3),
    ],
)
def test_imagenet_head_param_counts_match_paper_models(alias, published_m):
    # the published (pycls) counts are for 1000 classes; the stem conv has the same size
    model = zoo.build(f"{alias}?num_classes=1000")
    assert n_params(model) / 1e6 == pytest.approx(published_m, rel=0.03)


@pytest.mark.parametrize("spec", VARIANT_SPECS)
def test_variant_builds_traces_and_is_sane(spec):
    model = zoo.build(spec)
    assert zoo.family(spec) == "regnet"
    assert 0.3e6 < n_params(model) < 10e6
    graph = torch.fx.symbolic_trace(model).graph
    convs = [
        n
        for n in graph.nodes
        if n.op == "call_module" and "conv" in type(model.get_submodule(n.target)).__name__.lower()
    ]
    assert convs


def test_builder_is_in_train_mode_and_block_structure():
    model = regnet(se_ratio=0.25)
    assert model.training
    block = model.stages[1][0]
    # X block: 1x1 -> 3x3 group conv (group width 8) -> 1x1, projection shortcut on stride 2
    conv_b = block.b[0]
    assert conv_b.stride == (2, 2) and conv_b.groups == conv_b.in_channels // 8
    assert block.proj is not None and block.se is not None
    assert model.stage_widths == [24, 56, 152, 368]


def test_width_multiplier_shrinks_model():
    assert n_params(regnet(width=0.5)) < 0.5 * n_params(regnet())


def test_forward_small_variant():
    model = zoo.build("regnet?width=0.5&num_classes=10")
    with torch.no_grad():
        out = model(torch.randn(1, 3, 32, 32))
    assert out.shape == (1, 10)
