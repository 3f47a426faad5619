"""Scoring (the definitions of shared/docs/evaluation.md) and the evaluation protocols.

Metrics are computed on held-out models only. Protocols: leave one family out (fit on every
other family, predict the held-out one, pool all predictions) and k-shot calibration (k random
calibration models, predict all others, repeated over seeded draws, median of each metric).
Every protocol runs all predictors on the same splits, so their errors compare directly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.stats import kendalltau, spearmanr
from sklearn.base import clone

METRICS = ("MAPE", "RMSE_ms", "acc5", "acc10", "spearman", "kendall")


def score(measured, predicted) -> dict[str, float]:
    """MAPE (%), RMSE (ms), share within ±5% / ±10%, Spearman and Kendall rank correlations."""
    m = np.asarray(measured, float)
    p = np.asarray(predicted, float)
    rel = np.abs(p - m) / m
    rho = spearmanr(m, p).statistic if len(m) > 2 else float("nan")
    tau = kendalltau(m, p).statistic if len(m) > 2 else float("nan")
    return {
        "MAPE": 100 * float(rel.mean()),
        "RMSE_ms": float(np.sqrt(np.mean((p - m) ** 2))),
        "acc5": float((rel <= 0.05).mean()),
        "acc10": float((rel <= 0.10).mean()),
        "spearman": float(rho),
        "kendall": float(tau),
        "n": int(len(m)),
    }


def _fit_predict(est, X_train, y_train, X_test) -> np.ndarray:
    model = clone(est).fit(X_train, y_train)
    return model.predict(X_test)


def leave_one_family_out(
    predictors: Mapping[str, object],
    X: pd.DataFrame,
    y: pd.Series,
    families: pd.Series,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Pooled held-out scores per predictor, and the per-model predictions.

    Returns (scores: one row per predictor, predictions: one row per model with its family,
    measured latency and each predictor's prediction).
    """
    preds = pd.DataFrame({"family": families, "measured": y}, index=X.index)
    for name in predictors:
        preds[name] = np.nan
    for fam in families.unique():
        test = (families == fam).to_numpy()
        if test.all():
            raise ValueError("leave-one-family-out needs at least two families")
        for name, est in predictors.items():
            preds.loc[test, name] = _fit_predict(est, X[~test], y[~test], X[test])
    scores = pd.DataFrame({name: score(preds["measured"], preds[name]) for name in predictors}).T
    return _with_ratio(scores), preds


def k_shot(
    predictors: Mapping[str, object],
    X: pd.DataFrame,
    y: pd.Series,
    ks: Sequence[int] = (5, 10, 20, 50),
    draws: int = 20,
    seed: int = 0,
    on_draw: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Median over ``draws`` seeded draws of each metric, per k and predictor (long table).

    With a ``mac`` predictor, each draw is also compared with MAC-only on that same draw:
    ``MAPE_minus_mac`` is the median of the per-draw differences (points) and ``draws_worse``
    the share of draws more than half a point worse. A difference of medians can move the
    other way when only a few draws change (one better, another worse, and the middle draw
    shifts); the paired figures say draw by draw."""
    rng = np.random.default_rng(seed)
    rows = []
    for k in ks:
        if k >= len(X):
            continue
        per_draw: dict[str, list[dict]] = {name: [] for name in predictors}
        for d in range(draws):
            idx = rng.permutation(len(X))
            train, test = idx[:k], idx[k:]
            scored: dict[str, dict] = {}
            for name, est in predictors.items():
                try:
                    pred = _fit_predict(est, X.iloc[train], y.iloc[train], X.iloc[test])
                except ValueError:
                    continue  # e.g. too few samples for this predictor at this k
                scored[name] = score(y.iloc[test], pred)
            for name, s in scored.items():
                if "mac" in scored:
                    s["MAPE_minus_mac"] = s["MAPE"] - scored["mac"]["MAPE"]
                    s["draws_worse"] = float(s["MAPE_minus_mac"] > 0.5)
                per_draw[name].append(s)
            if on_draw:
                on_draw(k, d)
        for name, scores in per_draw.items():
            if scores:
                frame = pd.DataFrame(scores)
                med = frame.median()
                if "draws_worse" in frame:
                    med["draws_worse"] = frame["draws_worse"].mean()  # a share, not a median
                rows.append({"k": k, "predictor": name, **med.to_dict(), "draws": len(scores)})
    table = pd.DataFrame(rows)
    if "mac" in predictors and len(table):
        mac = table[table["predictor"] == "mac"].set_index("k")["MAPE"]
        table["MAPE_ratio_to_mac"] = table["MAPE"] / table["k"].map(mac)
    return table


def _with_ratio(scores: pd.DataFrame) -> pd.DataFrame:
    if "mac" in scores.index:
        scores["MAPE_ratio_to_mac"] = scores["MAPE"] / scores.loc["mac", "MAPE"]
    return scores
