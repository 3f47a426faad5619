"""Per-op timings from ONNX Runtime's profiler, mapped to the lowered node table.

Tiny models are exported and profiled for real; the mapping's structure is asserted (which
lowered row got which ORT nodes, nothing dropped or counted twice), never timing values. The
tests are skipped when the onnxruntime extra is not installed."""

import warnings

import pandas as pd
import pytest
import torch
import torch.nn as nn
from fixtures_models import Concat, ConvBnRelu, Head, Residual

from costmodel.analysis.capture import eval_mode
from costmodel.bench.ort_ops import (
    LAYOUT_OPS,
    METHOD,
    map_nodes,
    measure_overhead,
    node_tables,
    profile_onnx,
    scopes,
)
from costmodel.bench.profiler import BETWEEN, UNMAPPED
from costmodel.bench.store import OPS_COLUMNS

pytest.importorskip("onnxruntime", reason="pip install 'costmodel[onnxruntime]'")
pytest.importorskip("onnx", reason="pip install 'costmodel[onnxruntime]'")

SHAPE = (1, 4, 8, 8)


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("COSTMODEL_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _profile(model, tmp_path, whole_us=None, overhead_us=0.0, shape=SHAPE):
    from costmodel.bench.runtimes.onnxruntime import RUNTIME

    model.eval()
    x = torch.randn(shape)
    path = tmp_path / "model.onnx"
    with eval_mode(model), torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation warnings
        RUNTIME.export(model, x, path)
    lowered, eager = node_tables(model, shape)
    result = profile_onnx(
        path, x, 1, lowered, runs=2, warmup=1, eager=eager, whole_us=whole_us,
        overhead_us=overhead_us,
    )  # fmt: skip
    ops = lowered[lowered["op"].isin(["call_module", "call_function", "call_method"])]
    return result, ops


def _rows(result):
    return result.rows.set_index("node")


def _nothing_twice(result):
    """Every ORT node is in exactly one place: a lowered row or the unmapped sum."""
    assert result.ort["name"].is_unique
    mapped = result.ort[result.ort["node"] != ""]
    assert set(mapped["node"]) == set(result.rows["node"])
    total = result.rows["latency_us"].sum() + result.unmapped_us
    assert total == pytest.approx(result.total_us)
    rows = pd.DataFrame(result.ops_rows("m", board="b", threads=1, onednn=False))
    ops = rows[~rows["node"].isin([BETWEEN])]
    assert ops["latency_us"].sum() == pytest.approx(result.total_us)
    layout = result.ort[result.ort["op"].isin(LAYOUT_OPS)]
    assert (layout["node"] == "").all()  # ORT's NCHWc reorders: never an op row's
    if len(layout):
        assert "Reorder" in rows.set_index("node").at[UNMAPPED, "children"]


def test_conv_bn_relu_is_one_fused_row(tmp_path):
    result, ops = _profile(ConvBnRelu(), tmp_path)
    assert list(ops["name"]) == ["conv"]  # the lowering folded bn and fused relu
    assert list(result.rows["node"]) == ["conv"] and result.missing == []
    kinds = set(_rows(result).at["conv", "children"])
    assert kinds <= {"FusedConv", "Conv", "Conv(nchwc)"} and kinds
    assert not (result.ort["op"] == "Relu").any()  # ORT fused it too: nothing left over
    _nothing_twice(result)


def test_residual_add_and_relu_get_their_own_rows(tmp_path):
    result, ops = _profile(Residual(), tmp_path)
    rows = _rows(result)
    assert result.missing == [] and set(rows.index) == set(ops["name"])
    add = [n for n in ops["name"] if ops.set_index("name").at[n, "category"] == "elementwise"]
    assert len(add) == 1 and set(rows.at[add[0], "children"]) == {"Add"}
    assert set(rows.at["relu", "children"]) == {"Relu"}
    assert rows.at["block_0", "category"].startswith("conv")
    _nothing_twice(result)


def test_concat_and_both_branches(tmp_path):
    result, ops = _profile(Concat(), tmp_path)
    rows = _rows(result)
    assert result.missing == [] and set(rows.index) == {"a", "b", "cat"}
    assert set(rows.at["cat", "children"]) == {"Concat"}
    _nothing_twice(result)


def test_linear_head_and_a_dropped_view_is_unmapped_not_guessed(tmp_path):
    result, ops = _profile(Head(), tmp_path, whole_us=1e6)
    rows = _rows(result)
    assert result.missing == [] and set(rows.index) == set(ops["name"])
    assert rows.at["fc", "category"] == "linear"
    assert "flatten" not in set(ops["name"])  # a zero-copy view: the lowering dropped it
    flatten = result.ort[result.ort["op"].isin(["Flatten", "Reshape"])]
    assert (flatten["node"] == "").all()  # ...so ORT's Flatten kernel belongs to no row
    out = pd.DataFrame(result.ops_rows("m", board="b", threads=1, onednn=False))
    assert list(out.columns) == list(OPS_COLUMNS) and set(out["method"]) == {METHOD}
    if len(flatten):
        unmapped = out.set_index("node").loc[UNMAPPED]
        assert unmapped["category"] == "unmapped" and "Flatten" in unmapped["children"]
    between = out.set_index("node").loc[BETWEEN, "latency_us"]
    assert between == pytest.approx(1e6 - result.total_us)
    assert result.coverage == pytest.approx(result.total_us / 1e6)
    _nothing_twice(result)


class Cell(nn.Module):
    """A NAS-Bench-201 cell after a stem conv: node 2 = conv(relu(x)) + pool(node 1) and
    node 3 = x + pool(node 1) + conv(relu(node 2)); the two pools and the two ReLUs of x are
    one each. (With whole NCHWc blocks everywhere: ORT adds a Sum to a conv only when the other
    input is in its blocked layout, not the graph input.)"""

    def __init__(self, c: int = 16) -> None:
        super().__init__()
        self.stem = nn.Conv2d(c, c, 1)
        self.relu_01, self.relu_02, self.relu_23 = nn.ReLU(), nn.ReLU(), nn.ReLU()
        self.conv_01, self.conv_02 = nn.Conv2d(c, c, 3, padding=1), nn.Conv2d(c, c, 1)
        self.conv_23 = nn.Conv2d(c, c, 3, padding=1)
        self.pool_12, self.pool_13 = nn.AvgPool2d(3, 1, 1), nn.AvgPool2d(3, 1, 1)

    def forward(self, x):
        x = self.stem(x)
        n1 = self.conv_01(self.relu_01(x))
        n2 = self.conv_02(self.relu_02(x)) + self.pool_12(n1)
        return x + self.pool_13(n1) + self.conv_23(self.relu_23(n2))


def test_a_cell_with_common_subexpressions_and_fused_sums(tmp_path):
    result, ops = _profile(Cell(), tmp_path, shape=(1, 16, 16, 16))
    rows = _rows(result)
    lowered = ops.set_index("name")
    assert result.missing == [] and set(rows.index) == set(ops["name"])  # every row timed
    assert "relu_02" in lowered.at["relu_01", "sources"].split(",")  # one ReLU of x
    standing = [n for n in ops["name"] if lowered.at[n, "category"] == "elementwise"]
    assert len(standing) == 1  # x + pool: the other two adds run inside convolutions
    # ORT's one Add node is that add's, not the first add of the cell (fused into conv_02)
    assert set(rows.at[standing[0], "children"]) == {"Add"}
    assert "Add" not in set(rows.at["conv_02", "children"])
    _nothing_twice(result)


def test_the_profilers_own_cost_is_measured_and_subtracted(tmp_path):
    overhead = measure_overhead(1)
    assert overhead >= 0.0 and measure_overhead(1) == overhead  # cached
    result, _ = _profile(Residual(), tmp_path, overhead_us=1.0)
    ort = result.ort
    assert (ort["latency_us"] == (ort["raw_us"] - 1.0).clip(lower=0.0)).all()
    assert result.overhead_us == 1.0
    _nothing_twice(result)


def test_scopes_come_from_names_then_outputs():
    assert scopes("/layer1/layer1.0/conv1/Conv") == [["layer1", "layer1.0", "conv1"]]
    assert scopes("/Add_1") == [[]]
    assert scopes("reorder_token_3") == []
    assert scopes("10_nchwc", ["10_nchwc"], ["/relu/Relu"]) == [["relu"]]  # a graph output
    assert scopes("/stem/stem.2/Mul/QuickGeluFusion/") == [
        ["stem", "stem.2", "Mul", "QuickGeluFusion"]
    ]
    assert scopes("LayerNormalization", ["/blocks/blocks.0/norm1/Add_1_output_0"]) == [
        ["blocks", "blocks.0", "norm1"]
    ]


def test_layout_scaffolding_and_unscoped_nodes_go_to_no_row():
    lowered, eager = node_tables(Residual().eval(), SHAPE)
    ort = pd.DataFrame(
        {
            "name": [
                "/block/block.0/Conv",
                "reorder_in",
                "/Shape",
                "mystery_token_1",
                "/Add",
                "/relu/Relu",
                "/relu_1/Relu",
            ],
            "op": ["FusedConv", "ReorderInput", "Shape", "Conv", "Add", "Relu", "Relu"],
            "provider": ["CPUExecutionProvider"] * 7,
            "latency_us": [5.0, 1.0, 1.0, 1.0, 2.0, 1.0, 1.0],
            "order": range(7),
        }
    )
    got = map_nodes(ort, lowered, eager).set_index("name")
    assert got.at["/block/block.0/Conv", "node"] == "block_0"
    assert got.at["/Add", "node"] == "add"
    assert got.at["/relu/Relu", "node"] == "relu"
    assert got.at["/relu_1/Relu", "node"] == "relu"  # a second call of a called-once module
    reasons = got["reason"].to_dict()
    assert reasons["reorder_in"] == "layout" and reasons["/Shape"] == "scaffolding"
    assert reasons["mystery_token_1"] == "no scope"
    assert (got.loc[["reorder_in", "/Shape", "mystery_token_1"], "node"] == "").all()
