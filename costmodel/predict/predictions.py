"""Predicting a whole feature table at once: one predictions table for any number of candidates.

:func:`predict_table` takes what :func:`~costmodel.predict.features.featurize` gave (or its
feature table) and a profile or fitted predictor, and returns one row per model: the predicted
latency, the profile's interval, the MAC-only baseline, the work counted and the number of ops
with no formula (costed as copies, see :mod:`costmodel.predict.unknown`). Every predictor's
``predict`` is array operations over all rows, so featurising is the only per-model cost; a
search over a space featurised once predicts 10,000s of candidates per second
(``benchmarks/predict_speed.py``). :func:`~costmodel.predict.workflow.predict_specs` is
featurise-then-this.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from costmodel.predict.features import Features, featurize
from costmodel.predict.prior import MultiBoardPrior, as_prior, prior_columns
from costmodel.predict.unknown import cost_unknown_as_copies

Variant = tuple[bool, str]  # (prune_dead, runtime): which graph the features count
VariantFeatures = Callable[[Variant], Any] | Mapping[Variant, Any]


def feature_table(features: Features | pd.DataFrame) -> pd.DataFrame:
    """The feature table of ``features`` with its nodes as one long table (a DataFrame as is)."""
    if isinstance(features, Features):
        return features.with_node_batch()
    if isinstance(features, pd.DataFrame):
        return features
    raise TypeError(
        f"predict_table takes the Features of featurize() or their feature DataFrame, not "
        f"{type(features).__name__}"
    )


def with_prior_columns(
    X: pd.DataFrame,
    prior: MultiBoardPrior,
    own: tuple[Variant, pd.DataFrame] | None = None,
    features_for: VariantFeatures | None = None,
    input_shape: tuple[int, ...] | None = None,
    n_jobs: int = 1,
) -> pd.DataFrame:
    """``X`` with the prior's source predictions, each source reading its own feature variant:
    ``own`` (variant, its table) where it matches, else ``features_for(variant)`` (a callable or
    mapping giving Features or a table), else the index's specs featurised in that variant."""
    tables: dict[Variant, pd.DataFrame] = dict([own]) if own is not None else {}
    specs = list(X.index)

    def variant(v: Variant) -> pd.DataFrame:
        if v not in tables:
            if features_for is None:
                got = featurize(specs, input_shape=input_shape, prune_dead=v[0], runtime=v[1],
                                n_jobs=n_jobs, errors="skip")  # fmt: skip
            else:
                got = features_for[v] if isinstance(features_for, Mapping) else features_for(v)
            tables[v] = got.with_node_batch(specs) if isinstance(got, Features) else got
        return tables[v]

    return prior_columns(X, prior, variant)


def _parts(model: Any) -> tuple[Any, Any, tuple[float, float] | None, Variant | None]:
    """(predictor, MAC-only baseline, interval, feature variant) of a profile or predictor."""
    if hasattr(model, "predictor") and hasattr(model, "baseline"):  # a Profile
        variant = (bool(model.prune_dead), str(getattr(model, "runtime", "eager")))
        return model.predictor, model.baseline, tuple(model.interval), variant
    if hasattr(model, "predict"):
        return model, None, None, None
    raise TypeError(f"predict_table takes a Profile or a fitted predictor, not {type(model)}")


def predict_table(
    model: Any,
    features: Features | pd.DataFrame,
    breakdown: bool = False,
    features_for: VariantFeatures | None = None,
    input_shape: tuple[int, ...] | None = None,
    n_jobs: int = 1,
) -> pd.DataFrame:
    """Predictions for every model of ``features``, one row each, indexed by model.

    ``model``: a :class:`~costmodel.predict.profile.Profile` (columns ``predicted_ms``,
    ``low_ms``/``high_ms`` — its 5th..95th percentile interval — and ``mac_only_ms``) or a
    fitted predictor (``predicted_ms`` only); then ``MMACs``, ``params_M`` and ``unknown_ops``.
    ``features``: the :class:`Features` of :func:`featurize` (counted in the profile's
    variant: its ``prune_dead`` and runtime) or its feature table. ``breakdown`` adds the
    predicted ms per kind of work. A predictor adapting a multi-board prior needs each source's
    feature variant: ``features_for`` gives them (see :func:`with_prior_columns`), else the
    models (their index must be specs) are featurised in it, at ``input_shape``.
    """
    predictor, baseline, interval, variant = _parts(model)
    X0 = feature_table(features)
    if X0.empty:
        return pd.DataFrame(index=pd.Index([], name="model"))
    X = cost_unknown_as_copies(X0)  # never free: see costmodel.predict.unknown
    prior = as_prior(getattr(predictor, "prior", None))
    if prior is not None:
        own = (variant, X0) if variant is not None else None
        X = with_prior_columns(X, prior, own, features_for, input_shape, n_jobs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pred = np.asarray(predictor.predict(X), float)
    columns: dict[str, Any] = {"predicted_ms": pred}
    if interval is not None:
        columns["low_ms"] = pred * (1 + interval[0])
        columns["high_ms"] = pred * (1 + interval[1])
        columns["mac_only_ms"] = np.asarray(baseline.predict(X), float)
    columns["MMACs"] = X["macs"].to_numpy(float) / 1e6
    columns["params_M"] = X["params"].to_numpy(float) / 1e6
    columns["unknown_ops"] = X["unknown_ops"].to_numpy().astype(int)
    table = pd.DataFrame(columns, index=X.index)
    if breakdown:
        table = table.join(predictor.breakdown(X))
    return table
