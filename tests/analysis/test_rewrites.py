"""Lowering rules, each on a tiny model: what a runtime executes instead of the eager graph."""

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from fixtures_models import Dead, ZeroFed

import costmodel
from costmodel.analysis.rewrites import RULES, RUNTIME_RULES, check_runtime
from costmodel.analysis.rewrites.functional import out_of_place


class ConvBnRelu(nn.Module):
    def __init__(self, act=None):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.act = act or nn.ReLU()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


def ops(a):
    return a.ops.set_index("name")


def test_conv_bn_relu_is_one_node_with_the_convs_macs_for_executorch():
    eager = costmodel.analyze(ConvBnRelu(), (1, 3, 8, 8))
    et = costmodel.analyze(ConvBnRelu(), (1, 3, 8, 8), runtime="executorch")
    mac = et.ops[et.ops["category"] == "conv_dense"]
    assert len(mac) == 1
    assert not (et.ops["category"].isin(["batchnorm", "activation"])).any()
    assert mac["macs"].iloc[0] == eager.totals["macs"]
    assert "batchnorm" not in et.by_category.index  # no batch-norm bytes anywhere
    assert mac["sources"].iloc[0] == "conv,bn,act"
    assert "batchnorm" in eager.by_category.index  # the eager table is untouched


def test_bn_stays_when_the_conv_output_has_another_user():
    class Both(ConvBnRelu):
        def forward(self, x):
            y = self.conv(x)
            return self.bn(y) + y

    a = costmodel.analyze(Both(), (1, 3, 8, 8), runtime="onnxruntime")
    assert (a.ops["category"] == "batchnorm").sum() == 1


@pytest.mark.parametrize(
    ("runtime", "act", "fused"),
    [
        ("executorch", nn.ReLU6(), True),  # hardtanh: XNNPACK's output clamp
        ("executorch", nn.Hardswish(), False),
        ("onnxruntime", nn.Sigmoid(), True),  # FusedConv
        ("onnxruntime", nn.Hardswish(), True),  # NCHWc conv applies it
        ("tflite", nn.ReLU6(), True),
        ("tflite", nn.SiLU(), False),
    ],
)
def test_activation_fusion_follows_the_runtime(runtime, act, fused):
    a = costmodel.analyze(ConvBnRelu(act), (1, 3, 8, 8), runtime=runtime)
    assert (a.ops["category"] == "activation").any() != fused


