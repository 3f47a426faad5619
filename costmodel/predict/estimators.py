"""Latency predictors as scikit-learn estimators: constant, MAC-only, additive, op-level, full.

``X`` is the per-model feature table of :func:`costmodel.predict.features.featurize` (one row per
model); the op-level predictor also reads its nodes (with measured per-op latencies where
calibration took them), either as one long table for all rows (:mod:`costmodel.predict.nodes`,
what ``Features.with_node_batch()`` gives) or as a ``node_table`` column of per-model tables
(``Features.with_nodes()``). Every ``predict`` is array operations over all rows at once (the
op-level one evaluates its node model once per distinct node configuration of all rows); a
predictor adapting a prior reads
its ``prior:<source>`` columns (:mod:`costmodel.predict.prior`). ``y`` is latency in
milliseconds. Hyper-parameters are stored untouched in ``__init__``; fitted state ends in ``_``;
every estimator works with ``sklearn.base.clone`` and sklearn's cross-validation tools. Each is
registered by name (:mod:`costmodel.predict.registry`).

Fits minimise *relative* error (rows weighted by 1 / y), the quantity MAPE and ±10% accuracy
measure; otherwise the largest models would decide every coefficient.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import LinearRegression
from sklearn.utils.validation import check_is_fitted

from costmodel.analysis.taxonomy import CATEGORIES, GROUPS, KIND_OF, KINDS, WINDOW_CATEGORIES
from costmodel.predict.nodes import NodeBatch, nodes_of
from costmodel.predict.prior import as_prior
from costmodel.predict.registry import PREDICTORS, Predictor, make_predictor, register
from costmodel.predict.selection import fit_nnls_ridge, nested_candidates, select
from costmodel.predict.terms import RUNTIME_BASE, TERM_SETS, TERMS, design


def _weights(y: np.ndarray) -> np.ndarray:
    return 1.0 / np.square(np.maximum(np.asarray(y, float), 1e-9))


def _frame(X) -> pd.DataFrame:
    if not isinstance(X, pd.DataFrame):
        raise TypeError("costmodel predictors take the feature DataFrame of featurize()")
    return X


def _families(X: pd.DataFrame) -> list[str] | None:
    """The family of each row (its index is model specs), or None when the index is not specs."""
    from costmodel.zoo import family

    try:
        return [family(s) for s in X.index]
    except (KeyError, ValueError, TypeError, AttributeError):
        return None


@register
class ConstantPredictor(Predictor, RegressorMixin, BaseEstimator):
    """Predicts the calibration models' median latency for everything (the floor to beat)."""

    name = "constant"
    min_models = 1
    description = "the calibration models' median latency, for everything (the floor to beat)"

    def fit(self, X, y):
        self.median_ = float(np.median(np.asarray(y, float)))
        return self

    def predict(self, X):
        check_is_fitted(self)
        return np.full(len(X), self.median_)


@register
class MacPredictor(Predictor, RegressorMixin, BaseEstimator):
    """latency = a * MACs + b with a, b >= 0 (``proportional=True``: b = 0) — MACs as used today."""

    name = "mac"
    min_models = 2
    description = "latency = a * MACs + b, a, b >= 0 — how MACs are used today (the baseline)"

    def __init__(self, proportional: bool = False) -> None:
        self.proportional = proportional

    def fit(self, X, y):
        A = design(_frame(X), ("macs", "intercept"))
        y = np.asarray(y, float)
        w = fit_nnls_ridge(A[:, :1] if self.proportional else A, y, (0,) if self.proportional
                           else (0, 1), (), np.inf)  # fmt: skip
        self.ms_per_mmac_ = float(w[0])
        self.intercept_ms_ = 0.0 if self.proportional else float(w[1])
        return self

    def predict(self, X):
        check_is_fitted(self)
        return self.ms_per_mmac_ * _frame(X)["macs"].to_numpy(float) / 1e6 + self.intercept_ms_

    def breakdown(self, X: pd.DataFrame) -> pd.DataFrame:
        check_is_fitted(self)
        macs = self.ms_per_mmac_ * _frame(X)["macs"].to_numpy(float) / 1e6
        parts = {_term_kind("macs"): macs, _term_kind("intercept"): self.intercept_ms_}
        return pd.DataFrame(parts, index=X.index)


def _term_kind(term: str) -> str:
    """The kind of work a design term's cost belongs to (for per-kind breakdowns)."""
    for suffix in ("_ops", "_macs", "_bytes", "_flops"):
        if term.endswith(suffix) and term[: -len(suffix)] in GROUPS:
            return KIND_OF[GROUPS[term[: -len(suffix)]][0]]
    return {
        "macs": "MACs (all kinds)",
        "module_calls": "module calls",
        "conv_groups": "convolution",
        "param_bytes": "memory traffic",
        "intercept": "fixed",
    }.get(term, "prior (scaled)")


class _KeepsFittedPrior:
    """``sklearn.clone`` would replace a fitted ``prior`` by an unfitted copy; a clone of these
    estimators shares the (never modified) fitted prior instead."""

    def __sklearn_clone__(self):
        return type(self)(**self.get_params(deep=False))


