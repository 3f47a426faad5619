"""The command line: each subcommand end to end, and errors that say what went wrong."""

import json

import pandas as pd
import pytest

from costmodel.cli import main

NETS_PY = """
import torch.nn as nn


def build_net(width=4):
    return nn.Sequential(nn.Conv2d(3, width, 3), nn.ReLU(), nn.Flatten())
"""


def test_analyze_category_table(capsys):
    assert main(["analyze", "mobilenetv2?width=0.35"]) == 0
    out = capsys.readouterr().out
    assert "conv_depthwise" in out and "MMACs" in out and "module calls" in out


def test_analyze_nodes_as_csv_and_json(tmp_path, capsys):
    csv = tmp_path / "nodes.csv"
    assert (
        main(
            ["analyze", "shufflenetv2?width=0.5", "--by", "node", "--format", "csv", "-o", str(csv)]
        )
        == 0
    )
    nodes = pd.read_csv(csv)
    assert {"name", "category", "macs", "bytes_written", "groups"} <= set(nodes.columns)
    assert (nodes["category"] == "shuffle").any()
    assert main(["analyze", "vgg?depth=11&width=0.5", "--format", "json", "--by", "module"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["totals"]["macs"] > 0 and payload["unknown_ops"] == []


def test_analyze_a_callable_from_a_file_with_an_input_shape(tmp_path, capsys):
    (tmp_path / "nets.py").write_text(NETS_PY)
    spec = f"{tmp_path / 'nets.py'}:build_net?width=8"
    assert main(["analyze", spec, "--input-shape", "1,3,10,10", "--format", "json"]) == 0
    totals = json.loads(capsys.readouterr().out)["totals"]
    assert totals["macs"] == 8 * 8 * 8 * 27


def test_models_lists_specs_and_families(capsys):
    assert main(["models", "--family", "mobilenetv2", "--format", "csv"]) == 0
    table = pd.read_csv(__import__("io").StringIO(capsys.readouterr().out))
    assert set(table["family"]) == {"mobilenetv2"} and len(table) >= 4


def test_demo_on_a_reduced_model_set(capsys):
    assert (
        main(["demo", "--model", "shufflenet?width=0.5", "--model", "resnet18", "--format", "csv"])
        == 0
    )
    table = pd.read_csv(__import__("io").StringIO(capsys.readouterr().out), index_col=0)
    assert list(table.index) == ["shufflenet?width=0.5", "resnet18"]
    assert table.loc["shufflenet?width=0.5", "ops_shuffle"] > 0


@pytest.mark.parametrize(
    "argv, message",
    [
        (["analyze", "mobilenetv9"], "did you mean"),
        (["analyze", "resnet?depth"], "key=value"),
        (["analyze", "no_such_pkg.nets:build"], "cannot import module"),
        (["analyze", "resnet18", "--input-shape", "1,5,32,32"], "input shape"),
        (["models", "--family", "nope"], "unknown family"),
    ],
)
def test_errors_exit_2_with_a_message(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_bad_shape_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit):
        main(["analyze", "resnet18", "--input-shape", "1,a,3"])
    assert "bad shape" in capsys.readouterr().err