class AddRelu(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Conv2d(3, 4, 1), nn.Conv2d(3, 4, 1)

    def forward(self, x):
        return torch.relu(self.a(x) + self.b(x))


def test_relu_after_add_fuses_into_the_add_for_tflite_not_onnxruntime():
    tfl = costmodel.analyze(AddRelu(), (1, 3, 8, 8), runtime="tflite")
    ort = costmodel.analyze(AddRelu(), (1, 3, 8, 8), runtime="onnxruntime")
    assert "activation" not in set(tfl.ops["category"])
    assert ops(tfl).loc["add", "sources"] == "add,relu"
    assert "activation" in set(ort.ops["category"])


class Residual(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.stem = nn.Conv2d(c, c, 1)
        self.conv, self.bn = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)

    def forward(self, x):
        x = self.stem(x)
        return torch.relu(self.bn(self.conv(torch.relu(x))) + x)


@pytest.mark.parametrize(("channels", "fused"), [(16, True), (12, False)])
def test_onnxruntime_nchwc_conv_takes_the_residual_add_and_relu(channels, fused):
    a = costmodel.analyze(Residual(channels), (1, channels, 8, 8), runtime="onnxruntime")
    rows = ops(a)
    assert ("add" in rows.index) != fused  # whole blocks of 8 channels: Conv(nchwc+Sum)
    if fused:
        assert rows.loc["conv", "sources"] == "conv,bn,add,relu_1"
        assert set(rows.loc["conv", "inputs"].split(",")) == {"relu", "stem"}  # Sum input
        assert list(a.ops["category"]) == ["conv_pointwise", "activation", "conv_dense"]
    eager = costmodel.analyze(Residual(channels), (1, channels, 8, 8))
    assert a.totals["macs"] == eager.totals["macs"]
    assert "add" in ops(costmodel.analyze(Residual(16), (1, 16, 8, 8), runtime="executorch")).index


class TwoEdges(nn.Module):
    """Two edges apply a ReLU (separate modules) and two an average pool to the same tensor,
    as NAS-Bench-201 cells do; the convs after them have weights of their own."""

    def __init__(self, c=8):
        super().__init__()
        self.relu_a, self.relu_b = nn.ReLU(), nn.ReLU()
        self.conv_a, self.conv_b = nn.Conv2d(c, c, 3, padding=1), nn.Conv2d(c, c, 3, padding=1)
        self.pool_a, self.pool_b = nn.AvgPool2d(3, 1, 1), nn.AvgPool2d(3, 1, 1)
        self.pool_c = nn.AvgPool2d(3, 2, 1)  # other attributes: another computation

    def forward(self, x):
        a, b = self.conv_a(self.relu_a(x)), self.conv_b(self.relu_b(x))
        return a * b + self.pool_a(a) * self.pool_b(a) + self.pool_c(a).mean()


def test_onnxruntime_computes_common_subexpressions_once():
    a = costmodel.analyze(TwoEdges(), (1, 8, 8, 8), runtime="onnxruntime")
    rows = ops(a)
    assert "relu_b" not in rows.index and rows.loc["relu_a", "sources"] == "relu_a,relu_b"
    assert set(rows.loc["conv_b", "inputs"].split(",")) == {"relu_a"}  # reads the kept ReLU
    assert {"conv_a", "conv_b", "pool_c"} <= set(rows.index)  # weights, attributes differ
    assert "pool_b" not in rows.index and rows.loc["pool_a", "sources"] == "pool_a,pool_b"
    assert any("cse changed 2" in n for n in a.notes)
    for runtime in ("eager", "executorch", "tflite"):  # only ONNX Runtime merges them here
        other = costmodel.analyze(TwoEdges(), (1, 8, 8, 8), runtime=runtime)
        assert {"relu_b", "pool_b"} <= set(ops(other).index)


def test_in_place_ops_are_never_merged():
    class InPlace(nn.Module):
        def forward(self, x):
            y = x + 1
            y.mul_(2)  # the second reads what the first wrote: x * 4, not x * 2 twice
            y.mul_(2)
            return y

    rows = ops(costmodel.analyze(InPlace(), (1, 8, 4, 4), runtime="onnxruntime"))
    assert (rows["category"] == "elementwise").sum() == 3


@pytest.mark.parametrize("runtime", ["executorch", "onnxruntime", "tflite"])
def test_exported_graphs_run_in_place_ops_out_of_place(runtime):
    """An export is functional: SiLU(inplace=True) runs the kernel of silu; eager keeps silu_."""
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.SiLU(inplace=True), nn.Hardswish())
    eager = ops(costmodel.analyze(model, (1, 3, 8, 8)))
    lowered = ops(costmodel.analyze(model, (1, 3, 8, 8), runtime=runtime))
    act = lowered[lowered["category"] == "activation"]
    assert act["aten_ops"].tolist() == ["aten.silu", "aten.hardswish"]
    assert eager.loc[act.index, "aten_ops"].tolist() == ["aten.silu_", "aten.hardswish"]
    for col in ("flops", "act_bytes_read", "bytes_written"):  # only the name changes
        assert act[col].tolist() == eager.loc[act.index, col].tolist()
    assert [out_of_place(o) for o in ("aten.relu_", "aten.__and__", "aten.add", "")] == [
        "aten.relu", "aten.__and__", "aten.add", ""
    ]  # fmt: skip


def test_onnxruntime_fuses_the_relu_of_a_standalone_batch_norm():
    bn_relu = nn.Sequential(nn.BatchNorm2d(8), nn.ReLU())
    a = costmodel.analyze(bn_relu, (1, 8, 4, 4), runtime="onnxruntime")
    assert list(a.ops["category"]) == ["batchnorm"] and a.ops["sources"].iloc[0] == "_0,_1"


def test_dead_branches_are_removed_for_tflite_and_kept_where_they_run():
    a = costmodel.analyze(Dead(), (1, 4, 8, 8), runtime="tflite")
    assert "conv_b" not in set(a.ops["name"]) and "add" not in set(a.ops["name"])
    assert a.totals["macs"] == costmodel.analyze(Dead(), (1, 4, 8, 8)).totals["macs"] // 2
    for runtime in ("executorch", "onnxruntime"):  # x * 0 of a live tensor is executed
        assert "conv_b" in set(costmodel.analyze(Dead(), (1, 4, 8, 8), runtime=runtime).ops["name"])


