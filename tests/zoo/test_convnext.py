"""ConvNeXt family: variants, parameter counts, the block's structure and its hidden work."""

from __future__ import annotations

import pytest
import torch
import torch.fx
import torch.nn as nn

import costmodel
import costmodel.zoo as zoo
from costmodel.zoo.convnext import Block, LayerNorm2d, convnext
from costmodel.zoo.registry import resolve_name

ENTRY = resolve_name("convnext")[0]
VARIANT_SPECS = [zoo.ModelSpec("zoo", "convnext", dict(v)).canonical() for v in ENTRY.variants]


def expected_params(dims, depths, kernel, stem, mlp_ratio, num_classes):
    # stem conv (+ bias) and its LayerNorm; per stage but the first a LayerNorm and a 2x2 conv;
    # per block the depthwise conv (+ bias), LayerNorm, two linears, layer scale; head LN + linear
    n = 3 * stem * stem * dims[0] + dims[0] + 2 * dims[0]
    for i, (d, depth) in enumerate(zip(dims, depths, strict=True)):
        if i:
            n += 2 * dims[i - 1] + dims[i - 1] * d * 4 + d
        block = d * kernel * kernel + d + 2 * d + 2 * mlp_ratio * d * d + mlp_ratio * d + d + d
        n += depth * block
    return n + 2 * dims[-1] + dims[-1] * num_classes + num_classes


@pytest.mark.parametrize("spec", VARIANT_SPECS)
def test_variant_builds_runs_and_param_count(spec):
    model = zoo.build(spec)
    dims = [s[-1].dwconv.in_channels for s in model.stages]
    depths = [sum(isinstance(m, Block) for m in s) for s in model.stages]
    kw = {**ENTRY.defaults, **zoo.parse(spec).params}
    n = sum(p.numel() for p in model.parameters())
    assert n == expected_params(dims, depths, kw["kernel"], kw["stem"], kw["mlp_ratio"], 100)
    with torch.no_grad():
        assert model(torch.randn(1, 3, 32, 32)).shape == (1, 100)


def test_defaults_are_convnext_atto_stages_and_width_depth_scale_them():
    model = convnext()
    assert [s[-1].dwconv.in_channels for s in model.stages] == [40, 80, 160, 320]
    assert [sum(isinstance(m, Block) for m in s) for s in model.stages] == [2, 2, 6, 2]
    half = convnext(width=0.5, depth=0.5)
    assert [s[-1].dwconv.in_channels for s in half.stages] == [24, 40, 80, 160]
    assert [sum(isinstance(m, Block) for m in s) for s in half.stages] == [1, 1, 3, 1]
    assert model.stages[0][0].dwconv.kernel_size == (7, 7)
    assert model.stages[0][0].dwconv.groups == 40  # depthwise


def test_channels_first_layernorm_is_layernorm_over_channels():
    torch.manual_seed(0)
    norm = LayerNorm2d(6)
    nn.init.normal_(norm.weight)
    x = torch.randn(2, 6, 4, 5)
    ref = nn.functional.layer_norm(x.permute(0, 2, 3, 1), (6,), norm.weight, norm.bias)
    torch.testing.assert_close(norm(x), ref.permute(0, 3, 1, 2))


def test_the_block_traces_to_its_hidden_work():
    # the work MACs do not see: permutes around the MLP, layer norm, GELU, layer scale, add
    a = costmodel.analyze(Block(16, 7, 4, 1e-6), (1, 16, 8, 8))
    cats = a.ops.set_index("name")["category"]
    assert cats["dwconv"] == "conv_depthwise"
    assert {"layernorm", "activation", "elementwise", "linear"} <= set(cats)
    assert (a.ops["target"] == "permute").sum() == 2
    graph = torch.fx.symbolic_trace(convnext(depth=0.5)).graph
    assert any(n.target == torch.nn.functional.layer_norm for n in graph.nodes)  # LayerNorm2d


def test_bad_settings_raise():
    with pytest.raises(ValueError, match="odd"):
        convnext(kernel=4)
    with pytest.raises(ValueError, match="stem"):
        convnext(stem=3)
