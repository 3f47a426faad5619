"""A multi-board prior: what other boards' fitted predictors say about a model, as features.

Each *source* is a predictor fitted on one board (a shipped profile, or any fitted estimator),
with the feature variant it reads (its runtime's lowering, ``prune_dead``) and what it was
calibrated on. For a new board
the prior contributes one column per source: that board's predicted latency. Predicted
milliseconds of another board are a unit that transfers up to a scale: the adapting predictor
(:class:`~costmodel.predict.estimators.AdditivePredictor` with ``prior=``) fits
``s * prior_b(x)`` for the source whose shape cross-validates best on the new board's timings,
and shrinks toward it (ridge corrections on the physical terms, strength by cross-validation), so
that a handful of timings fix the scale and more timings move away from the prior only as far
as the data supports.

Source predictions are computed once per model (:func:`prior_columns`) and carried in the
feature table as ``prior:<source>`` columns, so k-shot evaluation over thousands of draws never
re-runs a source predictor.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

PREFIX = "prior:"


@dataclass
class PriorSource:
    """One board's fitted predictor and what its features mean."""

    name: str
    predictor: Any
    prune_dead: bool = False
    families: list[str] = field(default_factory=list)
    models: int = 0
    runtime: str = "eager"

    @property
    def column(self) -> str:
        return PREFIX + self.name

    @property
    def variant(self) -> tuple[bool, str]:
        """The feature variant the source reads: (prune_dead, runtime)."""
        return (self.prune_dead, self.runtime)


@dataclass
class MultiBoardPrior:
    """Sources to adapt from; :meth:`without` leaves a board out (as the battery does)."""

    sources: list[PriorSource]

    @property
    def columns(self) -> list[str]:
        return [s.column for s in self.sources]

    def without(self, names: Sequence[str]) -> MultiBoardPrior:
        return MultiBoardPrior([s for s in self.sources if s.name not in set(names)])

    def for_runtime(self, runtime: str) -> MultiBoardPrior:
        """The sources that can speak for a board running ``runtime``: a source whose runtime
        leaves ops to fallback kernels (:data:`FALLBACK_RUNTIMES`) prices those ops as only its
        runtime runs them, so it is a prior for its own runtime alone. (ONNX Runtime, k = 5:
        the ExecuTorch board's shape, chosen on five calibration models without such ops, then
        predicted the held-out models with zero-padded pools and 7x7 depthwise convolutions at
        several times their latency: 40-51% MAPE in 6 of 20 draws, against 20-32% for MAC-only.)"""
        from costmodel.analysis.rewrites import FALLBACK_RUNTIMES

        return MultiBoardPrior(
            [s for s in self.sources if s.runtime == runtime or s.runtime not in FALLBACK_RUNTIMES]
        )

    def describe(self) -> list[dict[str, Any]]:
        return [
            {"source": s.name, "models": s.models, "families": s.families,
             "prune_dead": s.prune_dead, "runtime": s.runtime}
            for s in self.sources
        ]  # fmt: skip


def as_prior(prior: Any) -> MultiBoardPrior | None:
    """A :class:`MultiBoardPrior` from a prior, a profile, a fitted estimator, or None."""
    if prior is None or isinstance(prior, MultiBoardPrior):
        return prior
    if hasattr(prior, "predictor") and hasattr(prior, "baseline"):  # a Profile
        board = prior.board.get("board", prior.name)
        return MultiBoardPrior(
            [PriorSource(board, prior.predictor, prior.prune_dead,
                         list(prior.calibration.get("families", [])),
                         int(prior.calibration.get("models", 0)),
                         getattr(prior, "runtime", "eager"))]
        )  # fmt: skip
    if hasattr(prior, "predict"):
        return MultiBoardPrior([PriorSource("prior", prior)])
    raise TypeError(f"not a prior: {type(prior).__name__}")


def prior_columns(
    X: pd.DataFrame,
    prior: MultiBoardPrior,
    features_for: Callable[[tuple[bool, str]], pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """``X`` with one ``prior:<source>`` column per source (kept where already there).

    ``features_for((prune_dead, runtime))`` returns the feature table (same index as ``X``) of
    a source's variant; without it every source reads ``X``.
    """
    X = X.copy()
    tables: dict[tuple[bool, str], pd.DataFrame] = {}  # each variant's rows of X, once
    for s in prior.sources:
        if s.column in X.columns:
            continue
        if features_for is None:
            Xs = X
        elif s.variant in tables:
            Xs = tables[s.variant]
        else:
            Xs = features_for(s.variant)
            Xs = tables[s.variant] = Xs if Xs.index.equals(X.index) else Xs.loc[X.index]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            X[s.column] = np.maximum(np.asarray(s.predictor.predict(Xs), float), 0.0)
    return X
