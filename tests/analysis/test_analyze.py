"""Whole-model analysis: totals, the FlopCounterMode cross-check, fallbacks, errors, purity."""

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from oneop import flop_counter_macs

import costmodel
from costmodel.analysis import AnalysisError, UntraceableModelError
from costmodel.zoo.catalog import zoo_specs
from costmodel.zoo.specs import build, input_shape

ZOO = zoo_specs()
NB201 = [
    "nb201:|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
    "nb201:|none~0|+|nor_conv_1x1~0|none~1|+|avg_pool_3x3~0|skip_connect~1|nor_conv_3x3~2|?dataset=imagenet16",
]
RANDOM = [f"random:seed={s}" for s in range(4)] + [
    f"random:attention=true&seed={s}"
    for s in (0, 5, 44)  # 44: pooling a strided map
]


@pytest.mark.parametrize("spec", ZOO + NB201 + RANDOM)
def test_every_shipped_model_matches_flop_counter_and_has_no_unknown_ops(spec):
    model = build(spec)
    shape = input_shape(spec)
    a = costmodel.analyze(model, shape, name=spec)
    assert a.method == "fx", a.notes
    assert a.totals["unknown"] == 0, a.unknown_ops
    mac_nodes = a.ops[
        a.ops["category"].isin(
            ["conv_dense", "conv_pointwise", "conv_depthwise", "conv_grouped", "linear", "matmul"]
        )
    ]
    assert int(mac_nodes["macs"].sum()) == flop_counter_macs(model, shape)
    assert a.totals["params"] == sum(p.numel() for p in model.parameters())


def test_zoo_is_big_enough_for_family_holdout():
    from costmodel.zoo.catalog import catalog

    table = catalog()
    assert len(table) >= 80
    sizes = table.groupby("family").size()
    assert len(sizes) >= 15 and (sizes >= 4).all(), sizes


def test_totals_and_views_are_consistent():
    a = costmodel.analyze("resnet?depth=18&width=0.5")
    t = a.totals
    assert t["macs"] == a.by_category["macs"].sum() == a.by_module()["macs"].sum()
    assert t["bytes"] == a.by_category["bytes"].sum()
    assert t["flops"] >= 2 * t["macs"]
    assert a.by_category.loc["elementwise", "ops"] == 8  # one residual add per basic block
    assert t["module_calls"] > t["mac_nodes"]  # containers are called too
    for view in ("node", "category", "module"):
        assert len(a.table(view))
    assert "resnet" in repr(a) and "MMACs" in repr(a)


def test_module_calls_count_containers_as_eager_pytorch_does():
    calls = []
    model = build("mobilenetv2?width=0.35")
    hook = torch.nn.modules.module.register_module_forward_pre_hook(lambda m, i: calls.append(m))
    try:
        with torch.no_grad():
            model(torch.zeros(1, 3, 32, 32))
    finally:
        hook.remove()
    assert costmodel.analyze(model, (1, 3, 32, 32)).totals["module_calls"] == len(calls)


def _snapshot(model: nn.Module):
    return {
        "state": {k: v.clone() for k, v in model.state_dict().items()},
        "training": [m.training for m in model.modules()],
        "attrs": [sorted(vars(m)) for m in model.modules()],
        "hooks": [
            (len(m._forward_hooks), len(m._forward_pre_hooks), len(m._backward_hooks))
            for m in model.modules()
        ],
        "params": [(p.device, p.dtype, p.requires_grad) for p in model.parameters()],
        "global_hooks": (
            len(torch.nn.modules.module._global_forward_hooks),
            len(torch.nn.modules.module._global_forward_pre_hooks),
        ),
    }


@pytest.mark.parametrize("method", ["auto", "dispatch"])
def test_the_users_model_is_never_mutated(method):
    model = build("se_resnet?depth=18&width=0.5").train()  # train mode must survive
    list(model.children())[1].eval()  # and so must a mixed state
    before = _snapshot(model)
    costmodel.analyze(model, (1, 3, 32, 32), method=method)
    after = _snapshot(model)
    assert before["training"] == after["training"]
    assert before["attrs"] == after["attrs"]
    assert before["hooks"] == after["hooks"]
    assert before["params"] == after["params"]
    assert before["global_hooks"] == after["global_hooks"]
    for k, v in before["state"].items():
        assert torch.equal(v, after["state"][k]), k


