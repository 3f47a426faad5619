"""Latency predictors as scikit-learn estimators: constant, MAC-only, additive, op-level, transfer.

``X`` is the per-model feature table of :func:`costmodel.predict.features.featurize` (one row per
model); the op-level predictor also reads its ``node_table`` column (one per-node table per model,
with measured per-op latencies where calibration took them). ``y`` is latency in milliseconds.
Hyper-parameters are stored untouched in ``__init__``; fitted state ends in ``_``; every
estimator works with ``sklearn.base.clone`` and sklearn's cross-validation tools.

Fits minimise *relative* squared error (sample weights 1 / y^2), the quantity MAPE and ±10%
accuracy measure; otherwise the largest models would decide every coefficient.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.utils.validation import check_is_fitted

from costmodel.analysis.ops import CATEGORIES


def _weights(y: np.ndarray) -> np.ndarray:
    return 1.0 / np.square(np.maximum(np.asarray(y, float), 1e-9))


def _frame(X) -> pd.DataFrame:
    if not isinstance(X, pd.DataFrame):
        raise TypeError("costmodel predictors take the feature DataFrame of featurize()")
    return X


class ConstantPredictor(RegressorMixin, BaseEstimator):
    """Predicts the calibration models' median latency for everything (the floor to beat)."""

    def fit(self, X, y):
        self.median_ = float(np.median(np.asarray(y, float)))
        return self

    def predict(self, X):
        check_is_fitted(self)
        return np.full(len(X), self.median_)


class MacPredictor(RegressorMixin, BaseEstimator):
    """latency = a * MACs + b with a, b >= 0 (``proportional=True``: b = 0) — MACs as used today."""

    def __init__(self, proportional: bool = False) -> None:
        self.proportional = proportional

    def fit(self, X, y):
        X = _frame(X)
        reg = LinearRegression(positive=True, fit_intercept=not self.proportional)
        reg.fit(X[["macs"]].to_numpy(float) / 1e6, np.asarray(y, float), sample_weight=_weights(y))
        self.ms_per_mmac_ = float(reg.coef_[0])
        self.intercept_ms_ = float(reg.intercept_) if not self.proportional else 0.0
        return self

    def predict(self, X):
        check_is_fitted(self)
        return self.ms_per_mmac_ * _frame(X)["macs"].to_numpy(float) / 1e6 + self.intercept_ms_


# The additive model's terms: each a sum of feature columns, with a unit so that its coefficient
# reads as a physical cost.
ADDITIVE_TERMS: dict[str, tuple[tuple[str, ...], float, str]] = {
    "conv_dense_macs": (("conv_dense_macs",), 1e6, "ms per MMAC"),
    "conv_pointwise_macs": (("conv_pointwise_macs",), 1e6, "ms per MMAC"),
    "conv_depthwise_macs": (("conv_depthwise_macs",), 1e6, "ms per MMAC"),
    "conv_grouped_macs": (("conv_grouped_macs",), 1e6, "ms per MMAC"),
    "dense_macs": (("linear_macs", "matmul_macs", "attention_macs"), 1e6, "ms per MMAC"),
    "elementwise_bytes": (("elementwise_bytes", "activation_bytes"), 1e6, "ms per MB"),
    "norm_bytes": (("batchnorm_bytes", "layernorm_bytes", "groupnorm_bytes"), 1e6, "ms per MB"),
    "movement_bytes": (("concat_bytes", "copy_bytes", "pad_bytes", "shuffle_bytes"), 1e6,
                       "ms per MB"),
    "pool_bytes": (("pooling_bytes", "reduction_bytes", "softmax_bytes", "interpolate_bytes"),
                   1e6, "ms per MB"),
    "ops": (("logical_ops",), 1.0, "ms per op"),
    "module_calls": (("module_calls",), 1.0, "ms per module call"),
    "conv_groups": (("conv_groups",), 1.0, "ms per convolution group"),
}  # fmt: skip


def additive_design(X: pd.DataFrame, terms=ADDITIVE_TERMS) -> np.ndarray:
    cols = []
    for columns, scale, _ in terms.values():
        present = [c for c in columns if c in X.columns]
        cols.append(X[present].sum(axis=1).to_numpy(float) / scale if present else np.zeros(len(X)))
    return np.column_stack(cols)


