"""Vectorised prediction equals prediction one model at a time; the predictions table."""

import numpy as np
import pandas as pd
import pytest

import costmodel
from costmodel.predict.estimators import MacPredictor, OpLevelPredictor, make_predictor
from costmodel.predict.features import Features
from costmodel.predict.nodes import TABLES, NodeBatch
from costmodel.predict.predictions import predict_table
from costmodel.predict.prior import MultiBoardPrior, PriorSource
from costmodel.predict.profile import Profile
from costmodel.predict.registry import PREDICTORS
from costmodel.predict.terms import TERMS

rng = np.random.default_rng(1)
# A palette of node configurations, as a search space repeats them: (category, MACs, bytes).
PALETTE = [
    ("conv_dense", 2e6, 4e4),
    ("conv_dense", 9e6, 8e4),
    ("conv_pointwise", 1e6, 4e4),
    ("activation", 0.0, 4e4),
    ("batchnorm", 0.0, 4e4),
    ("add", 0.0, 8e4),
    ("pool", 0.0, 3e4),
    ("unknown", 0.0, 2e4),
]


def candidates(n: int) -> Features:
    """``n`` synthetic models of palette nodes (some unique ones too), with per-op timings."""
    rows, tables, timings = [], [], []
    for m in range(n):
        k = int(rng.integers(4, 30))
        pick = rng.integers(0, len(PALETTE) - (m % 3 != 0), k)  # every third has unknown ops
        cat = np.array([PALETTE[i][0] for i in pick])
        macs = np.array([PALETTE[i][1] for i in pick])
        nbytes = np.array([PALETTE[i][2] for i in pick])
        nbytes[0] *= 1 + m / 100  # one configuration of each model is its own
        lat = 3 + macs / 1e5 + nbytes / 1e4
        table = pd.DataFrame({"node": [f"n{i}" for i in range(k)], "category": cat, "macs": macs,
                              "flops": 2 * macs, "act_bytes": nbytes, "param_bytes": macs / 50,
                              "out_bytes": nbytes, "params": macs / 200, "groups": 1.0,
                              "kernel": np.where(macs > 0, 9.0, 0.0), "stride": 1.0,
                              "in_channels": 16.0, "out_channels": 16.0, "out_elems": nbytes / 4,
                              "n_aten_ops": 1.0, "is_copy": 0.0,
                              "unknown": np.where(cat == "unknown", "aten.foo", "")})  # fmt: skip
        tables.append(table)
        timings.append(pd.DataFrame({"model": f"m{m}", "node": table["node"], "latency_us": lat}))
        row = {c: float(rng.uniform(0, 5e6)) for cols, _, _ in TERMS.values() for c in cols}
        unknown = cat == "unknown"
        row.update(macs=macs.sum(), params=macs.sum() / 200, unknown_ops=float(unknown.sum()),
                   unknown_bytes=float(nbytes[unknown].sum()),
                   module_calls=float(k + 3), act_bytes_read=nbytes.sum(),
                   bytes_written=nbytes.sum(), param_bytes_read=macs.sum() / 50)  # fmt: skip
        rows.append(row)
    specs = [f"m{m}" for m in range(n)]
    X = pd.DataFrame(rows, index=pd.Index(specs, name="model"))
    feats = Features(X, dict(zip(specs, tables, strict=True)), {})
    feats.ops = pd.concat(timings, ignore_index=True)
    feats.y = pd.Series(
        feats.ops.groupby("model")["latency_us"].sum() / 1e3 + 0.05 * X["module_calls"], name="y"
    ).loc[specs]
    return feats


@pytest.fixture(scope="module")
def fitted():
    """Every registered predictor, and the full one adapting a two-board prior, fitted on 24
    models; 40 other models to predict."""
    train, test = candidates(24), candidates(40)
    X = train.with_nodes(op_timings=train.ops)
    ests = {name: make_predictor(name, **({"max_iter": 30} if name in ("oplevel", "full") else {}))
            for name in PREDICTORS}  # fmt: skip
    for est in ests.values():
        est.fit(X, train.y)
    sources = [PriorSource("ops", ests["oplevel"]), PriorSource("macs", ests["mac"])]
    prior = MultiBoardPrior(sources)
    ests["full+prior"] = make_predictor("full", prior=prior)
    Xp = predict_frame(X, prior)
    ests["full+prior"].fit(Xp, train.y * 1.7)
    return ests, test, prior


def predict_frame(X, prior):
    from costmodel.predict.prior import prior_columns

    return prior_columns(X, prior)


def test_the_registry_is_covered(fitted):
    ests, _, _ = fitted
    assert set(PREDICTORS) <= set(ests)
    assert ests["full"].kind_ == "OpLevelPredictor"
    assert ests["full+prior"].kind_ == "AdditivePredictor"