@register
class AdditivePredictor(_KeepsFittedPrior, Predictor, RegressorMixin, BaseEstimator):
    """A non-negative sum of physical costs whose complexity is chosen by cross-validation.

    Candidates, from simplest to richest (:data:`costmodel.predict.terms.TERM_SETS`): MAC-only
    (with the work a runtime leaves to slow fallback kernels, where lowering marks any); plus
    one launch cost per kind of op (what a single "ops" term cannot express), per eager module
    call and per convolution group; plus per-kind compute rates (ms per MMAC of dense,
    pointwise, depthwise, grouped convolution, linear) and memory rates (ms per MB moved by
    element-wise ops, normalisation, copies...).
    Extra terms are ridge-shrunk toward zero; term set and strength are chosen by
    cross-validation on the calibration rows only (:func:`costmodel.predict.selection.select`),
    so with too little data the fit is MAC-only.

    With a ``prior`` (a :class:`~costmodel.predict.prior.MultiBoardPrior`, a profile or a fitted
    predictor), a second base competes: ``s * prior_b(x)`` for the source board whose prediction
    cross-validates best here, with the same shrunk corrections on top.
    ``coefficients_`` reads as physical costs.
    """

    name = "additive"
    min_models = 3
    description = (
        "a non-negative sum of per-kind costs (launches, MACs, bytes, module calls, groups) whose "
        "terms and ridge strength are chosen by cross-validation, from MAC-only upward"
    )

    def __init__(self, prior=None, term_sets=("launch", "work"), se_rule: float = 1.0) -> None:
        self.prior = prior
        self.term_sets = term_sets
        self.se_rule = se_rule

    def _design(self, X: pd.DataFrame, fit: bool = False) -> tuple[np.ndarray, list[str]]:
        names = list(TERMS)
        A = design(X, tuple(names))
        prior = as_prior(self.prior)
        if prior is not None:
            missing = [c for c in prior.columns if c not in X.columns]
            if missing and len(prior.sources) == 1 and prior.sources[0].name == "prior":
                X = X.assign(**{missing[0]: prior.sources[0].predictor.predict(X)})
                missing = []
            if missing:
                raise ValueError(
                    f"the prior's source predictions {missing} are not in the feature table: "
                    "add them with costmodel.predict.prior.prior_columns()"
                )
            # A source that cannot predict a model (NaN) is never chosen when that happens in
            # calibration; elsewhere its missing prediction counts as zero.
            P = X[prior.columns].to_numpy(float)
            A = np.column_stack([A, P if fit else np.nan_to_num(P)])
            names += prior.columns
        return A, names

    def fit(self, X, y):
        X = _frame(X)
        y = np.asarray(y, float)
        A, names = self._design(X, fit=True)
        index = {n: i for i, n in enumerate(names)}
        sets = [tuple(index[t] for t in TERM_SETS[s]) for s in self.term_sets]
        # MAC-only plus the work a runtime leaves to slow fallback kernels (zero elsewhere)
        base = (index["macs"], index["intercept"], *(index[t] for t in RUNTIME_BASE))
        candidates = nested_candidates("mac", base, sets)
        prior = as_prior(self.prior)
        if prior is not None and len(y) >= 2:
            src = _best_source(A[:, len(TERMS) :], y)
            if src is not None:
                col = len(TERMS) + src
                candidates += nested_candidates("prior", (col,), sets)
        A = np.nan_to_num(A)  # NaN only in sources that were not chosen
        chosen, self.cv_error_ = select(A, y, candidates, _families(X), self.se_rule)
        self.coef_ = fit_nnls_ridge(A, y, chosen.base, chosen.extra, chosen.lam)
        self.columns_ = names
        self.chosen_ = {
            "base": chosen.family if chosen.family == "mac" else names[chosen.base[0]],
            "terms": [names[i] for i in chosen.base + chosen.extra if self.coef_[i] > 0],
            "ridge": float(chosen.lam),
        }
        self.coefficients_ = {
            n: (float(c), TERMS[n][2] if n in TERMS else "x prior ms")
            for n, c in zip(names, self.coef_, strict=True)
            if c > 0
        }
        # the baseline itself: a rate per MAC and a fixed cost, nothing else
        self.mac_only_ = set(self.coefficients_) <= {"macs", "intercept"}
        return self

    def predict(self, X):
        check_is_fitted(self)
        A, _ = self._design(_frame(X))
        return A @ self.coef_

    def breakdown(self, X: pd.DataFrame) -> pd.DataFrame:
        check_is_fitted(self)
        A, names = self._design(_frame(X))
        parts = pd.DataFrame(A * self.coef_, columns=names, index=X.index)
        parts = parts.loc[:, self.coef_ > 0]
        return parts.T.groupby([_term_kind(n) for n in parts.columns], sort=False).sum().T


def _best_source(P: np.ndarray, y: np.ndarray) -> int | None:
    """The prior source whose scaled prediction ``s * p`` has the lowest leave-one-out relative
    error on the calibration rows (closed form), or None when no source predicts anything."""
    q = P / y[:, None]
    sq, sq2 = q.sum(axis=0), (q**2).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        s_loo = (sq[None, :] - q) / (sq2[None, :] - q**2)
        err = np.nanmean(np.abs(np.maximum(s_loo, 0) * q - 1.0), axis=0)
    err[~np.isfinite(err) | (sq2 <= 0) | np.isnan(P).any(axis=0)] = np.inf
    return int(np.argmin(err)) if np.isfinite(err).any() else None