def test_tflite_folds_a_zero_but_runs_the_ops_that_read_it():
    a = costmodel.analyze(ZeroFed(), (1, 4, 8, 8), runtime="tflite")
    assert set(a.ops["name"]) == {"conv_a", "conv_b", "add"}  # the x * 0 alone is gone
    assert a.totals["macs"] == costmodel.analyze(ZeroFed(), (1, 4, 8, 8)).totals["macs"]
    pruned = costmodel.analyze(ZeroFed(), (1, 4, 8, 8), prune_dead=True)  # folds through ops
    assert set(pruned.ops["name"]) == {"conv_a"}


def test_tflite_folds_a_network_whose_output_has_no_input_dependent_value():
    disconnected = "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|nor_conv_3x3~2|"
    assert costmodel.analyze(f"nb201:{disconnected}", runtime="tflite").totals["nodes"] == 0
    zero_fed = "|none~0|+|skip_connect~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"
    a = costmodel.analyze(f"nb201:{zero_fed}", runtime="tflite")
    on_edge = a.ops["module"].str.contains(".edges.edge_1_2.", regex=False)
    assert (on_edge & (a.ops["category"] == "conv_dense")).sum() == 15  # one per cell, it runs
    pruned = costmodel.analyze(f"nb201:{zero_fed}", prune_dead=True)
    assert not pruned.ops["module"].str.contains(".edges.edge_1_2.", regex=False).any()


class Free(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(16, 4)
        self.drop, self.id = nn.Dropout(0.5), nn.Identity()

    def forward(self, x):
        return self.fc(self.id(self.drop(x.view(x.size(0), -1))))


def test_identity_dropout_views_and_size_arithmetic_are_dropped():
    eager = costmodel.analyze(Free(), (2, 4, 2, 2))
    a = costmodel.analyze(Free(), (2, 4, 2, 2), runtime="onnxruntime")
    assert {"drop", "view", "size"} <= set(eager.ops["name"])
    assert list(a.ops["name"]) == ["fc"]
    assert ops(a).loc["fc", "inputs"] == "x"  # rewired past the dropped nodes
    assert a.totals["macs"] == eager.totals["macs"]


def test_executorch_adds_nhwc_layout_copies_at_the_region_boundaries():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)
            self.fc = nn.Linear(4 * 8 * 8, 2)

        def forward(self, x):
            return self.fc(torch.relu(self.conv(x)).flatten(1))

    a = costmodel.analyze(Net(), (1, 3, 8, 8), runtime="executorch")
    copies = a.ops[a.ops["target"] == "layout_copy"]
    # graph input -> NHWC before the conv; NHWC -> NCHW before flattening for the linear layer
    assert len(copies) == 2
    assert list(copies["bytes_written"]) == [3 * 8 * 8 * 4, 4 * 8 * 8 * 4]
    assert (copies["act_bytes_read"] == copies["bytes_written"]).all()
    assert list(a.ops["category"]) == ["copy", "conv_dense", "copy", "linear"]
    onnx = costmodel.analyze(Net(), (1, 3, 8, 8), runtime="onnxruntime")
    assert not (onnx.ops["target"] == "layout_copy").any()


def test_every_runtime_names_registered_rules_and_eager_is_untouched():
    for rules in RUNTIME_RULES.values():
        assert set(rules) <= set(RULES)
    assert RUNTIME_RULES["eager"] == ()
    a = costmodel.analyze(ConvBnRelu(), (1, 3, 8, 8), runtime="eager")
    assert (a.nodes["sources"] == a.nodes["name"]).all()
    with pytest.raises(ValueError, match="unknown runtime 'tvm'"):
        check_runtime("tvm")