@pytest.mark.parametrize("name", [*PREDICTORS, "full+prior"])
def test_a_batch_equals_each_model_alone(fitted, name):
    ests, test, prior = fitted
    est = ests[name]
    long, legacy = test.with_node_batch(), test.with_nodes()
    if name == "full+prior":
        long, legacy = predict_frame(long, prior), predict_frame(legacy, prior)
    batch = est.predict(long)
    alone = np.array([est.predict(legacy.iloc[[i]])[0] for i in range(len(legacy))])
    np.testing.assert_allclose(batch, alone, rtol=1e-9)
    order = rng.permutation(len(long))[:25]
    np.testing.assert_allclose(est.predict(long.iloc[order]), alone[order], rtol=1e-9)
    parts = est.breakdown(long)
    if name == "constant":  # no breakdown
        assert parts.shape == (len(long), 0)
        return
    np.testing.assert_allclose(parts.sum(axis=1), batch, rtol=1e-9)
    one = est.breakdown(legacy.iloc[[5]])
    np.testing.assert_allclose(parts.iloc[[5]].to_numpy(), one.to_numpy(), rtol=1e-9)


def test_the_op_level_sum_is_the_sum_of_its_node_predictions(fitted):
    ests, test, _ = fitted
    est: OpLevelPredictor = ests["oplevel"]
    X = test.with_node_batch()
    sums = [est.node_latency_us(test.nodes[s], warn=False).sum() / 1e3 for s in X.index]
    c = est.stage_coef_
    rows = np.array([len(test.nodes[s]) for s in X.index])
    expected = (
        c["op_sum_ms"] * np.array(sums)
        + c["op_rows"] * rows
        + c["module_calls"] * X["module_calls"]
        + c["param_MB"] * X["param_bytes_read"] / 1e6
        + c["activation_MB"] * (X["act_bytes_read"] + X["bytes_written"]) / 1e6
        + est.intercept_ms_
    )
    np.testing.assert_allclose(est.predict(X), expected, rtol=1e-9)


def test_fitting_on_either_node_form_is_the_same_fit():
    train = candidates(16)
    a = OpLevelPredictor(max_iter=20).fit(train.with_nodes(op_timings=train.ops), train.y)
    b = OpLevelPredictor(max_iter=20).fit(train.with_node_batch(op_timings=train.ops), train.y)
    X = train.with_node_batch()
    assert a.stage_coef_ == b.stage_coef_
    np.testing.assert_allclose(a.predict(X), b.predict(X), rtol=1e-12)


def test_the_predictions_table(fitted):
    ests, test, prior = fitted
    baseline = MacPredictor().fit(test.X, test.y)
    profile = Profile(ests["full+prior"], baseline, "full+prior", interval=(-0.2, 0.1))
    table = costmodel.predict_table(profile, test)
    assert list(table.columns) == ["predicted_ms", "low_ms", "high_ms", "mac_only_ms", "MMACs",
                                   "params_M", "unknown_ops"]  # fmt: skip
    assert list(table.index) == list(test.X.index) and table.index.name == "model"
    np.testing.assert_allclose(table["low_ms"], 0.8 * table["predicted_ms"])
    np.testing.assert_allclose(table["high_ms"], 1.1 * table["predicted_ms"])
    np.testing.assert_allclose(table["mac_only_ms"], baseline.predict(test.X))
    assert (table["unknown_ops"] == test.X["unknown_ops"]).all()
    assert (table["unknown_ops"] > 0).any() and (table["unknown_ops"] == 0).any()
    # what the predictor says on the same features, unknown ops as copies (the sources of the
    # prior read the features as they are)
    from costmodel.predict.unknown import cost_unknown_as_copies

    X = cost_unknown_as_copies(predict_frame(test.with_nodes(), prior))
    np.testing.assert_allclose(table["predicted_ms"], ests["full+prior"].predict(X), rtol=1e-9)
    bare = predict_table(ests["oplevel"], test.with_node_batch(), breakdown=True)
    assert list(bare.columns[:4]) == ["predicted_ms", "MMACs", "params_M", "unknown_ops"]
    assert "convolution" in bare.columns
    np.testing.assert_allclose(bare.iloc[:, 4:].sum(axis=1), bare["predicted_ms"], rtol=1e-9)


def test_bad_input_is_named(fitted):
    ests, test, _ = fitted
    with pytest.raises(TypeError, match="Features of featurize"):
        predict_table(ests["mac"], test.X.to_numpy())
    with pytest.raises(TypeError, match="Profile or a fitted predictor"):
        predict_table("x86", test)
    with pytest.raises(ValueError, match="per-node features"):
        predict_table(ests["oplevel"], test.X)
    assert predict_table(ests["mac"], test.X.iloc[:0]).empty


def test_features_built_on_a_node_batch_use_it():
    feats = candidates(5)
    batch = NodeBatch.from_tables(list(feats.X.index), [feats.nodes[s] for s in feats.X.index])
    again = Features(feats.X, batch, {})
    assert again.node_batch() is batch
    pd.testing.assert_frame_equal(again.with_nodes().at["m3", TABLES], feats.nodes["m3"])


def test_the_entry_point_imports_no_scikit_learn():
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    code = "import sys, costmodel; costmodel.predict_table; print('sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        costmodel.nope  # noqa: B018