class AdditivePredictor(RegressorMixin, BaseEstimator):
    """latency = sum of non-negative costs per category term (see :data:`ADDITIVE_TERMS`) + c.

    A ridge penalty ``alpha`` (on terms scaled to unit median) keeps the many coefficients
    stable when only a few dozen models are available; ``coefficients_`` reads as physical
    costs (ms per MMAC of depthwise convolution, ms per MB copied, ms per module call).
    """

    def __init__(self, alpha: float = 1e-3) -> None:
        self.alpha = alpha

    def fit(self, X, y):
        A = additive_design(_frame(X))
        self.scale_ = np.where(
            np.median(np.abs(A), axis=0) > 0,
            np.median(np.abs(A), axis=0),
            np.maximum(A.max(axis=0), 1.0),
        )
        reg = Ridge(alpha=self.alpha, positive=True, fit_intercept=True)
        reg.fit(A / self.scale_, np.asarray(y, float), sample_weight=_weights(y))
        self.coef_ = reg.coef_ / self.scale_
        self.intercept_ms_ = max(float(reg.intercept_), 0.0)
        self.coefficients_ = {
            name: (float(c), unit)
            for (name, (_, _, unit)), c in zip(ADDITIVE_TERMS.items(), self.coef_, strict=True)
        }
        return self

    def predict(self, X):
        check_is_fitted(self)
        return additive_design(_frame(X)) @ self.coef_ + self.intercept_ms_


def node_design(nodes: pd.DataFrame) -> np.ndarray:
    """Numeric per-node features (log-scaled sizes, category code) for the node regressor."""
    cat = nodes["category"].map({c: i for i, c in enumerate(CATEGORIES)}).fillna(-1)
    logs = [
        np.log1p(nodes[c].to_numpy(float))
        for c in ("macs", "flops", "act_bytes", "param_bytes", "out_bytes", "out_elems", "params")
    ]
    raw = [
        nodes[c].to_numpy(float)
        for c in (
            "groups",
            "kernel",
            "stride",
            "in_channels",
            "out_channels",
            "n_aten_ops",
            "is_copy",
        )
    ]
    return np.column_stack([cat.to_numpy(float), *logs, *raw])


def _node_linear_design(nodes: pd.DataFrame) -> np.ndarray:
    nbytes = (nodes["act_bytes"] + nodes["param_bytes"] + nodes["out_bytes"]).to_numpy(float)
    return np.column_stack([np.ones(len(nodes)), nodes["macs"].to_numpy(float) / 1e6, nbytes / 1e6])


