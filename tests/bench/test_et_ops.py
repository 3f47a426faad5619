"""Per-op timings from ExecuTorch's ETDump, aligned with the lowered node table.

The alignment is checked on event sequences written out (what XNNPACK reports for the layers
named), and tiny models are exported and profiled for real: which lowered row got which
kernels, nothing dropped or counted twice, never timing values. The real runs are skipped
when the executorch extra is not installed."""

import math
import warnings

import pandas as pd
import pytest
import torch
import torch.nn as nn
from fixtures_models import Concat, ConvBnRelu, Head, Residual

from costmodel.analysis.capture import eval_mode
from costmodel.bench.et_ops import (
    METHOD,
    align,
    computes,
    kernel_us,
    kind,
    label,
    node_table,
    profile_pte,
)
from costmodel.bench.profiler import BETWEEN, UNMAPPED
from costmodel.bench.store import OPS_COLUMNS

SHAPE = (1, 4, 8, 8)


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("COSTMODEL_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _rows(*rows: tuple[str, str, str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["name", "category", "sources"])


def test_event_kinds_and_labels():
    assert kind("Convolution (NHWC, F32) IGEMM #12") == "Convolution"
    assert label("Convolution (NHWC, F32) IGEMM #12") == "Convolution/IGEMM"
    assert kind("Copy (NC, X32) #1") == label("Copy (NC, X32) #1") == "Copy"
    assert kind("native_call_avg_pool2d.out") == label("native_call_avg_pool2d.out")
    assert kind("native_call_avg_pool2d.out") == "native:avg_pool2d"
    assert "portable_window" in computes("native:avg_pool2d")
    assert "portable" in computes("native:mean")
    assert "portable_window" not in computes("native:mean")
    assert computes("Fully Connected") >= {"conv_pointwise", "linear"}
    assert computes("No Such Operator") == frozenset()


def test_align_a_residual_block_add_and_its_relu_run_apart():
    # resnet's basic block: XNNPACK runs the add and the ReLU the lowering fused into it apart
    rows = _rows(
        ("x_layout", "copy", "x_layout"),
        ("conv1", "conv_dense", "conv1,bn1,relu1"),
        ("conv2", "conv_dense", "conv2,bn2"),
        ("add", "elementwise", "add,relu"),
        ("fc", "linear", "fc"),
    )
    kinds = ["Transpose", "Convolution", "Convolution", "Add", "Clamp", "Static Reshape"]
    kinds += ["Fully Connected"]
    got = align(kinds, rows)
    assert [j for j, _ in got] == [0, 1, 2, 3, 3, None, 4]
    assert got[4][1] == "part" and got[5] == (None, "no row of its kind in order")


def test_align_silu_runs_as_sigmoid_and_multiply_and_a_fused_activation_may_be_missing():
    rows = _rows(
        ("conv", "conv_pointwise", "conv,bn"),
        ("act", "activation", "act"),
        ("bn2", "batchnorm", "bn2"),
        ("relu2", "activation", "relu2"),
        ("conv2", "conv_dense", "conv2"),
    )
    # SiLU: Sigmoid + Multiply; a lone batch norm as a depthwise conv with its ReLU fused in
    kinds = ["Fully Connected", "Sigmoid", "Multiply", "Convolution", "Convolution"]
    got = align(kinds, rows)
    assert [j for j, _ in got] == [0, 1, 1, 2, 4]


def test_align_a_portable_op_run_before_the_code_order_goes_out_of_order():
    # inception: the partitioner runs the portable average pool before the delegated branch
    rows = _rows(
        ("b1", "conv_pointwise", "b1"),
        ("pool", "portable_window", "pool"),
        ("pool_conv", "conv_pointwise", "pool_conv"),
        ("cat", "concat", "cat"),
    )
    kinds = ["native:avg_pool2d", "Fully Connected", "Fully Connected", "Copy"]
    got = align(kinds, rows)
    assert [j for j, _ in got] == [1, 0, 2, 3] or [j for j, _ in got] == [1, 2, 0, 3]
    assert {why for _, why in got} <= {"match", "out of order"}
    assert sorted(j for j, _ in got) == [0, 1, 2, 3]  # each row once, nothing unmapped


def test_a_portable_pool_never_takes_a_delegated_pools_row():
    # inceptionv3's reduction block: a delegated max pool in the code's order, the portable
    # (zero-padded) average pool run later; the portable kernel must not take the first row
    rows = _rows(
        ("maxpool", "pooling", "maxpool"),
        ("b1", "conv_pointwise", "b1"),
        ("apool", "portable_window", "apool"),
    )
    kinds = ["native:avg_pool2d", "Max Pooling", "Fully Connected"]
    got = align(kinds, rows)
    assert [j for j, _ in got] == [2, 0, 1]
    assert "pooling" not in computes("native:avg_pool2d")
    assert "pooling" not in computes("native:max_pool2d")


def test_kernel_times_are_read_in_ms_on_a_microsecond_clock():
    # a 0.4 us kernel reads 0 or 1 us (ETDump writes ms); the median would say 0
    assert kernel_us([0.0] * 6 + [1e-3] * 4) == pytest.approx(0.375)
    assert kernel_us([0.012, 0.013, 0.011, 0.5]) == pytest.approx(12.5)


# ------------------------------------------------------------------------- real ETDump runs


def _et():
    pytest.importorskip("executorch.runtime", reason="pip install 'costmodel[executorch]'")
    from costmodel.bench.runtimes.executorch import RUNTIME

    return RUNTIME


def _profile(model, tmp_path, whole_us=None):
    runtime = _et()
    model.eval()
    x = torch.randn(SHAPE)
    path = tmp_path / "model.pte"
    with eval_mode(model), torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        runtime.export(model, x, path)
    lowered = node_table(model, SHAPE)
    return profile_pte(path, x, 1, lowered, runs=2, warmup=1, whole_us=whole_us), lowered


def test_conv_bn_relu_is_one_convolution_between_the_layout_copies(tmp_path):
    result, lowered = _profile(ConvBnRelu(), tmp_path)
    by_node = result.events.groupby("node")["label"].apply(list).to_dict()
    conv = lowered.loc[lowered["target"] == "Conv2d", "name"].item()
    assert by_node[conv] == ["Convolution/IGEMM"]  # batch norm folded, ReLU fused: one kernel
    layouts = lowered.loc[lowered["target"] == "layout_copy", "name"]
    assert all(by_node[n] == ["Transpose"] for n in layouts)  # NCHW <-> NHWC around the delegate
    # every kernel went to a row (structure: a fast machine times these kernels at 0 us)
    assert (result.events["node"] != "").all() and not result.missing
    assert math.isfinite(result.profiled_run_us)  # Method::execute, around the kernels


def test_a_7x7_depthwise_conv_runs_xnnpacks_grouped_kernel_as_lowered(tmp_path):
    # the lowering's kernel choice (dwconv_igemm_xnnpack) against the kernel XNNPACK ran
    model = nn.Sequential(
        nn.Conv2d(4, 4, 5, padding=2, groups=4), nn.Conv2d(4, 4, 7, padding=3, groups=4)
    )
    result, lowered = _profile(model, tmp_path)
    by_node = result.events.groupby("node")["label"].apply(list).to_dict()
    convs = lowered[lowered["target"] == "Conv2d"].set_index("kernel")
    assert convs.loc["5x5", "category"] == "conv_depthwise"
    assert by_node[convs.loc["5x5", "name"]] == ["Convolution/DWConv"]
    assert convs.loc["7x7", "category"] == "conv_grouped"
    assert by_node[convs.loc["7x7", "name"]] == ["Convolution/IGEMM"]


def test_residual_concat_and_head(tmp_path):
    result, lowered = _profile(nn.Sequential(Residual(), Concat(), Head()), tmp_path)
    got = result.events
    assert set(got.loc[got["label"] == "Add", "node"]) <= set(lowered["name"])
    cat = lowered.loc[lowered["category"] == "concat", "name"].item()
    assert "Copy" in set(got.loc[got["node"] == cat, "label"])
    fc = lowered.loc[lowered["target"] == "Linear", "name"].item()
    assert got.loc[got["node"] == fc, "label"].tolist() == ["Fully Connected/GEMM"]
    # the flatten the lowering dropped still runs as a reshape: unmapped, not guessed
    assert (got.loc[got["label"] == "Static Reshape", "node"] == "").all()
    # every kernel counted once: the rows and the unmapped row sum to all the events
    assert result.rows["latency_us"].sum() + result.unmapped_us == pytest.approx(result.total_us)


def test_ops_rows_name_the_method_and_add_between_and_unmapped(tmp_path):
    result, _ = _profile(nn.Sequential(ConvBnRelu(), Head()), tmp_path, whole_us=1e6)
    rows = pd.DataFrame(result.ops_rows("m", board="b", threads=1, onednn=True))
    assert list(rows.columns) == list(OPS_COLUMNS)
    assert set(rows["method"]) == {METHOD} and set(rows["model"]) == {"m"}
    between = rows.loc[rows["node"] == BETWEEN, "latency_us"].item()
    assert between == pytest.approx(1e6 - result.total_us)
    assert UNMAPPED in set(rows["node"])  # the flatten's reshape
