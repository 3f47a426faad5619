"""Bulk featurising: spec files, table files, the long node table, and the dask backend."""

import sys

import pandas as pd
import pytest

from costmodel.predict.bulk import (
    check_table_path,
    long_node_table,
    parallel_backend,
    read_specs,
    read_table,
    write_table,
)
from costmodel.predict.features import featurize

NB201 = "nb201:|nor_conv_3x3~0|+|none~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_1x1~1|none~2|"
SPECS = [
    NB201,
    "random:seed=1",
    "resnet?depth=18&width=0.25",
    NB201.replace("none", "skip_connect"),
]


def test_specs_one_per_line_or_a_csv_column(tmp_path):
    lines = tmp_path / "space.txt"
    lines.write_text("# a search space\nresnet18\n\nrandom:seed=1")  # no final newline
    assert read_specs(lines) == ["resnet18", "random:seed=1"]
    csv = tmp_path / "space.csv"
    csv.write_text("id,spec\n1,resnet18\n2,mobilenetv2?width=0.5\n")
    assert read_specs(csv) == ["resnet18", "mobilenetv2?width=0.5"]
    (tmp_path / "model.csv").write_text("model,latency_ms\nvgg11,3.0\n")
    assert read_specs(tmp_path / "model.csv") == ["vgg11"]


@pytest.mark.parametrize(
    "name, data, message",
    [
        ("missing.txt", None, "no SPECS file"),
        ("empty.txt", b"\n# nothing\n", "no specs in the file"),
        ("nocol.csv", b"arch,ms\nx,1\n", "no 'model' or 'spec' column"),
        ("latin.txt", b"r\xe9snet\n", "not UTF-8"),
    ],
)
def test_bad_spec_files_are_one_line_errors(tmp_path, name, data, message):
    path = tmp_path / name
    if data is not None:
        path.write_bytes(data)
    with pytest.raises(ValueError, match=message) as info:
        read_specs(path)
    assert "\n" not in str(info.value)


def test_tables_round_trip_and_bad_paths_fail_before_any_work(tmp_path, monkeypatch):
    frame = pd.DataFrame({"macs": [1.0, 2.0]}, index=pd.Index(["a", "b"], name="model"))
    for suffix in (".parquet", ".csv"):
        back = read_table(write_table(frame, tmp_path / f"x{suffix}"))
        pd.testing.assert_frame_equal(back, frame)
    with pytest.raises(ValueError, match="write .parquet or .csv"):
        check_table_path(tmp_path / "x.xlsx")
    with pytest.raises(ValueError, match="create it first"):
        check_table_path(tmp_path / "nowhere" / "x.csv")
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # as if pyarrow were not installed
    with pytest.raises(ImportError, match=r"costmodel\[parquet\]"):
        check_table_path(tmp_path / "x.parquet")


def test_long_node_table_has_every_node_of_every_model():
    features = featurize(SPECS[:2], cache=False)
    table = long_node_table(features.nodes, SPECS[:2])
    assert list(table.columns[:2]) == ["model", "node"]
    for spec in SPECS[:2]:
        mine = table[table["model"] == spec].drop(columns="model").reset_index(drop=True)
        pd.testing.assert_frame_equal(mine, features.nodes[spec].reset_index(drop=True))


def test_featurising_on_a_dask_cluster_gives_the_same_features():
    distributed = pytest.importorskip(
        "distributed", reason="dask.distributed is not installed (pip install 'costmodel[dask]')"
    )
    here = featurize(SPECS, cache=False, n_jobs=1)
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        # the command line's path: a scheduler address, joblib switched to the dask backend
        with parallel_backend("dask", cluster.scheduler_address):
            client = distributed.get_client()
            with distributed.get_task_stream(client) as tasks:
                there = featurize(SPECS, cache=False, n_jobs=-1, chunk_size=1)
    assert len(tasks.data) >= len(SPECS)  # the chunks really ran on the cluster's workers
    pd.testing.assert_frame_equal(there.X, here.X)
    for spec in SPECS:
        pd.testing.assert_frame_equal(there.nodes[spec], here.nodes[spec])


def test_unknown_backend_is_an_error():
    with pytest.raises(ValueError, match="unknown backend"):
        with parallel_backend("spark"):
            pass


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_a_featurised_space_on_disk_predicts_like_the_features_in_memory(tmp_path, suffix):
    from costmodel.predict.bulk import read_features
    from costmodel.predict.estimators import OpLevelPredictor
    from costmodel.predict.predictions import predict_table

    if suffix == "parquet":
        pytest.importorskip("pyarrow", reason="parquet needs the costmodel[parquet] extra")
    feats = featurize(SPECS, cache=False)
    specs = list(feats.X.index)
    write_table(feats.X, tmp_path / f"f.{suffix}")
    write_table(long_node_table(feats.nodes, specs), tmp_path / f"n.{suffix}", False)
    back = read_features(tmp_path / f"f.{suffix}", tmp_path / f"n.{suffix}")
    assert list(back.X.index) == specs
    for s in specs:
        pd.testing.assert_frame_equal(back.nodes[s], feats.nodes[s], check_dtype=False)
    # an op-level predictor reads the node tables: fit it on made-up per-op timings
    timed = feats.with_nodes()
    timed["node_table"] = [
        t.assign(latency_us=1 + t["macs"] / 1e4 + t["out_bytes"] / 1e3) for t in timed["node_table"]
    ]
    model = OpLevelPredictor().fit(timed, 0.01 + feats.X["macs"].to_numpy() / 1e7)
    mine, theirs = predict_table(model, back), predict_table(model, feats)
    pd.testing.assert_frame_equal(mine, theirs)


def test_a_node_file_without_the_models_is_refused(tmp_path):
    from costmodel.predict.bulk import read_features

    feats = featurize(SPECS[:2], cache=False)
    write_table(feats.X, tmp_path / "f.csv")
    write_table(long_node_table(feats.nodes, [SPECS[0]]), tmp_path / "n.csv", False)
    with pytest.raises(ValueError, match="no nodes for 1 model"):
        read_features(tmp_path / "f.csv", tmp_path / "n.csv")