class OpLevelPredictor(RegressorMixin, BaseEstimator):
    """Per-node latency model, summed over the graph, plus a fitted per-model overhead.

    Node model, fitted on the measured nodes of the calibration models (the ``latency_us``
    column of their node tables: in-context timings from the real forward pass by default, or
    isolated ones), one row per distinct node configuration:

    - per category, a non-negative linear cost ``t = a + b * MMACs + c * MB moved`` (a launch
      overhead, a compute rate, a memory rate) — it extrapolates to ops larger than any seen;
    - times a correction factor learned by gradient boosting on log(measured / linear) from all
      node features (efficiency of small channel counts, kernel shapes, strides...).

    Model level: latency = a * (sum of node predictions) + b * module_calls + c, a, b, c >= 0,
    fitted on whole-model latencies. A node of a category never seen in calibration uses a
    linear cost fitted on all nodes, with a warning.
    """

    def __init__(
        self,
        max_iter: int = 200,
        learning_rate: float = 0.1,
        max_leaf_nodes: int = 31,
        random_state: int = 0,
    ) -> None:
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.random_state = random_state

    def _nodes(self, X) -> list[pd.DataFrame]:
        X = _frame(X)
        if "node_table" not in X.columns:
            raise ValueError(
                "the op-level predictor needs per-node features: use "
                "Features.with_nodes() (featurize, then attach op timings)"
            )
        return list(X["node_table"])

    @staticmethod
    def _linear(design: np.ndarray, t: np.ndarray) -> np.ndarray:
        reg = LinearRegression(positive=True, fit_intercept=False)
        reg.fit(design, t, sample_weight=_weights(t))
        return reg.coef_

    def fit(self, X, y):
        tables = self._nodes(X)
        timed = [
            t[t["latency_us"].notna() & (t["latency_us"] > 0)] for t in tables if "latency_us" in t
        ]
        measured = pd.concat(timed, ignore_index=True) if timed else pd.DataFrame()
        if len(measured) < 20:
            raise ValueError(
                f"the op-level predictor needs per-op timings of the calibration models; only "
                f"{len(measured)} timed nodes were given (calibrate with per-op timing, or use "
                "the additive predictor)"
            )
        design = node_design(measured)
        key = pd.DataFrame(design).round(6).astype(str).agg("|".join, axis=1).to_numpy()
        unique = (
            measured.assign(_key=key)
            .groupby("_key")
            .agg(
                {
                    **{c: "first" for c in measured.columns if c != "latency_us"},
                    "latency_us": "median",
                }
            )
        )
        t = unique["latency_us"].to_numpy(float)
        lin = _node_linear_design(unique)
        self.global_coef_ = self._linear(lin, t)
        self.category_coef_ = {}
        for cat, idx in unique.groupby("category").indices.items():
            if len(idx) >= 3:
                self.category_coef_[cat] = self._linear(lin[idx], t[idx])
        base = self._base(unique)
        self.regressor_ = HistGradientBoostingRegressor(
            max_iter=self.max_iter,
            learning_rate=self.learning_rate,
            max_leaf_nodes=self.max_leaf_nodes,
            random_state=self.random_state,
            categorical_features=[0],
        ).fit(node_design(unique), np.log(t) - np.log(base))
        self.categories_ = sorted(set(unique["category"]))
        stage = LinearRegression(positive=True, fit_intercept=True)
        stage.fit(
            self._stage_design(X, tables, warn=False),
            np.asarray(y, float),
            sample_weight=_weights(y),
        )
        self.stage_coef_ = dict(zip(self.STAGE_TERMS, (float(c) for c in stage.coef_), strict=True))
        self.intercept_ms_ = max(float(stage.intercept_), 0.0)
        return self

    # What the whole model adds to the node times: the eager module calls (containers
    # included) and, for ops timed alone (``method`` isolated), streaming weights and
    # activations through memory, which an op timed alone finds in cache. In-context timings
    # (the default) already carry that per-family bias; the stage then mostly learns the
    # between-ops time per module call.
    STAGE_TERMS = ("op_sum_ms", "module_calls", "param_MB", "activation_MB")

    def _stage_design(self, X, tables, warn: bool = True) -> np.ndarray:
        X = _frame(X)
        return np.column_stack(
            [
                self._op_sums(tables, warn),
                X["module_calls"].to_numpy(float),
                X["param_bytes_read"].to_numpy(float) / 1e6,
                (X["act_bytes_read"] + X["bytes_written"]).to_numpy(float) / 1e6,
            ]
        )

    def _base(self, nodes: pd.DataFrame) -> np.ndarray:
        lin = _node_linear_design(nodes)
        coef = np.array([self.category_coef_.get(c, self.global_coef_) for c in nodes["category"]])
        return np.maximum((lin * coef).sum(axis=1), 1e-3)

    def node_latency_us(self, nodes: pd.DataFrame, warn: bool = True) -> np.ndarray:
        """Predicted latency of each node of one model, in microseconds."""
        check_is_fitted(self)
        if len(nodes) == 0:
            return np.zeros(0)
        pred = self._base(nodes) * np.exp(self.regressor_.predict(node_design(nodes)))
        unseen = ~nodes["category"].isin(self.categories_).to_numpy()
        if unseen.any() and warn:
            cats = sorted(set(nodes.loc[unseen, "category"]))
            warnings.warn(
                f"op categories never seen in calibration: {cats}; their latency is "
                "estimated from a linear cost fitted on all ops",
                UserWarning,
                stacklevel=3,
            )
        return pred

    def _op_sums(self, tables, warn: bool = True) -> np.ndarray:
        """Sum of predicted node latencies per model, in ms (all nodes predicted in one batch)."""
        sizes = np.array([len(t) for t in tables])
        if sizes.sum() == 0:
            return np.zeros(len(tables))
        nodes = pd.concat([t for t in tables if len(t)], ignore_index=True)
        per_node = self.node_latency_us(nodes, warn) / 1e3
        owner = np.repeat(np.arange(len(tables)), sizes)
        return np.bincount(owner, weights=per_node, minlength=len(tables))

    def predict(self, X):
        check_is_fitted(self)
        coef = np.array([self.stage_coef_[t] for t in self.STAGE_TERMS])
        return self._stage_design(X, self._nodes(X)) @ coef + self.intercept_ms_