class Fallbacks(nn.Module):
    """Ops XNNPACK takes next to the variants it leaves to ExecuTorch's portable kernels."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.pool = nn.AvgPool2d(3, 1, 1)  # counts its zero padding: portable
        self.norm = nn.LayerNorm(16)  # no XNNPACK kernel: portable

    def forward(self, x):
        x = self.pool(self.conv(x))
        a, b = torch.chunk(x, 2, 1)  # split_with_sizes_copy: portable
        x = torch.cat([a, b], 1)
        y = F.avg_pool2d(x, 3, 1, 1, count_include_pad=False) + F.max_pool2d(x, 3, 1, 1)
        y = y + y.mean((2, 3), keepdim=True)  # global average pool: delegated
        z = self.norm(y.flatten(2)[..., :16]).mean(-1)  # mean over the last dim: portable
        return z + y.mean((2, 3))[:, :1]  # not kept: portable


def test_executorch_marks_the_ops_xnnpack_leaves_to_portable_kernels():
    a = costmodel.analyze(Fallbacks(), (1, 3, 16, 16), runtime="executorch")
    portable = a.ops[a.ops["category"].isin(["portable", "portable_window"])]
    assert sorted(portable["name"]) == ["chunk", "mean_1", "mean_2", "norm", "pool"]
    n = ops(a)
    # a windowed op keeps its own category (its plain loops are far slower per FLOP)
    assert n.loc["pool", "category"] == "portable_window"
    assert n.loc["pool", "aten_ops"] == "aten.avg_pool2d"
    assert n.loc["pool", "flops"] == 8 * 16 * 16 * 9  # its counts are the op's own
    assert n.loc["avg_pool2d", "category"] == "pooling"  # count_include_pad=False: XNNPACK
    assert n.loc["mean", "category"] == "reduction"  # over H and W, kept: XNNPACK
    assert n.loc["getitem_2", "category"] == "split"  # a slice: XNNPACK
    # the split is the copy the portable kernel makes of its input
    assert n.loc["chunk", "bytes_written"] == n.loc["chunk", "act_bytes_read"] == 8 * 16 * 16 * 4
    # a portable op breaks the NHWC region: converted back to NCHW before the pool
    assert n.loc["pool", "inputs"] == "conv_layout_0"
    assert n.loc["conv_layout_0", "target"] == "layout_copy"
    for runtime in ("eager", "onnxruntime", "tflite"):
        lowered = costmodel.analyze(Fallbacks(), (1, 3, 16, 16), runtime=runtime)
        assert not lowered.ops["category"].str.startswith("portable").any()


def test_executorch_runs_a_depthwise_conv_beyond_5x5_as_a_grouped_conv():
    model = nn.Sequential(
        nn.Conv2d(8, 8, 3, padding=1, groups=8),
        nn.Conv2d(8, 8, 5, padding=2, groups=8),
        nn.Conv2d(8, 8, 7, padding=3, groups=8),
        nn.Conv2d(8, 8, (1, 7), padding=(0, 3), groups=8),  # 7 taps: a depthwise kernel
    )
    eager = costmodel.analyze(model, (1, 8, 16, 16)).ops.set_index("module")
    et = costmodel.analyze(model, (1, 8, 16, 16), runtime="executorch").ops
    et = et[et["target"] == "Conv2d"].set_index("module")
    assert et["category"].to_dict() == {
        "0": "conv_depthwise", "1": "conv_depthwise", "2": "conv_grouped", "3": "conv_depthwise"
    }  # fmt: skip
    # only the category changes: the counts are the convolution's own
    for col in ("macs", "flops", "bytes_written", "groups"):
        assert et.loc["2", col] == eager.loc["2", col]
    for runtime in ("eager", "onnxruntime", "tflite"):
        lowered = costmodel.analyze(model, (1, 8, 16, 16), runtime=runtime).ops
        assert (lowered.loc[lowered["target"] == "Conv2d", "category"] == "conv_depthwise").all()


def test_portable_ops_match_the_xnnpack_partitioner_on_a_real_export():
    pytest.importorskip("executorch.exir", reason="pip install 'costmodel[executorch]'")
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    model, x = Fallbacks().eval(), torch.randn(1, 3, 16, 16)
    edge = to_edge_transform_and_lower(
        torch.export.export(model, (x,)), partitioner=[XnnpackPartitioner()]
    )
    # ops outside the delegate, by ATen name (the dim-order copies at the output are not ops
    # of the model; split_with_sizes_copy is how export spells a chunk)
    left = sorted(
        str(n.target).split(">")[0].split(": ")[-1].split(".")[1].replace("_with_sizes_copy", "")
        for n in edge.exported_program().graph.nodes
        if n.op == "call_function"
        and "call_delegate" not in str(n.target)
        and "getitem" not in str(n.target)
        and "dim_order" not in str(n.target)
    )
    a = costmodel.analyze(model, tuple(x.shape), runtime="executorch")
    ours = sorted(
        op.split(".")[1]
        for op in a.ops.loc[a.ops["category"].str.startswith("portable"), "aten_ops"]
    )
    assert ours == left