_LOG_INPUTS = ("macs", "flops", "act_bytes", "param_bytes", "out_bytes", "out_elems", "params")
_RAW_INPUTS = ("groups", "kernel", "stride", "in_channels", "out_channels", "n_aten_ops", "is_copy")
# Every node column the node model reads: it is a function of these only (predict evaluates it
# once per distinct combination).
NODE_INPUTS = ("category", "op", *_LOG_INPUTS, *_RAW_INPUTS)
# The op vocabulary of a fit: its most frequent first ATen ops (HistGradientBoosting's categorical
# features take fewer than 255 values); any other op is "unknown" to the trees.
_MAX_OPS = 250


def op_vocabulary(nodes: pd.DataFrame) -> dict[str, int]:
    """Code per first ATen op of ``nodes`` (the most frequent :data:`_MAX_OPS`)."""
    if "op" not in nodes.columns:
        return {}
    counts = nodes["op"].fillna("").astype(str).value_counts(sort=True)
    return {op: i for i, op in enumerate(sorted(counts.index[:_MAX_OPS]))}


def node_design(nodes: pd.DataFrame, ops: dict[str, int] | None = None) -> np.ndarray:
    """Numeric per-node features (log-scaled sizes, category code) for the node regressor;
    with ``ops`` (a fit's :func:`op_vocabulary`), the code of the node's first ATen op last.

    The op tells apart what one category leaves open: a ReLU from a GELU, an add from a
    broadcast multiply, whose counts are the same (leave one family out: 9.2% -> 8.7% MAPE on
    the oneDNN-on board, 25.0% -> 20.0% on ONNX Runtime).

    Besides the node's own counts, the shape of its work per convolution group (channels in and
    out per group, MACs per group) and its output's spatial size: trees split on one column at a
    time and cannot form these ratios, yet a kernel's efficiency follows them (leave one family
    out on the two x86 boards: 10.3% -> 9.2% and 9.25% -> 8.9% MAPE with the learning rate 0.05).
    """
    cat = nodes["category"].map({c: i for i, c in enumerate(CATEGORIES)}).fillna(-1)
    logs = [np.log1p(nodes[c].to_numpy(float)) for c in _LOG_INPUTS]
    raw = [nodes[c].to_numpy(float) for c in _RAW_INPUTS]
    groups = np.maximum(nodes["groups"].to_numpy(float), 1.0)
    c_out = nodes["out_channels"].to_numpy(float)
    spatial = np.where(c_out > 0, nodes["out_elems"].to_numpy(float) / np.maximum(c_out, 1.0), 0.0)
    per_group = [
        np.log1p(nodes["in_channels"].to_numpy(float) / groups),
        np.log1p(c_out / groups),
        np.log1p(nodes["macs"].to_numpy(float) / groups),
        np.log1p(spatial),
    ]
    columns = [cat.to_numpy(float), *logs, *raw, *per_group]
    if ops is not None:
        op = nodes["op"] if "op" in nodes.columns else pd.Series("", index=nodes.index)
        columns.append(op.fillna("").astype(str).map(ops).to_numpy(float))  # NaN: unseen
    return np.column_stack(columns)


def kernel_macs(nodes: pd.DataFrame, tile: int) -> np.ndarray:
    """MACs per node as a GEMM kernel computes them: a grouped convolution's output channels
    per group rounded up to the kernel's register tile of ``tile`` channels (1: none).

    A grouped convolution runs one small GEMM per group (XNNPACK's IGEMM, oneDNN's and MLAS's
    grouped kernels), whose micro-kernel computes ``tile`` output channels at a time: with 1
    channel per group (a 7x7 depthwise convolution XNNPACK has no depthwise kernel for) 15 of
    16 lanes compute padding. Per tile-padded MAC the grouped convolutions of the ExecuTorch
    board on the Xeon cost 12-40 ps from 1 to 32 channels per group, per plain MAC 12-650 ps.
    """
    macs = nodes["macs"].to_numpy(float)
    if tile <= 1:
        return macs
    _, per_group, tiles, grouped = _output_tiles(nodes, tile)
    return np.where(grouped, macs * tiles * tile / np.maximum(per_group, 1.0), macs)


def _output_tiles(nodes: pd.DataFrame, tile: int) -> tuple[np.ndarray, ...]:
    """(groups, output channels per group, ``tile``-channel tiles per group, whether the node
    is a grouped convolution) per node: what :func:`kernel_macs` and :func:`kernel_steps` read."""
    groups = np.maximum(nodes["groups"].to_numpy(float), 1.0)
    per_group = nodes["out_channels"].to_numpy(float) / groups
    grouped = (nodes["category"].to_numpy() == "conv_grouped") & (per_group >= 1)
    return groups, per_group, np.ceil(per_group / tile), grouped