class _KeepsFittedPrior:
    """``sklearn.clone`` would replace a fitted ``prior`` by an unfitted copy; a clone of these
    estimators shares the (never modified) fitted prior instead."""

    def __sklearn_clone__(self):
        return type(self)(**self.get_params(deep=False))


class TransferPredictor(_KeepsFittedPrior, RegressorMixin, BaseEstimator):
    """A predictor fitted on another board, adapted to this one with few measurements:
    latency = a * prior(X) + b * module_calls + c * conv_groups + d, all >= 0.

    The prior carries what boards share (which ops cost what relative to each other); the few
    new terms absorb what differs most between CPU builds: framework overhead per module call,
    and the per-group loop of grouped convolutions on builds without native grouped kernels.
    ``prior`` is left unchanged.
    """

    TERMS = ("prior_ms", "module_calls", "conv_groups")

    def __init__(self, prior=None) -> None:
        self.prior = prior

    def _design(self, X) -> np.ndarray:
        X = _frame(X)
        return np.column_stack(
            [
                self.prior.predict(X),
                X["module_calls"].to_numpy(float),
                X["conv_groups"].to_numpy(float),
            ]
        )

    def fit(self, X, y):
        if self.prior is None:
            raise ValueError("TransferPredictor needs a fitted prior predictor")
        stage = LinearRegression(positive=True, fit_intercept=True)
        stage.fit(self._design(X), np.asarray(y, float), sample_weight=_weights(y))
        self.coef_ = dict(zip(self.TERMS, (float(c) for c in stage.coef_), strict=True))
        self.intercept_ms_ = max(float(stage.intercept_), 0.0)
        return self

    def predict(self, X):
        check_is_fitted(self)
        coef = np.array([self.coef_[t] for t in self.TERMS])
        return self._design(X) @ coef + self.intercept_ms_


class FullPredictor(_KeepsFittedPrior, RegressorMixin, BaseEstimator):
    """The best predictor for the data at hand: op-level when the calibration models come with
    per-op timings, additive otherwise; with a ``prior`` profile's predictor, a transfer of it."""

    def __init__(self, prior=None, alpha: float = 1e-3, max_iter: int = 200) -> None:
        self.prior = prior
        self.alpha = alpha
        self.max_iter = max_iter

    def fit(self, X, y):
        X = _frame(X)
        has_ops = "node_table" in X.columns and any(
            "latency_us" in t and t["latency_us"].notna().sum() > 0 for t in X["node_table"]
        )
        if self.prior is not None:
            self.estimator_ = TransferPredictor(prior=self.prior)
        elif has_ops:
            self.estimator_ = OpLevelPredictor(max_iter=self.max_iter)
        else:
            self.estimator_ = AdditivePredictor(alpha=self.alpha)
        self.estimator_.fit(X, y)
        self.kind_ = type(self.estimator_).__name__
        return self

    def predict(self, X):
        check_is_fitted(self)
        return self.estimator_.predict(X)


PREDICTORS = {
    "constant": ConstantPredictor,
    "mac": MacPredictor,
    "additive": AdditivePredictor,
    "oplevel": OpLevelPredictor,
    "full": FullPredictor,
}


def make_predictor(name: str, **params):
    """A fresh predictor by name (``mac``, ``additive``, ``oplevel``, ``full``, ``constant``)."""
    if name not in PREDICTORS:
        raise KeyError(f"unknown predictor {name!r}; use one of {', '.join(PREDICTORS)}")
    return PREDICTORS[name](**params)


__all__ = [
    "AdditivePredictor",
    "ConstantPredictor",
    "FullPredictor",
    "MacPredictor",
    "OpLevelPredictor",
    "PREDICTORS",
    "TransferPredictor",
    "make_predictor",
]
