"""The long node table: same content as the per-model tables, subsetting, timings, configs."""

import numpy as np
import pandas as pd
import pytest

from costmodel.predict.estimators import NODE_INPUTS
from costmodel.predict.features import featurize
from costmodel.predict.nodes import BATCH, TABLES, NodeBatch, attach, map_nodes, nodes_of

SPECS = [
    "nb201:|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
    "nb201:|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|",
    "resnet?depth=18&width=0.25",
    "fixtures_models:tiny",
]


@pytest.fixture(scope="module")
def feats():
    return featurize(SPECS)


def test_the_long_table_round_trips_every_models_node_table(feats):
    batch = feats.node_batch()
    assert list(batch) == SPECS and len(batch.table) == sum(len(feats.nodes[s]) for s in SPECS)
    for spec in SPECS:
        pd.testing.assert_frame_equal(batch[spec], feats.nodes[spec])
    again = NodeBatch.from_tables(SPECS, batch.tables())
    pd.testing.assert_frame_equal(again.table, batch.table)
    assert (again.offsets == batch.offsets).all()
    assert feats.node_batch() is batch  # built once


def test_a_subset_in_another_order_keeps_each_rows_nodes(feats):
    X = feats.with_node_batch()
    legacy = feats.with_nodes()
    order = [SPECS[3], SPECS[0], SPECS[2]]
    sub = X.loc[order]
    batch, positions = nodes_of(sub)
    taken = batch.take(positions)
    assert list(taken) == order
    for i, spec in enumerate(order):
        pd.testing.assert_frame_equal(taken.table_of(i), legacy.at[spec, TABLES])
    idx, owner = batch.rows(positions)
    assert (owner == np.repeat(np.arange(3), [len(feats.nodes[s]) for s in order])).all()
    assert (batch.table["node"].to_numpy()[idx] == taken.table["node"].to_numpy()).all()
    # rows of two feature tables (two batches) in one frame are still each their own nodes
    mixed = pd.concat([sub.iloc[:1], featurize(SPECS[1:2]).with_node_batch()])
    merged, pos = nodes_of(mixed)
    for i, spec in enumerate([SPECS[3], SPECS[1]]):
        pd.testing.assert_frame_equal(merged.take(pos).table_of(i), feats.nodes[spec])


def test_timings_join_like_the_per_model_tables(feats):
    ops = pd.DataFrame(
        {
            "model": [SPECS[0], SPECS[0], SPECS[0], SPECS[2]],
            "node": [feats.nodes[SPECS[0]]["node"].iloc[1]] * 2
            + [feats.nodes[SPECS[0]]["node"].iloc[2], feats.nodes[SPECS[2]]["node"].iloc[0]],
            "latency_us": [3.0, 5.0, 7.0, 11.0],
        }
    )
    batch = feats.node_batch(ops)
    legacy = feats.with_nodes(op_timings=ops)
    for spec in (SPECS[0], SPECS[2]):
        pd.testing.assert_frame_equal(batch[spec], legacy.at[spec, TABLES])
    assert batch[SPECS[0]]["latency_us"].iloc[1] == 4.0  # the median of repeats
    assert batch[SPECS[1]]["latency_us"].isna().all()  # not measured
    assert "latency_us" not in feats.node_batch().table  # the shared batch is untouched


def test_configurations_are_exact_and_shared(feats):
    batch = feats.node_batch()
    configs, codes = batch.configs(NODE_INPUTS)
    assert len(configs) < len(batch.table)  # the NB201 cells repeat node configurations
    rebuilt = configs.take(codes).reset_index(drop=True)
    pd.testing.assert_frame_equal(rebuilt, batch.table[list(NODE_INPUTS)])
    assert len(configs.drop_duplicates()) == len(configs)
    assert batch.configs(NODE_INPUTS)[1] is codes  # computed once


def test_a_hash_collision_falls_back_to_exact_grouping(monkeypatch, feats):
    from costmodel.predict import nodes

    batch = NodeBatch.from_tables(SPECS, feats.node_batch().tables())
    monkeypatch.setattr(nodes, "_MIX", np.uint64(0))  # every row hashes to 0
    calls = []
    exact = nodes._factorise_exactly
    monkeypatch.setattr(nodes, "_factorise_exactly", lambda *a: calls.append(1) or exact(*a))
    configs, codes = batch.configs(NODE_INPUTS)
    assert calls == [1]
    pd.testing.assert_frame_equal(
        configs.take(codes).reset_index(drop=True), batch.table[list(NODE_INPUTS)]
    )
    assert len(configs) > 1


def test_attach_needs_every_model_and_maps_both_forms(feats):
    batch = feats.node_batch()
    with pytest.raises(ValueError, match="lacks models"):
        attach(pd.DataFrame(index=["nope"]), batch)
    with pytest.raises(ValueError, match="each model once"):
        attach(pd.DataFrame(index=SPECS[:1]), batch.take([0, 0]))
    X = feats.with_node_batch()
    upper = map_nodes(X, lambda t: t.assign(category=t["category"].str.upper()))
    assert X[BATCH].iloc[0] is batch and upper[BATCH].iloc[0] is not batch
    assert (upper[BATCH].iloc[0].table["category"] == batch.table["category"].str.upper()).all()
    legacy = map_nodes(feats.with_nodes(), lambda t: t.iloc[:1])
    assert all(len(t) == 1 for t in legacy[TABLES])
    assert nodes_of(feats.X) is None