def kernel_steps(nodes: pd.DataFrame, tile: int) -> np.ndarray:
    """Micro-kernel steps of a grouped convolution: per group, output pixel and kernel tap,
    one step per ``tile`` of output channels (an indirect GEMM loads one input row per tap and
    tile, whatever the input channels per group); 0 for every other node.

    What its padded MACs leave out: per tile-padded MAC a 7x7 depthwise convolution run as
    IGEMM (1 input channel per group) costs 31-40 ps on the Xeon ExecuTorch board, grouped
    convolutions of 8-60 input channels per group 14-20. A linear cost in padded MACs and steps
    fitted on RegNet's, ResNeXt's and ShuffleNet's grouped convolutions predicts the random
    networks' at 1.08x their summed time (0.46x in padded MACs alone), the step costing
    19-23 ps whichever family is left out.
    """
    if tile <= 1:
        return np.zeros(len(nodes))
    groups, _, tiles, grouped = _output_tiles(nodes, tile)
    pixels = nodes["out_elems"].to_numpy(float) / np.maximum(
        nodes["out_channels"].to_numpy(float), 1.0
    )
    steps = groups * pixels * nodes["kernel"].to_numpy(float) * tiles
    return np.where(grouped, steps, 0.0)


def _node_linear_design(nodes: pd.DataFrame, tile: int) -> np.ndarray:
    """(1, millions of work units, MB moved, millions of kernel steps) per node: the work is
    MACs as the kernel computes them (:func:`kernel_macs`), and for a windowed op (pooling,
    resampling) its FLOPs, the window's adds a plain loop pays for; the steps a grouped
    convolution's (:func:`kernel_steps`).

    A portable window kernel (ExecuTorch's plain loops) costs its FLOPs alone: 10-13 ns per
    window element in InceptionV3/V4's stride-1 and ShuffleNet's stride-2 average pools alike
    (the ExecuTorch board on the Xeon), whose bytes per FLOP differ 4x; given the bytes too,
    the fit on ShuffleNet's pools put half their cost on bytes, and leaving InceptionV3/V4 out
    predicted their pools at 0.3-0.5x (leave one family out, op-level: 39.9% -> 22.1% MAPE on
    that family, 14.0% -> 13.2% overall).
    """
    nbytes = (nodes["act_bytes"] + nodes["param_bytes"] + nodes["out_bytes"]).to_numpy(float)
    category = nodes["category"].to_numpy()
    windowed = np.isin(category, list(WINDOW_CATEGORIES))
    work = np.where(windowed, nodes["flops"].to_numpy(float), kernel_macs(nodes, tile))
    nbytes = np.where(category == "portable_window", 0.0, nbytes)
    steps = kernel_steps(nodes, tile)
    return np.column_stack([np.ones(len(nodes)), work / 1e6, nbytes / 1e6, steps / 1e6])