class ValueBranch(nn.Module):
    """Control flow on tensor values: nothing can analyse this without data."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        if x.sum() > 0:
            return self.conv(x)
        return x


def test_value_dependent_control_flow_names_line_and_remedy():
    with pytest.raises(UntraceableModelError) as info:
        costmodel.analyze(ValueBranch(), (1, 3, 8, 8))
    msg = str(info.value)
    assert "test_analyze.py" in msg and "if x.sum() > 0" in msg
    assert "leaf_modules" in msg and "concrete_args" in msg


class ShapeBranchBlock(nn.Module):
    """fx cannot trace `if` on a shape, but eager fake execution can: it becomes a leaf."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(8, 8, 3, padding=1)
        self.b = nn.Conv2d(8, 8, 1)

    def forward(self, x):
        if x.shape[-1] > 4:
            return F.relu(self.a(x))
        return self.b(x)


class HasShapeBranch(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.block = ShapeBranchBlock()
        self.head = nn.Linear(8, 10)

    def forward(self, x):
        return self.head(self.block(self.stem(x)).mean((2, 3)))


def test_untraceable_submodule_becomes_a_leaf_and_is_counted_in_full():
    model = HasShapeBranch()
    a = costmodel.analyze(model, (1, 3, 16, 16))
    assert a.method == "fx"
    assert any("'block'" in n for n in a.notes)
    block = a.nodes.set_index("name").loc["block"]
    assert block["macs"] == 8 * 16 * 16 * 8 * 9  # the 3x3 branch ran, on fake tensors
    assert block["aten_ops"] == "aten.convolution,aten.relu"
    assert a.totals["macs"] == flop_counter_macs(model, (1, 3, 16, 16))
    with pytest.raises(UntraceableModelError, match="module 'block'"):
        costmodel.analyze(model, (1, 3, 16, 16), method="fx")


class RootShapeBranch(HasShapeBranch):
    def forward(self, x):
        x = self.stem(x)
        if x.shape[1] == 8:  # in the root forward: no module to make a leaf
            x = x * 2
        return self.head(x.mean((2, 3)))


def test_root_forward_falls_back_to_dispatch_capture():
    model = RootShapeBranch()
    a = costmodel.analyze(model, (1, 3, 16, 16))
    assert a.method == "dispatch" and a.notes
    assert a.totals["macs"] == flop_counter_macs(model, (1, 3, 16, 16))
    assert set(a.ops["module"]) >= {"stem", "head"}
    assert a.totals["unknown"] == 0
    fx_like = costmodel.analyze(HasShapeBranch(), (1, 3, 16, 16), method="dispatch")
    assert fx_like.totals["module_calls"] == 5  # root, stem, block, block's conv a, head


def test_leaf_modules_by_path_and_type():
    model = HasShapeBranch()
    a = costmodel.analyze(model, (1, 3, 16, 16), leaf_modules=["block"])
    assert not a.notes and "block" in set(a.nodes["name"])
    b = costmodel.analyze(model, (1, 3, 16, 16), leaf_modules=[ShapeBranchBlock])
    assert b.totals["macs"] == a.totals["macs"]
    with pytest.raises(ValueError, match="not a submodule"):
        costmodel.analyze(model, (1, 3, 16, 16), leaf_modules=["nope"])


@pytest.mark.parametrize("method", ["auto", "dispatch"])
def test_same_counts_inside_inference_mode(method):
    model = build("random:seed=3")
    outside = costmodel.analyze(model, (1, 3, 32, 32), method=method).totals
    with torch.inference_mode():
        inside = costmodel.analyze(model, (1, 3, 32, 32), method=method).totals
    assert inside == outside and inside["unknown"] == 0


def test_wrong_input_shape_names_the_node_and_shapes():
    with pytest.raises(AnalysisError, match=r"stem.*input shape"):
        costmodel.analyze(HasShapeBranch(), (1, 5, 16, 16))


def test_bad_arguments():
    with pytest.raises(TypeError, match="nn.Module"):
        costmodel.analyze(lambda x: x, (1, 3))
    with pytest.raises(ValueError, match="input_shape"):
        costmodel.analyze(nn.ReLU())
    with pytest.raises(ValueError, match="positive"):
        costmodel.analyze(nn.ReLU(), (1, 0, 3))
    with pytest.raises(ValueError, match="method"):
        costmodel.analyze(nn.ReLU(), (1, 3), method="magic")


def test_example_inputs_and_multiple_inputs():
    class Two(nn.Module):
        def forward(self, a, b):
            return torch.cat([a, b], 1)

    a = costmodel.analyze(Two(), [(1, 2, 4, 4), (1, 3, 4, 4)])
    assert a.input_shapes == [(1, 2, 4, 4), (1, 3, 4, 4)]
    b = costmodel.analyze(Two(), example_inputs=(torch.ones(1, 2, 4, 4), torch.ones(1, 3, 4, 4)))
    assert b.totals == a.totals


def test_analysis_of_a_multi_gmac_model_computes_nothing_real():
    # ResNet-101 is 2.5 GMACs; on fake tensors no activation is ever allocated.
    a = costmodel.analyze("resnet101")
    assert a.totals["macs"] > 2.4e9


class Stateful(nn.Module):
    """A forward that updates a buffer in place, makes a tensor constant and rebinds state."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 3)
        self.register_buffer("ema", torch.ones(3))

    def forward(self, x):
        self.ema.mul_(0.9)
        self.last = x.mean()  # rebinding an attribute (runs for real in the dispatch fallback)
        return self.fc(x) + torch.tensor([1.0, 2.0, 3.0])


@pytest.mark.parametrize("method", ["auto", "dispatch"])
def test_forward_side_effects_never_reach_the_model(method):
    model = Stateful()
    before = _snapshot(model)
    costmodel.analyze(model, (1, 3), method=method)
    after = _snapshot(model)
    assert before["attrs"] == after["attrs"]  # no _tensor_constantN, no `last`
    assert before["hooks"] == after["hooks"] and before["params"] == after["params"]
    for k, v in before["state"].items():
        assert torch.equal(v, after["state"][k]), k  # ema is still all ones
    assert model.ema.device.type == "cpu"


def test_node_results_are_shared_only_by_equal_configurations():
    # nn.MultiheadAttention's extra_repr is empty; two head counts in one process must differ.
    from costmodel.analysis import capture

    class Attn(nn.Module):
        def __init__(self, heads):
            super().__init__()
            self.attn = nn.MultiheadAttention(16, heads, batch_first=True)

        def forward(self, x):
            return self.attn(x, x, x, need_weights=True)[0]

    capture._SHARED_CACHE.clear()
    fresh = costmodel.analyze(Attn(4), (1, 8, 16)).totals
    capture._SHARED_CACHE.clear()
    costmodel.analyze(Attn(1), (1, 8, 16))
    assert costmodel.analyze(Attn(4), (1, 8, 16)).totals == fresh


def test_analysis_allocates_nothing_proportional_to_input_or_model():
    import tracemalloc

    tracemalloc.start()
    a = costmodel.analyze("resnet18", input_shape=(1, 3, 60000, 60000))  # a 43 GB input
    wide = costmodel.analyze("vgg?depth=16&width=2.0")  # ~0.5 GB of real weights
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert a.totals["macs"] > 1e15 and wide.totals["params"] > 1e8
    assert peak < 200e6


def test_meta_built_zoo_models_count_what_real_ones_do():
    for spec in ("resnet18", "mobilenetv2?width=0.5", "inceptionv3", "random:seed=3"):
        real = costmodel.analyze(build(spec), input_shape(spec)).totals
        assert costmodel.analyze(spec).totals == real, spec


def test_dtype_follows_the_model_or_is_checked():
    half = nn.Conv2d(3, 4, 3).half()
    a = costmodel.analyze(half, (1, 3, 8, 8))  # the model's own dtype: no error
    assert set(a.nodes.loc[a.nodes["category"] != "io", "dtype"]) == {"float16"}
    with pytest.raises(AnalysisError, match="model.to"):
        costmodel.analyze(nn.Conv2d(3, 4, 3), (1, 3, 8, 8), dtype="float16")
    b = costmodel.analyze("resnet18", dtype="bfloat16")
    assert b.totals["bytes"] < costmodel.analyze("resnet18").totals["bytes"]
    with pytest.raises(ValueError, match="float16"):
        costmodel.analyze("resnet18", dtype="int3")
