"""NAS-Bench-201 builder: reference MACs and parameters, cell structure, live edges, bad strings.

The reference rows come from tests/zoo/data/nb201_reference_sample.csv (a committed sample of the
HELP / HW-NAS-Bench table; see the README there), so the tests need no data outside the repo.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
import torch.fx
from torch.utils.flop_counter import FlopCounterMode

import costmodel.zoo as zoo
from costmodel.zoo import nb201
from costmodel.zoo.nb201 import (
    EDGES,
    build_nb201,
    input_size,
    is_output_connected,
    live_edges,
    parse_arch,
)

DATA = Path(__file__).parent / "data" / "nb201_reference_sample.csv"

ARCH0 = (
    "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|"
    "+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"
)
ALL_3X3 = (
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|"
    "+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
)
# node 1 is a conv whose result only feeds `none` edges: dead, but still built and executed
DEAD_CONV = "|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"


def reference_rows() -> list[dict[str, str]]:
    with DATA.open() as f:
        return list(csv.DictReader(line for line in f if not line.startswith("#")))


def nb201_macs(model: torch.nn.Module, size: int) -> float:
    """NAS-Bench-201 convention, in millions: conv + linear MACs plus the linear bias.

    Counted on the meta device (shapes only, no arithmetic), which keeps the tests fast."""
    model = model.to("meta").eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.randn(1, 3, size, size, device="meta"))
    return (counter.get_total_flops() / 2 + model.classifier.out_features) / 1e6


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_reference_sample_is_complete():
    rows = reference_rows()
    assert len(rows) >= 30
    assert {"index", "arch_str", "flops_M_cifar10", "params_M_cifar10"} <= set(rows[0])
    assert any(r["output_connected"] == "False" for r in rows)


@pytest.mark.parametrize("row", reference_rows(), ids=lambda r: f"index{r['index']}")
def test_macs_and_params_match_reference_table(row):
    with torch.device("meta"):
        model = build_nb201(row["arch_str"])
    # the table has 6 significant digits
    assert nb201_macs(model, 32) == pytest.approx(float(row["flops_M_cifar10"]), rel=1e-5)
    assert n_params(model) / 1e6 == pytest.approx(float(row["params_M_cifar10"]), rel=1e-5)
    assert is_output_connected(row["arch_str"]) == (row["output_connected"] == "True")


@pytest.mark.parametrize(
    "dataset, size, macs_m",
    [("cifar10", 32, 15.64737), ("cifar100", 32, 15.65322), ("imagenet16", 16, 3.91948)],
)
def test_index0_reference_values(dataset, size, macs_m):
    assert input_size(dataset) == size
    model = zoo.build(f"nb201:{ARCH0}?dataset={dataset}")
    assert zoo.input_shape(f"nb201:{ARCH0}?dataset={dataset}") == (1, 3, size, size)
    assert nb201_macs(model, size) == pytest.approx(macs_m, abs=1e-5)


def test_all_conv3x3_reference_values():
    model = build_nb201(ALL_3X3)
    assert nb201_macs(model, 32) == pytest.approx(220.11969, abs=1e-5)
    assert n_params(model) == 1_531_546


def test_dataset_heads_and_forward():
    for dataset, classes in [("cifar10", 10), ("cifar100", 100), ("imagenet16", 120)]:
        assert build_nb201(ALL_3X3, dataset=dataset).classifier.out_features == classes
    model = zoo.build(f"nb201:{ARCH0}?dataset=imagenet16")
    with torch.no_grad():
        assert model(torch.randn(1, 3, 16, 16)).shape == (1, 120)
    with pytest.raises(ValueError, match="unknown NAS-Bench-201 dataset"):
        build_nb201(ARCH0, dataset="imagenet")
    with pytest.raises(ValueError, match="dataset"):
        zoo.parse(f"nb201:{ARCH0}?dataset=svhn")
    with pytest.raises(ValueError, match="unknown parameter"):
        zoo.parse(f"nb201:{ARCH0}?num_classes=7")


def test_macro_skeleton():
    model = build_nb201(ARCH0)
    assert model.training  # callers put it in eval mode
    assert len(model.cells) == 17
    kinds = [type(m).__name__ for m in model.cells]
    assert (
        kinds
        == ["Cell"] * 5
        + ["ResidualReduction"]
        + ["Cell"] * 5
        + ["ResidualReduction"]
        + ["Cell"] * 5
    )
    assert [c.in_channels for c in (model.stem[0], model.cells[11].conv_a[1])] == [3, 32]
    reduction = model.cells[5]
    pool, conv = reduction.downsample
    assert isinstance(pool, torch.nn.AvgPool2d) and conv.kernel_size == (1, 1)
    assert conv.bias is None and len(reduction.downsample) == 2  # no BN, no ReLU on the shortcut
    assert reduction.conv_a[1].stride == (2, 2)
    assert model.classifier.in_features == 64 and model.classifier.bias is not None


def test_every_edge_is_its_own_module_with_the_right_op():
    model = build_nb201(DEAD_CONV)
    cell = model.cells[0]
    assert list(cell.edges) == [nb201.edge_name(s, d) for s, d in EDGES]
    expected = {
        "none": nb201.Zero,
        "skip_connect": torch.nn.Identity,
        "nor_conv_3x3": nb201.ReLUConvBN,
    }
    for (s, d), op in nb201.arch_edges(DEAD_CONV).items():
        module = cell.edges[nb201.edge_name(s, d)]
        assert isinstance(module, expected[op])
    relu = cell.edges["edge_0_1"][0]
    assert isinstance(relu, torch.nn.ReLU) and not relu.inplace  # the cell input is shared


def test_dead_edges_are_built_and_executed():
    model = build_nb201(DEAD_CONV)
    assert live_edges(DEAD_CONV) == [(0, 3)]
    graph = torch.fx.symbolic_trace(model).graph
    called = {n.target for n in graph.nodes if n.op == "call_module"}
    for i in (0, 6, 12):  # a cell of each stage
        assert f"cells.{i}.edges.edge_0_1.1" in called  # the dead 3x3 conv
    zero_muls = [n for n in graph.nodes if n.op == "call_function" and "mul" in str(n.target)]
    assert len(zero_muls) == 15 * 4  # four `none` edges per cell, each a real x * 0.0
    # and its MACs are counted: 15 dead 3x3 convs on top of the skip-only network
    skip_only = build_nb201("|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|")
    conv_macs = sum(9 * c * c * hw * hw for c, hw in ((16, 32), (32, 16), (64, 8))) * 5
    assert nb201_macs(model, 32) - nb201_macs(skip_only, 32) == pytest.approx(conv_macs / 1e6)


def test_none_edge_outputs_zero():
    x = torch.randn(1, 4, 5, 5)
    assert torch.equal(nb201.Zero()(x), torch.zeros_like(x))


def test_cell_output_is_sum_of_node_inputs():
    torch.manual_seed(0)
    arch = "|nor_conv_3x3~0|+|avg_pool_3x3~0|nor_conv_1x1~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"
    cell = build_nb201(arch).cells[0].eval()
    e = {k: m for k, m in cell.edges.items()}
    x = torch.randn(2, 16, 8, 8)
    with torch.no_grad():
        n1 = e["edge_0_1"](x)
        n2 = e["edge_0_2"](x) + e["edge_1_2"](n1)
        n3 = e["edge_0_3"](x) + e["edge_1_3"](n1) + e["edge_2_3"](n2)
        torch.testing.assert_close(cell(x), n3)
        torch.testing.assert_close(torch.fx.symbolic_trace(cell)(x), n3)


@pytest.mark.parametrize(
    "arch, live",
    [
        (ALL_3X3, list(EDGES)),
        ("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|", []),
        # nodes 1 and 2 are unreachable from the input: only 0->3 is live
        ("|none~0|+|none~0|none~1|+|nor_conv_3x3~0|skip_connect~1|avg_pool_3x3~2|", [(0, 3)]),
        # node 2 is computed from the input but never reaches the output
        (
            "|nor_conv_3x3~0|+|skip_connect~0|skip_connect~1|+|none~0|skip_connect~1|none~2|",
            [(0, 1), (1, 3)],
        ),
        # output disconnected although every other edge is a conv
        ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|none~0|none~1|none~2|", []),
    ],
)
def test_live_edges(arch, live):
    assert live_edges(arch) == live
    assert is_output_connected(arch) == bool(live)


def test_parse_arch_structure():
    assert parse_arch(ARCH0) == [
        [("avg_pool_3x3", 0)],
        [("nor_conv_1x1", 0), ("skip_connect", 1)],
        [("nor_conv_1x1", 0), ("skip_connect", 1), ("skip_connect", 2)],
    ]


@pytest.mark.parametrize(
    "arch, message",
    [
        ("", "empty"),
        ("|nor_conv_3x3~0|", "expected 3"),
        ("|nor_conv_3x3~0|+|none~0|none~1|", "expected 3"),
        ("|conv_5x5~0|+|none~0|none~1|+|none~0|none~1|none~2|", "unknown operation 'conv_5x5'"),
        ("|nor_conv_3x3~1|+|none~0|none~1|+|none~0|none~1|none~2|", "must come from node 0"),
        ("|nor_conv_3x3~0|+|none~1|none~0|+|none~0|none~1|none~2|", "must come from node 0"),
        ("|nor_conv_3x3|+|none~0|none~1|+|none~0|none~1|none~2|", "op~i"),
        ("|nor_conv_3x3~0|+|none~0|+|none~0|none~1|none~2|", "expected 2"),
        ("|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|none~3|", "expected 3"),
        ("nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|", "start and end with '|'"),
        ("|nor_conv_3x3~x|+|none~0|none~1|+|none~0|none~1|none~2|", "must come from node 0"),
    ],
)
def test_bad_arch_strings(arch, message):
    with pytest.raises(ValueError, match=message.replace("|", r"\|")):
        parse_arch(arch)
    with pytest.raises(ValueError):
        zoo.parse(f"nb201:{arch}")