@register
class OpLevelPredictor(Predictor, RegressorMixin, BaseEstimator):
    """Per-node latency model, summed over the graph, plus a fitted per-model overhead.

    Node model, fitted on the measured nodes of the calibration models (the ``latency_us``
    column of their node tables: in-context timings from the real forward pass by default, or
    isolated ones), one row per distinct node configuration:

    - per category, a non-negative linear cost ``t = a + b * MMACs + c * MB moved + d * M
      kernel steps`` (a launch overhead, a compute rate, a memory rate, a cost per step of an
      indirect GEMM; MACs as the kernel computes them, a grouped convolution's padded to its
      ``tile`` of output channels, and steps a grouped convolution's alone) — it extrapolates
      to ops larger than any seen;
    - times a correction factor learned by gradient boosting on log(measured / linear) from all
      node features (the node's ATen op, efficiency of small channel counts, kernel shapes,
      strides, work per convolution group...). Trees extrapolate flat: beyond the largest work
      of its category seen in calibration a node keeps the correction of the largest ones
      seen, fitted to a handful of nodes. So the correction fades out over a factor of
      ``extrapolation_span`` beyond it, leaving the linear cost, which extrapolates.

    Model level: latency = a * (sum of node predictions) + b * ops run + c * module_calls
    (+ memory terms for ops timed alone) + d, fitted on whole-model latencies; all >= 0 but b,
    the cost per op beyond its timed kernel, negative where profiling made small ops look
    slower. A node of a category never seen in calibration uses a linear cost fitted on all
    nodes, with a warning.
    """

    name = "oplevel"
    min_models = 6
    description = (
        "a per-op latency model learned from per-op timings (per-category linear cost times a "
        "boosted-tree correction), summed over the graph, plus per module call and per MB costs"
    )

    def __init__(
        self,
        max_iter: int = 200,
        learning_rate: float = 0.05,
        max_leaf_nodes: int = 31,
        random_state: int = 0,
        tile: int = 16,
        extrapolation_span: float = 4.0,
    ) -> None:
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.random_state = random_state
        self.tile = tile  # output channels per GEMM micro-kernel tile (kernel_macs)
        self.extrapolation_span = extrapolation_span

    def _nodes(self, X) -> tuple[NodeBatch, np.ndarray]:
        found = nodes_of(_frame(X))
        if found is None:
            raise ValueError(
                "the op-level predictor needs per-node features: use "
                "Features.with_node_batch() or .with_nodes() (featurize, then attach op timings)"
            )
        return found

    @staticmethod
    def _linear(design: np.ndarray, t: np.ndarray) -> np.ndarray:
        reg = LinearRegression(positive=True, fit_intercept=False)
        reg.fit(design, t, sample_weight=_weights(t))
        return reg.coef_

    def fit(self, X, y):
        nodes = self._nodes(X)
        measured = _timed_nodes(*nodes)
        if len(measured) < 20:
            raise ValueError(
                f"the op-level predictor needs per-op timings of the calibration models; only "
                f"{len(measured)} timed nodes were given (calibrate with per-op timing, or use "
                "the additive predictor)"
            )
        self.op_codes_ = op_vocabulary(measured)
        design = node_design(measured, self.op_codes_)
        # One row per distinct configuration (hashing the rounded design; NaN is a value).
        rounded = pd.DataFrame(np.round(design, 6))
        key = rounded.groupby(list(rounded.columns), dropna=False, sort=True).ngroup()
        unique = (
            measured.assign(_key=key.to_numpy())
            .groupby("_key")
            .agg(
                {
                    **{c: "first" for c in measured.columns if c != "latency_us"},
                    "latency_us": "median",
                }
            )
        )
        t = unique["latency_us"].to_numpy(float)
        lin = _node_linear_design(unique, self.tile)
        self.global_coef_ = self._linear(lin, t)
        self.category_coef_ = {}
        self.work_max_ = {}  # the largest work per category seen: where trees stop knowing
        for cat, idx in unique.groupby("category").indices.items():
            if len(idx) >= 3:
                self.category_coef_[cat] = self._linear(lin[idx], t[idx])
            self.work_max_[cat] = float(lin[idx, 1].max())
        base = self._base(unique, lin)
        self.regressor_ = HistGradientBoostingRegressor(
            max_iter=self.max_iter,
            learning_rate=self.learning_rate,
            max_leaf_nodes=self.max_leaf_nodes,
            random_state=self.random_state,
            categorical_features=[0, design.shape[1] - 1],  # category, op
        ).fit(node_design(unique, self.op_codes_), np.log(t) - np.log(base))
        self.categories_ = sorted(set(unique["category"]))
        method = measured["method"] if "method" in measured.columns else pd.Series(dtype=object)
        self.timed_alone_ = bool((method == "isolated").mean() > 0.5)
        coef = _stage_fit(self._stage_design(X, nodes, warn=False), np.asarray(y, float),
                          [t in self.SIGNED_TERMS for t in self.STAGE_TERMS])  # fmt: skip
        self.stage_coef_ = dict(zip(self.STAGE_TERMS, (float(c) for c in coef[:-1]), strict=True))
        self.intercept_ms_ = float(coef[-1])
        return self

    # What the whole model adds to the node times: a cost per op the runtime runs, the eager
    # module calls (containers included) and, for ops timed alone (``method`` isolated),
    # streaming weights and activations through memory, which an op timed alone finds in
    # cache. In-context timings (the default) already carry that per-family bias, and the
    # memory terms are left out (leave one family out, oneDNN on / off / ONNX Runtime:
    # 8.9 / 8.5 / 10.7% with them, 8.7 / 8.4 / 10.4% without).
    STAGE_TERMS = ("op_sum_ms", "op_rows", "module_calls", "param_MB", "activation_MB")
    # The per-op term may be negative: a profiler's cost per kernel is measured on one op and
    # subtracted, yet what it adds varies (ONNX Runtime: NAS-Bench-201's small ops sum to more
    # than the un-profiled run, about 1 us per op). The whole-model fit removes what is left
    # (leave one family out on the ONNX Runtime board: 13.6% -> 10.4% MAPE).
    SIGNED_TERMS = frozenset({"op_rows"})

    def _stage_design(self, X, nodes, warn: bool = True) -> np.ndarray:
        X = _frame(X)
        batch, positions = nodes
        rows = batch.sizes[positions]  # the ops each model runs
        memory = float(getattr(self, "timed_alone_", True))  # a fit saved before: it had them
        return np.column_stack(
            [
                self._op_sums(nodes, warn),
                rows.astype(float),
                X["module_calls"].to_numpy(float),
                memory * X["param_bytes_read"].to_numpy(float) / 1e6,
                memory * (X["act_bytes_read"] + X["bytes_written"]).to_numpy(float) / 1e6,
            ]
        )

    def _linear_design(self, nodes: pd.DataFrame) -> np.ndarray:
        return _node_linear_design(nodes, getattr(self, "tile", 1))  # a fit saved before: 1

    def _base(self, nodes: pd.DataFrame, lin: np.ndarray | None = None) -> np.ndarray:
        """The per-category linear cost of each node (``lin``: its linear design, if at hand)."""
        lin = self._linear_design(nodes) if lin is None else lin
        cats = list(self.category_coef_)  # a category never fitted costs the global line
        table = np.vstack([*(self.category_coef_[c] for c in cats), self.global_coef_])
        which = nodes["category"].map({c: i for i, c in enumerate(cats)}).fillna(len(cats))
        coef = table[which.to_numpy(np.int64)]
        lin = lin[:, : table.shape[1]]  # a fit saved before the kernel steps: their columns
        return np.maximum((lin * coef).sum(axis=1), 1e-3)

    def node_latency_us(self, nodes: pd.DataFrame, warn: bool = True) -> np.ndarray:
        """Predicted latency of each node of a node table, in microseconds."""
        check_is_fitted(self)
        if len(nodes) == 0:
            return np.zeros(0)
        design = node_design(nodes, getattr(self, "op_codes_", None))  # None: a fit before ops
        lin = self._linear_design(nodes)
        correction = _few_rows_predict(self.regressor_, design) * self._trust(nodes, lin)
        pred = self._base(nodes, lin) * np.exp(correction)
        unseen = ~nodes["category"].isin(self.categories_).to_numpy()
        if unseen.any() and warn:
            cats = sorted(set(nodes.loc[unseen, "category"]))
            warnings.warn(
                f"op categories never seen in calibration: {cats}; their latency is "
                "estimated from a linear cost fitted on all ops",
                UserWarning,
                stacklevel=4,
            )
        return pred

    def _trust(self, nodes: pd.DataFrame, lin: np.ndarray | None = None) -> np.ndarray:
        """Weight of the boosted correction per node: 1 up to the largest work of its category
        seen in calibration, falling linearly in log work to 0 at ``extrapolation_span`` times
        it (an unseen category: 1; its linear cost is the global one).

        Leave one family out on the ExecuTorch boards, op-level: InceptionV3/V4's portable
        average pools, 3-15x larger than any ShuffleNet pool, took a correction of 1.2-1.6 from
        ShuffleNet's largest, on a linear cost within 0.9-1.3x of their times.
        """
        top = getattr(self, "work_max_", None)  # a fit saved before: the full correction
        if not top or self.extrapolation_span <= 1:
            return np.ones(len(nodes))
        work = (self._linear_design(nodes) if lin is None else lin)[:, 1]
        largest = nodes["category"].map(top).to_numpy(float)
        beyond = np.log(np.maximum(work, 1e-12) / np.maximum(largest, 1e-12))
        beyond = np.where(np.isnan(largest), 0.0, np.maximum(beyond, 0.0))
        return np.clip(1.0 - beyond / np.log(self.extrapolation_span), 0.0, 1.0)

    def _node_ms(self, nodes: tuple[NodeBatch, np.ndarray], warn: bool = True):
        """(ms of every node of the selected models, its owner row, its configuration, the
        configurations): the node model runs once per distinct configuration in use."""
        batch, positions = nodes
        # node tables written before the op column lack it (their op is unknown to the trees)
        configs, codes = batch.configs(tuple(c for c in NODE_INPUTS if c in batch.table.columns))
        idx, owner = batch.rows(positions)
        code = codes[idx]
        used = np.flatnonzero(np.bincount(code, minlength=len(configs)))
        remap = np.zeros(len(configs), np.int64)
        remap[used] = np.arange(len(used))
        configs = configs.iloc[used]
        per_config = self.node_latency_us(configs, warn) / 1e3
        return per_config[remap[code]], owner, remap[code], configs

    def _op_sums(self, nodes: tuple[NodeBatch, np.ndarray], warn: bool = True) -> np.ndarray:
        """Sum of predicted node latencies per model, in ms (all nodes predicted in one batch)."""
        per_node, owner, _, _ = self._node_ms(nodes, warn)
        return np.bincount(owner, weights=per_node, minlength=len(nodes[1]))

    def predict(self, X):
        check_is_fitted(self)
        coef = np.array([self.stage_coef_.get(t, 0.0) for t in self.STAGE_TERMS])
        return self._stage_design(X, self._nodes(X)) @ coef + self.intercept_ms_

    def breakdown(self, X: pd.DataFrame) -> pd.DataFrame:
        """Predicted ms per kind of work: node costs by category, module calls, memory traffic."""
        check_is_fitted(self)
        X = _frame(X)
        coef = self.stage_coef_
        nodes = self._nodes(X)
        per_node, owner, config, configs = self._node_ms(nodes, warn=False)
        kinds = list(KINDS)
        # a category of no kind (a node table written elsewhere) is "other" work: predict
        # counts every node, and so does the breakdown
        kind = configs["category"].map(
            {c: i for i, k in enumerate(kinds) for c in KINDS[k]}
        ).fillna(kinds.index("other")).to_numpy(np.int64)[config]  # fmt: skip
        n = len(X)
        sums = np.bincount(
            owner * len(kinds) + kind,
            weights=per_node * coef["op_sum_ms"],
            minlength=n * len(kinds),
        ).reshape(n, len(kinds))
        out = pd.DataFrame(sums, columns=kinds, index=X.index)
        out["per op"] = coef.get("op_rows", 0.0) * nodes[0].sizes[nodes[1]]
        out["module calls"] = coef["module_calls"] * X["module_calls"].to_numpy(float)
        out["memory traffic"] = (
            coef["param_MB"] * X["param_bytes_read"].to_numpy(float) / 1e6
            + coef["activation_MB"]
            * (X["act_bytes_read"] + X["bytes_written"]).to_numpy(float)
            / 1e6
        )
        out["fixed"] = self.intercept_ms_
        return out


