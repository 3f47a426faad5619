"""Predictors on synthetic features with known answers; sklearn compatibility."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.model_selection import cross_val_predict

from costmodel.predict.estimators import (
    BELOW_RESOLUTION_US,
    AdditivePredictor,
    ConstantPredictor,
    FullPredictor,
    GeometricBlend,
    MacPredictor,
    OpLevelPredictor,
    _node_linear_design,
    _timed_nodes,
    kernel_macs,
    kernel_steps,
    make_predictor,
)
from costmodel.predict.nodes import nodes_of
from costmodel.predict.registry import PREDICTORS
from costmodel.predict.terms import RUNTIME_BASE, TERMS

rng = np.random.default_rng(0)


def model_table(n=40):
    X = pd.DataFrame(
        {
            "macs": rng.uniform(1e6, 500e6, n),
            "module_calls": rng.integers(20, 400, n).astype(float),
            "logical_ops": rng.integers(20, 300, n).astype(float),
            "conv_groups": rng.integers(10, 5000, n).astype(float),
            "param_bytes_read": rng.uniform(1e5, 1e8, n),
            "act_bytes_read": rng.uniform(1e5, 1e7, n),
            "bytes_written": rng.uniform(1e5, 1e7, n),
        },
        index=[f"m{i}" for i in range(n)],
    )
    for cols, _, _ in TERMS.values():
        for c in cols:
            if c not in X:
                X[c] = rng.uniform(0, 50e6, n) if "macs" in c else rng.uniform(0, 5e6, n)
    for t in RUNTIME_BASE:  # eager boards: no work left to a runtime's fallback kernels
        X[TERMS[t][0][0]] = 0.0
    return X


def test_mac_only_recovers_slope_and_intercept():
    X = model_table()
    y = 0.02 * X["macs"] / 1e6 + 1.5
    est = MacPredictor().fit(X, y)
    assert est.ms_per_mmac_ == pytest.approx(0.02) and est.intercept_ms_ == pytest.approx(1.5)
    prop = MacPredictor(proportional=True).fit(X, 0.03 * X["macs"] / 1e6)
    assert prop.intercept_ms_ == 0 and prop.ms_per_mmac_ == pytest.approx(0.03)
    neg = MacPredictor().fit(X, 100 - 0.01 * X["macs"] / 1e6)  # a, b >= 0 even so
    assert neg.ms_per_mmac_ >= 0 and neg.intercept_ms_ >= 0


def test_additive_recovers_physical_costs():
    X = model_table(80)
    true = {
        "conv_depthwise_macs": 0.5,
        "conv_dense_macs": 0.02,
        "copy_bytes": 0.3,
        "module_calls": 0.02,
    }
    y = 0.7 + sum(v * X[list(TERMS[k][0])].sum(axis=1) / TERMS[k][1] for k, v in true.items())
    est = AdditivePredictor().fit(X, y)
    assert est.chosen_["base"] == "mac" and est.chosen_["ridge"] < 1e-2  # data support all terms
    assert np.all(est.coef_ >= 0)
    assert np.abs(est.predict(X) / y - 1).max() < 0.03
    for k in true:
        assert k in est.coefficients_, k


def test_additive_is_mac_only_when_the_data_are():
    X = model_table(30)
    y = 0.02 * X["macs"] / 1e6 + 1.5
    y = y * (1 + 0.03 * rng.standard_normal(len(y)))
    est = AdditivePredictor().fit(X, y)
    mac = MacPredictor().fit(X, y)
    assert est.chosen_["base"] == "mac" and est.chosen_["terms"] == ["macs", "intercept"]
    assert np.allclose(est.predict(X), mac.predict(X))


def node_tables(n_models=30, timed=True):
    """Models made of conv and relu nodes with known costs: conv 5 us + 0.1 us/MMAC-ish."""
    tables, ys = [], []
    for _ in range(n_models):
        k = rng.integers(5, 40)
        cat = rng.choice(["conv_dense", "activation"], size=k)
        macs = np.where(cat == "conv_dense", rng.uniform(1e5, 5e7, k), 0.0)
        act = rng.uniform(1e3, 1e6, k)
        lat = np.where(cat == "conv_dense", 5 + 2e-5 * macs, 1 + 1e-3 * act)
        t = pd.DataFrame(
            {
                "node": [f"n{i}" for i in range(k)],
                "category": cat,
                "macs": macs,
                "flops": 2 * macs,
                "act_bytes": act,
                "param_bytes": 0.0,
                "out_bytes": act,
                "params": 0.0,
                "groups": 1.0,
                "kernel": 9.0,
                "stride": 1.0,
                "in_channels": 8.0,
                "out_channels": 8.0,
                "out_elems": act / 4,
                "n_aten_ops": 1.0,
                "is_copy": 0.0,
            }
        )
        if timed:
            t["latency_us"] = lat
        tables.append(t)
        ys.append(lat.sum() / 1e3)
    X = model_table(n_models)
    X["node_table"] = tables
    y = pd.Series(ys, index=X.index) + 0.01 * X["module_calls"]
    return X, y


def test_op_level_learns_node_costs_and_the_per_call_overhead():
    X, y = node_tables(40)
    est = OpLevelPredictor(max_iter=50).fit(X.iloc[:30], y.iloc[:30])
    pred = est.predict(X.iloc[30:])
    assert np.abs(pred / y.iloc[30:] - 1).max() < 0.10
    assert est.stage_coef_["module_calls"] == pytest.approx(0.01, rel=0.3)


def test_op_level_removes_what_profiling_adds_to_every_op():
    """Each timed op reads 1 us more than it takes (a profiler's cost not subtracted); the
    whole-model latencies do not: the per-op stage term comes out near -1 us, not 0."""
    X, y = node_tables(40)
    X["node_table"] = [t.assign(latency_us=t["latency_us"] + 1.0) for t in X["node_table"]]
    est = OpLevelPredictor(max_iter=50).fit(X.iloc[:30], y.iloc[:30])
    assert est.stage_coef_["op_rows"] == pytest.approx(-1e-3, rel=0.3)  # ms per op
    assert np.abs(est.predict(X.iloc[30:]) / y.iloc[30:] - 1).max() < 0.10
    assert not est.timed_alone_ and est.stage_coef_["param_MB"] == 0  # in context: no memory
    alone = X.assign(node_table=[t.assign(method="isolated") for t in X["node_table"]])
    assert OpLevelPredictor(max_iter=20).fit(alone, y).timed_alone_


def test_op_level_tells_ops_of_one_category_apart():
    """Same category, same counts, another ATen op: a GELU costs 4x a ReLU here."""
    X, y = node_tables(40)
    tables = []
    for t in X["node_table"]:
        gelu = rng.random(len(t)) < 0.5
        act = (t["category"] == "activation").to_numpy()
        op = np.where(act, np.where(gelu, "aten.gelu", "aten.relu"), "aten.convolution")
        lat = np.where(act & gelu, 4 * t["latency_us"], t["latency_us"])
        tables.append(t.assign(op=op, latency_us=lat))
    X = X.assign(node_table=tables)
    est = OpLevelPredictor(max_iter=100).fit(X, y)
    assert set(est.op_codes_) == {"aten.gelu", "aten.relu", "aten.convolution"}
    probe = X["node_table"].iloc[0].iloc[[0]].assign(category="activation", macs=0.0, flops=0.0)
    relu, gelu = (est.node_latency_us(probe.assign(op=o))[0] for o in ("aten.relu", "aten.gelu"))
    assert gelu / relu == pytest.approx(4, rel=0.25)
    unseen = est.node_latency_us(probe.assign(op="aten.silu"))[0]  # an op never calibrated
    assert np.isfinite(unseen) and unseen > 0


def test_op_level_costs_an_op_without_macs_by_its_flops_not_its_bytes():
    # a portable pooling loop: time follows output x window, while the bytes it reads follow
    # the stride and the window (per FLOP anywhere from 0.4 to 3 here), so a rate per MB misleads
    X, y = node_tables(30)
    tables = []
    for t in X["node_table"]:
        pool = t["category"] == "activation"
        flops = np.where(pool, rng.uniform(1e4, 1e5, len(t)), t["flops"])
        per_flop = rng.uniform(0.4, 3.0, len(t))
        nbytes = np.where(pool, flops * per_flop, t["act_bytes"])
        lat = np.where(pool, 2 + 0.01 * flops, t["latency_us"])
        tables.append(
            t.assign(
                category=np.where(pool, "pooling", t["category"]),
                flops=flops,
                act_bytes=nbytes,
                out_bytes=np.where(pool, flops / 9 * 4, t["out_bytes"]),
                latency_us=lat,
            )
        )
    y = pd.Series([t["latency_us"].sum() / 1e3 for t in tables], index=X.index)
    est = OpLevelPredictor(max_iter=50).fit(X.assign(node_table=tables), y)
    big = (
        tables[0]
        .iloc[[0]]
        .assign(
            category="pooling", macs=0.0, flops=2e5, act_bytes=2e5 * 1.78, out_bytes=2e5 / 9 * 4
        )
    )  # twice the largest pool seen, at stride 2
    assert est.node_latency_us(big)[0] == pytest.approx(2 + 0.01 * 2e5, rel=0.2)


def test_kernel_macs_pad_each_groups_output_channels_to_the_tile():
    nodes = pd.DataFrame(
        {
            "category": ["conv_grouped", "conv_grouped", "conv_grouped", "conv_dense", "add"],
            "macs": [1e6, 1e6, 1e6, 1e6, 0.0],
            "groups": [96.0, 8.0, 2.0, 1.0, 0.0],
            "out_channels": [96.0, 64.0, 64.0, 8.0, 0.0],
        }
    )
    # 1, 8 and 32 channels per group: 16x, 2x, 1x; a dense convolution is never padded
    assert kernel_macs(nodes, 16).tolist() == [16e6, 2e6, 1e6, 1e6, 0.0]
    assert kernel_macs(nodes, 1).tolist() == nodes["macs"].tolist()


def test_op_level_costs_grouped_convolutions_by_their_tile_padded_macs():
    """One small GEMM per group, 16 output channels at a time: a depthwise-like grouped
    convolution (1 channel per group) costs what 16 would; learnt from 4-32 per group."""
    X, y = node_tables(30)
    tables = []
    for t in X["node_table"]:
        conv = (t["category"] == "conv_dense").to_numpy()
        per_group = rng.choice([4.0, 8.0, 16.0, 32.0], len(t))
        groups = np.where(conv, 64.0 / per_group, t["groups"])
        padded = t["macs"] * np.ceil(per_group / 16) * 16 / per_group
        lat = np.where(conv, 5 + 2e-5 * padded, t["latency_us"])
        tables.append(
            t.assign(
                category=np.where(conv, "conv_grouped", t["category"]),
                groups=groups,
                out_channels=np.where(conv, 64.0, t["out_channels"]),
                latency_us=lat,
            )
        )
    y = pd.Series([t["latency_us"].sum() / 1e3 for t in tables], index=X.index)
    X = X.assign(node_table=tables)
    probe = (
        tables[0]
        .iloc[[0]]
        .assign(category="conv_grouped", macs=1e6, groups=64.0, out_channels=64.0)
    )
    est = OpLevelPredictor(max_iter=50).fit(X, y)
    assert est.node_latency_us(probe)[0] == pytest.approx(5 + 2e-5 * 16e6, rel=0.25)
    plain = OpLevelPredictor(max_iter=50, tile=1).fit(X, y)  # counting plain MACs instead
    assert plain.node_latency_us(probe)[0] < 0.5 * est.node_latency_us(probe)[0]


def test_kernel_steps_count_taps_per_pixel_group_and_output_tile():
    nodes = pd.DataFrame(
        {
            "category": ["conv_grouped", "conv_grouped", "conv_dense"],
            "groups": [96.0, 2.0, 1.0],
            "out_channels": [96.0, 64.0, 8.0],
            "out_elems": [96.0 * 1024, 64.0 * 256, 8.0 * 16],
            "kernel": [49.0, 9.0, 9.0],
        }
    )
    # 7x7 depthwise: 96 groups x 1024 pixels x 49 taps x 1 tile; 32 per group: 2 tiles
    assert kernel_steps(nodes, 16).tolist() == [96 * 1024 * 49, 2 * 256 * 9 * 2, 0.0]
    assert kernel_steps(nodes, 1).tolist() == [0.0, 0.0, 0.0]


def test_op_level_prices_a_grouped_conv_by_its_kernel_steps_beside_its_macs():
    """An indirect GEMM pays per tap, pixel and output tile whatever its input channels per
    group: learnt from 8-64 input channels per group, a 7x7 depthwise conv (1 per group, 49
    taps) costs what both terms say, 13x what its padded MACs alone would."""
    X, y = node_tables(30)
    tables = []
    for t in X["node_table"]:
        conv = (t["category"] == "conv_dense").to_numpy()
        ig = rng.choice([8.0, 16.0, 32.0, 64.0], len(t))
        pixels = rng.choice([64.0, 256.0, 1024.0], len(t))
        grouped = t.assign(
            category=np.where(conv, "conv_grouped", t["category"]),
            groups=np.where(conv, 4.0, t["groups"]),
            in_channels=np.where(conv, 4 * ig, t["in_channels"]),
            out_channels=np.where(conv, 64.0, t["out_channels"]),
            out_elems=np.where(conv, 64.0 * pixels, t["out_elems"]),
        )
        macs = 4 * pixels * 9 * ig * 16  # 16 output channels per group: no padding
        steps = kernel_steps(grouped.assign(kernel=9.0), 16)
        grouped["macs"] = np.where(conv, macs, 0.0)
        grouped["kernel"] = 9.0
        grouped["latency_us"] = np.where(
            conv, 5 + 1e-5 * macs + 2e-3 * steps, grouped["latency_us"]
        )
        tables.append(grouped)
    y = pd.Series([t["latency_us"].sum() / 1e3 for t in tables], index=X.index)
    X = X.assign(node_table=tables)
    probe = tables[0].iloc[[0]].assign(
        category="conv_grouped", groups=96.0, in_channels=96.0, out_channels=96.0,
        out_elems=96.0 * 1024, kernel=49.0, macs=96.0 * 1024 * 49,
    )  # fmt: skip
    truth = 5 + 1e-5 * 16 * 96 * 1024 * 49 + 2e-3 * 96 * 1024 * 49
    est = OpLevelPredictor(max_iter=50).fit(X, y)
    assert est.node_latency_us(probe)[0] == pytest.approx(truth, rel=0.25)


def test_op_level_costs_a_portable_window_by_its_flops_alone():
    """ExecuTorch's portable pooling loops: a cost per window element at any stride; bytes
    per FLOP differ 4x between a stride-1 and a stride-2 pool and say nothing."""
    X, _ = node_tables(2)
    pool = X["node_table"].iloc[0].iloc[[0]].assign(category="portable_window", flops=1e6)
    lin = _node_linear_design(
        pd.concat([pool.assign(act_bytes=1e5), pool.assign(act_bytes=4e5)]), 16
    )
    assert (lin[0] == lin[1]).all()
    pooling = _node_linear_design(pd.concat([pool, pool]).assign(category="pooling"), 16)
    assert pooling[0, 2] > 0  # a delegated pool keeps its memory rate


def test_op_level_correction_fades_beyond_the_largest_work_calibrated():
    """Trees extrapolate flat: beyond the largest work of a category seen, the boosted
    correction fades out over a factor of ``extrapolation_span``, leaving the linear cost."""
    X, y = node_tables(30)
    X = X.assign(node_table=[t.assign(latency_us=t["latency_us"] * np.where(
        t["macs"] > t["macs"].median(), 1.5, 1.0)) for t in X["node_table"]])  # fmt: skip
    est = OpLevelPredictor(max_iter=50).fit(X, y)
    top = est.work_max_["conv_dense"] * 1e6  # MACs
    probe = X["node_table"].iloc[0].iloc[[0]].assign(category="conv_dense", macs=0.5 * top)
    sizes = pd.concat([probe.assign(macs=m * top) for m in (0.5, 1.0, 2.0, 4.0, 8.0)])
    assert est._trust(sizes).tolist() == pytest.approx([1.0, 1.0, 0.5, 0.0, 0.0])
    far = sizes.iloc[[4]]
    assert est.node_latency_us(far)[0] == pytest.approx(est._base(far)[0])  # linear cost alone
    assert est._trust(sizes.assign(category="softmax")).tolist() == [1.0] * 5  # never seen
    flat = clone(est).set_params(extrapolation_span=1.0).fit(X, y)
    assert (flat._trust(sizes) == 1).all()


def test_op_level_keeps_ops_measured_below_the_clock_resolution():
    """A profiler counting whole microseconds (ETDump's XNNPACK events) reads 0 for fast ops:
    measured, below its resolution, not unmeasured; they cost half a microsecond. A negative
    time (a profiler's cost per kernel subtracted from a smaller one) is left out."""
    X, y = node_tables(30)
    tables = []
    for t in X["node_table"]:
        act = (t["category"] == "activation").to_numpy()
        lat = np.where(act, 0.0, np.floor(t["latency_us"]))
        tables.append(t.assign(latency_us=np.concatenate([[-1.0], lat[1:]])))
    X = X.assign(node_table=tables)
    batch, positions = nodes_of(X)
    timed = _timed_nodes(batch, positions)
    assert len(timed) == len(batch.table) - len(tables)  # every node but the negative ones
    assert (timed["latency_us"] > 0).all()
    est = OpLevelPredictor(max_iter=50).fit(X, y)
    assert "activation" in est.categories_  # learnt, not the all-nodes line with a warning
    probe = tables[0].iloc[[1]].assign(category="activation", macs=0.0, flops=0.0)
    assert est.node_latency_us(probe)[0] == pytest.approx(BELOW_RESOLUTION_US, rel=0.2)


def test_op_level_needs_timed_nodes_and_warns_on_unseen_categories():
    X, y = node_tables(10, timed=False)
    with pytest.raises(ValueError, match="per-op timings"):
        OpLevelPredictor().fit(X, y)
    X, y = node_tables(20)
    est = OpLevelPredictor(max_iter=20).fit(X, y)
    odd = X.iloc[:1].copy()
    odd["node_table"] = [odd["node_table"].iloc[0].assign(category="concat")]
    with pytest.warns(UserWarning, match="concat"):
        est.predict(odd)


def test_a_prior_is_adapted_by_a_scale():
    X = model_table()
    prior = MacPredictor().fit(X, 0.01 * X["macs"] / 1e6 + 1)
    y = pd.Series(2 * prior.predict(X), index=X.index)
    est = clone(AdditivePredictor(prior=prior)).fit(X.iloc[:8], y.iloc[:8])
    assert est.prior is prior  # a clone keeps the fitted prior (sklearn would unfit it)
    assert est.chosen_["base"].startswith("prior:")
    assert np.allclose(est.predict(X), y, rtol=1e-6)
    assert prior.ms_per_mmac_ == pytest.approx(0.01)  # the prior itself is untouched


def test_full_with_per_op_timings_offers_the_additive_fits_beside_op_level():
    X, y = node_tables(20)
    kinds = [
        (type(c).__name__, getattr(c, "term_sets", None)) for c in FullPredictor()._candidates(X)
    ]
    assert kinds[:3] == [
        ("OpLevelPredictor", None),
        ("AdditivePredictor", ("launch", "work")),
        ("AdditivePredictor", ("weights",)),  # from ten models
    ]
    candidates = FullPredictor()._candidates(X)
    blends = [(c.parts[1], c.weight) for c in candidates[3:]]  # op-level blended with each
    assert all(c.parts[0] is candidates[0] for c in candidates[3:])
    assert blends == [(o, w) for o in candidates[1:3] for w in FullPredictor.BLEND_WEIGHTS]
    few = [type(c).__name__ for c in FullPredictor()._candidates(X.iloc[:5])]
    assert few == ["AdditivePredictor"]  # too few models for op-level, and for the weights rate
    # with a prior, a superset: the additive fit adapting it, then the same fitted here alone
    prior = MacPredictor().fit(X, y)
    with_prior = FullPredictor(prior=prior)._candidates(X)
    additive = [c.prior for c in with_prior[1:] if isinstance(c, AdditivePredictor)]
    assert additive == [prior, None, None]  # the last: MACs + weights
    assert len(with_prior) == 1 + 3 + 3 * len(FullPredictor.BLEND_WEIGHTS)


def test_full_picks_by_data():
    """The candidate by the data (the MAC-only guard, tested in test_guard.py, set aside)."""
    X, y = node_tables(20)
    assert FullPredictor(max_iter=20, guard=False).fit(X, y).kind_ == "OpLevelPredictor"
    plain = X.drop(columns="node_table")
    assert FullPredictor(guard=False).fit(plain, y).kind_ == "AdditivePredictor"
    prior = MacPredictor().fit(X, y)  # unguarded, per-op timings come first
    assert FullPredictor(prior=prior, guard=False).fit(X, y).kind_ == "OpLevelPredictor"
    assert FullPredictor(prior=prior, guard=False).fit(plain, y).kind_ == "AdditivePredictor"


class Column(RegressorMixin, BaseEstimator):
    """A fitted stand-in for another board's predictor: ``scale`` times a column of X."""

    def __init__(self, column="truth", scale=0.5):
        self.column, self.scale = column, scale

    def fit(self, X, y):
        self.fitted_ = True
        return self

    def predict(self, X):
        return self.scale * X[self.column].to_numpy(float)


def test_full_with_per_op_timings_and_a_prior_takes_the_better_by_cross_validation():
    X, y = node_tables(36)
    X = X.assign(truth=y.to_numpy(), noise=rng.uniform(1, 100, len(y)))
    exact = FullPredictor(prior=Column().fit(X, y), max_iter=30).fit(X, y)
    assert exact.kind_ == "AdditivePredictor" and exact.guard_["cv_full"] < 1e-3
    useless = FullPredictor(prior=Column("noise").fit(X, y), max_iter=30).fit(X, y)
    assert useless.kind_ == "OpLevelPredictor" and useless.guard_["candidate"] == "OpLevelPredictor"


def test_a_blend_is_a_weighted_geometric_mean_whose_breakdown_sums_to_it():
    X = model_table()
    y = pd.Series(
        0.01 * X["macs"].to_numpy() / 1e6 + 0.02 * X["elementwise_ops"] + 1, index=X.index
    )
    parts = (MacPredictor(), AdditivePredictor())
    blend = clone(GeometricBlend(parts, 0.25)).fit(X, y)
    a, b = (clone(p).fit(X, y).predict(X) for p in parts)
    assert np.allclose(blend.predict(X), a**0.25 * b**0.75)
    assert np.allclose(blend.breakdown(X).sum(axis=1), blend.predict(X))
    assert all(not hasattr(p, "coef_") and not hasattr(p, "ms_per_mmac_") for p in parts)


def test_full_passes_over_a_candidate_whose_fit_is_mac_only():
    """The additive fit's own selection may keep MAC-only terms on all rows though its fold fits
    (on fewer rows) chose richer ones and cross-validated best: the next candidate is taken."""
    X, y = node_tables(20)

    class Degenerate(MacPredictor):
        truth = y

        def fit(self, X, y):
            super().fit(X, y)
            self.mac_only_ = True
            return self

        def predict(self, X):  # as good as it gets on the folds
            return self.truth.reindex(X.index).to_numpy(float)

    class Plan(FullPredictor):
        def _candidates(self, X):
            return [Degenerate(), AdditivePredictor()]

    est = Plan().fit(X, y)
    assert est.guard_["passed_over"] == ["Degenerate"]
    assert est.kind_ in {"AdditivePredictor", "MacPredictor"}


@pytest.mark.parametrize("name", [n for n in PREDICTORS if n != "oplevel"])
def test_sklearn_compatibility(name):
    est = make_predictor(name)
    params = est.get_params()
    assert clone(est).get_params() == params
    est.set_params(**params)
    X = model_table(30)
    y = 0.01 * X["macs"] / 1e6 + 0.002 * X["module_calls"] + 1
    pred = cross_val_predict(est, X, y, cv=3)
    assert pred.shape == (30,) and np.isfinite(pred).all()
    with pytest.raises(Exception, match="not fitted"):
        make_predictor(name).predict(X)


def test_unknown_predictor_and_bad_input():
    with pytest.raises(KeyError, match="unknown predictor"):
        make_predictor("magic")
    with pytest.raises(TypeError, match="feature DataFrame"):
        MacPredictor().fit(np.ones((3, 1)), [1, 2, 3])
    assert ConstantPredictor().fit(model_table(5), [1, 2, 3, 4, 100]).median_ == 3


def test_every_predictor_has_a_registry_entry():
    for name, cls in PREDICTORS.items():
        assert cls.name == name and cls.min_models >= 1 and cls.description
    with pytest.raises(ValueError, match="already registered"):
        from costmodel.predict.registry import register

        register(type("Again", (MacPredictor,), {"name": "mac"}))


def test_breakdown_sums_to_the_prediction():
    X = model_table(40)
    y = 0.01 * X["macs"] / 1e6 + 0.002 * X["module_calls"] + 0.1 * X["copy_bytes"] / 1e6 + 1
    for name in ("additive", "full"):
        est = make_predictor(name).fit(X, y)
        parts = est.breakdown(X)
        assert np.allclose(parts.sum(axis=1), est.predict(X)), name
    Xn, yn = node_tables(20)
    est = OpLevelPredictor(max_iter=20).fit(Xn, yn)
    assert np.allclose(est.breakdown(Xn).sum(axis=1), est.predict(Xn))


def test_fallback_work_is_in_the_base_and_exact_mac_only_without_it():
    """Work a runtime leaves to slow portable kernels (lowering's ``portable_window``) is an
    unpenalised term beside MACs: recovered from a few models that have it; where no model has
    it, the base is exactly MAC-only."""
    X = model_table(30)[["macs", "portable_window_flops"]].copy()
    X["portable_window_flops"] = 0.0
    X.iloc[:4, 1] = [2e5, 4e5, 1e6, 3e5]  # 4 of 30 models have some
    y = 0.03 * X["macs"] / 1e6 + 0.5 + 15.0 * X["portable_window_flops"] / 1e6
    base = AdditivePredictor(term_sets=()).fit(X, y)
    assert base.coefficients_["portable_window_flops"][0] == pytest.approx(15.0, rel=1e-3)
    assert base.predict(X) == pytest.approx(y.to_numpy(), rel=1e-6)
    parts = base.breakdown(X)
    assert parts["fallback kernels"].iloc[2] == pytest.approx(15.0, rel=1e-3)  # 1 MFLOP
    assert parts.sum(axis=1).to_numpy() == pytest.approx(base.predict(X))
    none = X.assign(portable_window_flops=0.0)
    y0 = 0.03 * X["macs"] / 1e6 + 0.5
    fit = AdditivePredictor(term_sets=()).fit(none, y0)
    mac = MacPredictor().fit(none, y0)
    assert fit.predict(none) == pytest.approx(mac.predict(none), rel=1e-9)
    # the full predictor offers the base alone as a candidate only where that work is there
    assert [c.term_sets for c in FullPredictor()._candidates(X)] == [
        ("launch", "work"),
        (),
        ("weights",),
    ]
    assert [c.term_sets for c in FullPredictor()._candidates(none)] == [
        ("launch", "work"),
        ("weights",),
    ]
    # with a prior: adapting it first, then the same fitted here alone
    prior = MacPredictor().fit(none, y0)
    with_prior = FullPredictor(prior=prior)._candidates(X)
    assert [(c.prior is prior, c.term_sets) for c in with_prior] == [
        (True, ("launch", "work")), (True, ()), (False, ("launch", "work")), (False, ()),
        (False, ("weights",)),  # 30 models: the weights rate competes too
    ]  # fmt: skip
    few = FullPredictor()._candidates(X.iloc[:9])
    assert ("weights",) not in [c.term_sets for c in few]