def _stage_fit(A: np.ndarray, y: np.ndarray, signed: list[bool]) -> np.ndarray:
    """Coefficients of ``y ~ A @ c + intercept`` (intercept last) minimising the squared
    relative error; each coefficient is >= 0 except those ``signed`` says may be negative."""
    from scipy.optimize import lsq_linear

    w = np.sqrt(_weights(y))  # rows scaled by 1 / y: squared relative errors
    A1 = np.column_stack([A, np.ones(len(A))])
    scale = np.abs(A1).max(axis=0)  # columns of one size: a tolerant solver
    used = scale > 0  # a term that is zero everywhere gets no coefficient
    lower = np.array([-np.inf if s else 0.0 for s in [*signed, False]])
    coef = np.zeros(A1.shape[1])
    fit = lsq_linear(A1[:, used] / scale[used] * w[:, None], y * w, bounds=(lower[used], np.inf))
    coef[used] = fit.x / scale[used]
    return coef


def _few_rows_predict(regressor, design: np.ndarray) -> np.ndarray:
    """``regressor.predict``; on few rows in one thread: each of its trees is a parallel region,
    and on a busy machine waking threads for a few dozen rows costs 100x the work."""
    if len(design) >= 20_000:
        return regressor.predict(design)
    with _threadpools().limit(limits=1, user_api="openmp"):
        return regressor.predict(design)


@functools.cache
def _threadpools():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()  # finding the loaded thread pools takes ms: once


# What a node measured at zero took: less than its profiler's resolution, not nothing, and not
# unmeasured. ETDump's XNNPACK events count whole microseconds, and the zeros on the shipped
# boards are theirs (2,220 of the ExecuTorch board's 12,094 node rows; 8 of the eager board's
# 76,412), so half a microsecond. Left out instead, the small adds, clamps and copies that ran
# fastest were missing from the node model's data, and it learnt small ops as slower than they
# run (leave one family out on the ExecuTorch board's first 108 models, op-level: 14.9% ->
# 14.3% MAPE, ViT 58.8% -> 40.6%).
BELOW_RESOLUTION_US = 0.5


def _timed_index(batch: NodeBatch, positions: np.ndarray) -> np.ndarray:
    """Rows of ``batch.table`` holding the measured nodes (latency_us >= 0) of the models at
    ``positions``, in order. A negative time (a profiler's cost per kernel subtracted from a
    smaller one) says nothing of the node and is left out."""
    if "latency_us" not in batch.table.columns:
        return np.zeros(0, np.int64)
    idx, _ = batch.rows(positions)
    lat = batch.table["latency_us"].to_numpy(float)[idx]
    return idx[~np.isnan(lat) & (lat >= 0)]


def _timed_nodes(batch: NodeBatch, positions: np.ndarray) -> pd.DataFrame:
    """The measured nodes of the models at ``positions``, in order; a zero is
    :data:`BELOW_RESOLUTION_US`."""
    nodes = batch.table.take(_timed_index(batch, positions)).reset_index(drop=True)
    if "latency_us" not in nodes.columns:
        return nodes
    lat = nodes["latency_us"].to_numpy(float)
    return nodes.assign(latency_us=np.where(lat > 0, lat, BELOW_RESOLUTION_US))


class GeometricBlend(RegressorMixin, BaseEstimator):
    """``a(x) ** weight * b(x) ** (1 - weight)``: two predictors fitted on the same rows, blended.

    Two predictors that err differently (a node model that extrapolates a family of ops it saw
    little of; a few whole-model rates that miss what the nodes know) err less blended than
    either alone, and a weighted geometric mean keeps the blend a ratio, the quantity relative
    error measures. The full predictor offers a few weights as candidates; the guard judges
    each from its parts' held-out predictions (:meth:`combine`), with no extra fits.
    """

    def __init__(self, parts: tuple = (), weight: float = 0.5) -> None:
        self.parts = parts
        self.weight = weight

    def combine(self, predictions: list[np.ndarray]) -> np.ndarray:
        """The blend of the parts' predictions (NaN where any part has none)."""
        a, b = (np.log(np.maximum(np.asarray(p, float), 1e-6)) for p in predictions)
        return np.exp(self.weight * a + (1.0 - self.weight) * b)

    def fit(self, X, y):
        if len(self.parts) != 2:
            raise ValueError("a blend needs two predictors")
        self.fitted_ = [clone(p).fit(X, y) for p in self.parts]
        return self

    def predict(self, X):
        check_is_fitted(self)
        return self.combine([f.predict(X) for f in self.fitted_])

    @property
    def mac_only_(self) -> bool:
        """Whether a part is MAC-only (the blend then mixes in the baseline, not a fit)."""
        return any(getattr(f, "mac_only_", False) for f in self.fitted_)

    def breakdown(self, X: pd.DataFrame) -> pd.DataFrame:
        """Each part's breakdown scaled to the blend and weighted: rows sum to the prediction."""
        check_is_fitted(self)
        preds = [f.predict(X) for f in self.fitted_]  # each part's node model runs once
        total = self.combine(preds)
        out = None
        for f, p, w in zip(self.fitted_, preds, (self.weight, 1.0 - self.weight), strict=True):
            part = f.breakdown(X).mul(w * total / np.maximum(p, 1e-6), axis=0)
            out = part if out is None else out.add(part, fill_value=0.0)
        return out


@register
class FullPredictor(_KeepsFittedPrior, Predictor, RegressorMixin, BaseEstimator):
    """The best predictor for the data at hand, and never worse than MAC-only on it.

    Candidates: op-level when the calibration models come with per-op timings (and are enough
    for it); the cross-validated additive predictor, adapting ``prior`` when one is given and
    also fitted here alone (where the runtime leaves work to fallback kernels, also MACs plus
    that work alone); from ten models MACs plus the weights streamed; and, beside
    op-level, its weighted geometric means with each of the others (:class:`GeometricBlend`).
    The one with the lowest cross-validated error is taken (the guard's folds; with
    ``guard=False``, the first: op-level, else the one adapting the prior), unless its fit on all
    rows is MAC-only itself (then the next). Op-level does not always win where per-op timings
    exist: on ExecuTorch's, leave one family out, it ties kernels only one family runs to what
    little the others saw (14.5% MAPE, against 14.2% for the choice among all candidates,
    mostly blends with MACs + weights; the 7x7 depthwise convolutions of the random networks,
    10x slower per MAC than 5x5 ones, were one such kernel until the lowering priced them as the
    grouped convolutions XNNPACK runs them as).
    It is used only when cross-validation inside the calibration set shows it beats MAC-only (by
    ``margin`` paired standard errors; :mod:`costmodel.predict.guard`), otherwise the fit is
    MAC-only, the baseline it is compared with (``guard=False`` skips that check).
    """

    name = "full"
    min_models = 3
    # A rate per MB of weights competes from ten models on: with five, leave-one-out picked it
    # by chance on the eager boards (k = 5, oneDNN off: 51.7% against MAC-only's 43.7%).
    WEIGHTS_MIN_MODELS = 10
    # weights of the node model in its blends with whole-model fits
    BLEND_WEIGHTS = (0.25, 0.5, 0.75)
    description = (
        "the best for the data by cross-validation: oplevel (with per-op timings), additive "
        "(with --prior, also adapting other boards' predictors), MACs + weights, or a blend of "
        "oplevel with one of them; MAC-only where cross-validation on the calibration set does "
        "not show it better"
    )

    def __init__(
        self,
        prior=None,
        max_iter: int = 200,
        se_rule: float = 1.0,
        guard: bool = True,
        margin: float = 0.0,
    ) -> None:
        self.prior = prior
        self.max_iter = max_iter
        self.se_rule = se_rule
        self.guard = guard
        self.margin = margin

    def _candidates(self, X: pd.DataFrame) -> list:
        nodes = nodes_of(X)
        has_ops = nodes is not None and len(_timed_index(*nodes)) > 0
        out = []
        if has_ops and len(X) >= OpLevelPredictor.min_models:
            out.append(OpLevelPredictor(max_iter=self.max_iter))
        fallback = not has_ops and design(X, RUNTIME_BASE).any()
        # Beside the additive fit adapting the prior, one fitted here alone: another board's
        # shape can mislead more than a few terms fitted here, and then the candidates with a
        # prior are a superset of those without it.
        priors = [None] if self.prior is None else [self.prior, None]
        for prior in priors:
            out.append(AdditivePredictor(prior=prior, se_rule=self.se_rule))
            if fallback:
                # MACs and the runtime's fallback work alone: a few physical terms that hold
                # where richer term sets fit too few such models to extrapolate
                out.append(AdditivePredictor(prior=prior, term_sets=(), se_rule=self.se_rule))
        if len(X) >= self.WEIGHTS_MIN_MODELS:
            # MACs and the weights streamed: one memory rate, where richer sets overfit
            out.append(AdditivePredictor(term_sets=("weights",), se_rule=self.se_rule))
        if out and isinstance(out[0], OpLevelPredictor):
            # the node model blended with each whole-model fit: they err on different families
            out += [
                GeometricBlend((out[0], other), w) for other in out[1:] for w in self.BLEND_WEIGHTS
            ]
        return out

    def fit(self, X, y):
        from costmodel.predict.guard import choose_against_mac

        X = _frame(X)
        candidates = self._candidates(X)
        self.guard_ = None
        if not self.guard:
            self.estimator_ = clone(candidates[0]).fit(X, y)
        else:
            fitted: dict[int, object] = {}

            def beyond_mac(i: int) -> bool:
                # a candidate whose own selection, on all rows, keeps MAC-only terms is the
                # baseline: the held-out error that ranked it came from richer fold fits
                fitted[i] = clone(candidates[i]).fit(X, y)
                return not getattr(fitted[i], "mac_only_", False)

            best, report = choose_against_mac(
                candidates, MacPredictor(), X, y, _families(X), self.margin, usable=beyond_mac
            )
            self.estimator_ = fitted[best] if report.kept else MacPredictor().fit(X, y)
            self.guard_ = report.as_dict()
        self.kind_ = type(self.estimator_).__name__
        return self

    def predict(self, X):
        check_is_fitted(self)
        return self.estimator_.predict(X)

    def breakdown(self, X: pd.DataFrame) -> pd.DataFrame:
        check_is_fitted(self)
        return self.estimator_.breakdown(X)


__all__ = [
    "AdditivePredictor",
    "ConstantPredictor",
    "FullPredictor",
    "MacPredictor",
    "OpLevelPredictor",
    "PREDICTORS",
    "make_predictor",
]
