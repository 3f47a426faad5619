"""The fit / predict / compare workflows behind the command line.

Training data is any timings file (at least ``model`` and ``latency_ms``); per-op timings are
used when an ``ops.csv`` lies next to it. Rows whose ``output_connected`` column is False
(NAS-Bench-201 cells a pruning runtime folds to nothing) are dropped, as evaluation.md asks.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.model_selection import GroupKFold, KFold

from costmodel.bench.store import TimingsError, read_csv, read_timings
from costmodel.predict.estimators import (
    ADDITIVE_TERMS,
    AdditivePredictor,
    FullPredictor,
    MacPredictor,
    OpLevelPredictor,
    TransferPredictor,
    additive_design,
    make_predictor,
)
from costmodel.predict.features import featurize
from costmodel.predict.profile import Profile, calibration_summary, load_profile
from costmodel.predict.unknown import cost_unknown_as_copies, unknown_notes
from costmodel.zoo import family
from costmodel.zoo import input_shape as spec_shape

# Parameters each predictor fits (MAC-only: 2; additive: its terms + 1, ridge-regularised).
MIN_MODELS = {"constant": 1, "mac": 3, "additive": 6, "oplevel": 6, "full": 6}
BREAKDOWN = {
    "convolution": ("conv_dense", "conv_pointwise", "conv_depthwise", "conv_grouped"),
    "linear/matmul": ("linear", "matmul", "attention"),
    "elementwise": ("elementwise", "activation"),
    "normalisation": ("batchnorm", "layernorm", "groupnorm"),
    "concatenation": ("concat",),
    "data movement": ("split", "reshape", "permute", "copy", "shuffle", "pad", "alloc"),
    "pooling/reduction": ("pooling", "reduction", "softmax", "interpolate"),
    "other": ("free", "shape", "unknown"),
}


@dataclass
class Training:
    """Features and targets of a timings file."""

    X: pd.DataFrame
    y: pd.Series
    families: pd.Series
    has_ops: bool
    board: dict[str, Any]
    dropped: dict[str, str]


def load_training(
    timings: str | Path,
    board: str | None = None,
    prune_dead: bool = False,
    n_jobs: int = 1,
    progress: bool = False,
    models: list[str] | None = None,
) -> Training:
    """Read a timings file (and ops.csv / board.json next to it) and featurise its models
    (only ``models``, when given)."""
    path = Path(timings)
    frame = read_timings(path)
    if models is not None:
        frame = frame[frame["model"].isin(models)]
    if "board" in frame.columns:
        boards = sorted(frame["board"].astype(str).unique())
        if board is not None:
            frame = frame[frame["board"].astype(str) == board]
            if frame.empty:
                raise TimingsError(f"{path}: no rows for board {board!r}; boards: {boards}")
        elif len(boards) > 1:
            raise TimingsError(f"{path} holds several boards {boards}: choose one with --board")
    dropped: dict[str, str] = {}
    if "output_connected" in frame.columns:
        disconnected = frame["output_connected"].astype(str).str.lower() == "false"
        for m in frame.loc[disconnected, "model"]:
            dropped[m] = "output not connected to the input (folded away by pruning runtimes)"
        frame = frame[~disconnected]
    frame = frame.groupby("model", sort=False, as_index=False)["latency_ms"].median()
    feats = featurize(
        list(frame["model"]), prune_dead=prune_dead, n_jobs=n_jobs, errors="skip", progress=progress
    )
    dropped.update(feats.failures)
    if feats.failures:
        warnings.warn(
            f"{len(feats.failures)} model(s) could not be analysed and are left out: "
            + "; ".join(f"{k}: {v}" for k, v in list(feats.failures.items())[:3]),
            UserWarning,
            stacklevel=2,
        )
    ops_path = path.parent / "ops.csv"
    has_ops = ops_path.exists() and ops_path.stat().st_size
    ops = read_csv(ops_path, "per-op timings file") if has_ops else None
    X = feats.with_nodes(op_timings=ops)
    y = frame.set_index("model").loc[X.index, "latency_ms"].astype(float)
    fams = pd.Series([family(s) for s in X.index], index=X.index, name="family")
    meta_path = path.parent / "board.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    return Training(X, y, fams, ops is not None, meta, dropped)


def _check_size(name: str, n: int) -> None:
    need = MIN_MODELS.get(name, 6)
    if n < need:
        raise ValueError(
            f"the {name} predictor needs at least {need} calibration models, got {n}; measure "
            "more models or use --predictor mac (2 parameters)"
        )


def _interval(est, X, y, families, max_folds: int = 5) -> tuple[float, float]:
    """5th and 95th percentiles of held-out relative errors (grouped by family when possible)."""
    n_fam = families.nunique()
    splitter = (
        GroupKFold(n_splits=min(max_folds, n_fam))
        if n_fam >= 3
        else KFold(n_splits=min(max_folds, len(X)), shuffle=True, random_state=0)
    )
    rel = []
    for train, test in splitter.split(X, y, groups=families if n_fam >= 3 else None):
        try:
            model = clone(est).fit(X.iloc[train], y.iloc[train])
        except ValueError:
            continue
        pred = model.predict(X.iloc[test])
        rel.extend((pred - y.iloc[test].to_numpy()) / y.iloc[test].to_numpy())
    if not rel:
        return (0.0, 0.0)
    lo, hi = np.quantile(rel, [0.05, 0.95])
    return (float(lo), float(hi))


def fit_profile(
    timings: str | Path,
    predictor: str = "full",
    prior: str | Path | None = None,
    board: str | None = None,
    prune_dead: bool = False,
    n_jobs: int = 1,
) -> tuple[Profile, Training]:
    """Fit ``predictor`` (and the MAC-only baseline) on a timings file."""
    data = load_training(timings, board=board, prune_dead=prune_dead, n_jobs=n_jobs)
    _check_size(predictor, len(data.X))
    if prior is not None:
        est = FullPredictor(prior=load_profile(prior).predictor)
    else:
        est = make_predictor(predictor)
    if isinstance(est, OpLevelPredictor) and not data.has_ops:
        raise ValueError(
            f"the oplevel predictor needs per-op timings: no ops.csv next to "
            f"{timings} (use --predictor full or additive)"
        )
    est.fit(data.X, data.y)
    baseline = MacPredictor().fit(data.X, data.y)
    board_meta = dict(data.board) or {"board": board or "unknown"}
    profile = Profile(
        predictor=est,
        baseline=baseline,
        name=predictor if prior is None else f"{predictor}+prior",
        board=board_meta,
        calibration={
            **calibration_summary(data.X, data.y, data.families),
            "input_shapes": sorted({_shape_text(spec_shape(s)) for s in data.X.index}),
        },
        interval=_interval(est, data.X, data.y, data.families),
        prune_dead=prune_dead,
    )
    return profile, data


def _breakdown(est, X: pd.DataFrame) -> pd.DataFrame:
    """Predicted milliseconds per kind of work, one row per model (sums to the prediction)."""
    inner = getattr(est, "estimator_", est)
    rows = []
    if isinstance(inner, OpLevelPredictor):
        coef = inner.stage_coef_
        for (_, x), nodes in zip(X.iterrows(), X["node_table"], strict=True):
            per_node = inner.node_latency_us(nodes, warn=False) / 1e3 * coef["op_sum_ms"]
            by_cat = pd.Series(per_node).groupby(nodes["category"].to_numpy()).sum()
            row = {g: float(by_cat[by_cat.index.isin(cats)].sum()) for g, cats in BREAKDOWN.items()}
            row["module calls"] = coef["module_calls"] * x["module_calls"]
            row["memory traffic"] = (
                coef["param_MB"] * x["param_bytes_read"] / 1e6
                + coef["activation_MB"] * (x["act_bytes_read"] + x["bytes_written"]) / 1e6
            )
            row["fixed"] = inner.intercept_ms_
            rows.append(row)
    elif isinstance(inner, AdditivePredictor):
        terms = additive_design(X) * inner.coef_
        for t in terms:
            row = dict(zip(ADDITIVE_TERMS, (float(v) for v in t), strict=True))
            row["fixed"] = inner.intercept_ms_
            rows.append(row)
    else:
        return pd.DataFrame(index=X.index)
    return pd.DataFrame(rows, index=X.index)


def _range_warnings(profile: Profile, X: pd.DataFrame) -> list[str]:
    cal = profile.calibration
    out = []
    seen = set(cal.get("categories", []))
    for spec, x in X.iterrows():
        notes = []
        present = {
            c[: -len("_ops")]
            for c in X.columns
            if c.endswith("_ops") and c not in ("logical_ops", "non_mac_ops") and x[c] > 0
        }
        unseen = sorted(present - seen - {"free", "shape", "alloc"})
        if unseen:
            notes.append(f"op categories not in the calibration set: {', '.join(unseen)}")
        for key, (lo, hi) in cal.get("ranges", {}).items():
            if key in X.columns and (x[key] > 1.5 * hi or x[key] < lo / 1.5):
                notes.append(
                    f"{key} {x[key]:,.0f} outside the calibrated range [{lo:,.0f}, {hi:,.0f}]"
                )
        if notes:
            out.append(f"{spec}: " + "; ".join(notes))
    return out


def _shape_text(shape: tuple[int, ...]) -> str:
    return "x".join(str(int(d)) for d in shape)


def _shape_warnings(
    profile: Profile, specs: list[str], input_shape: tuple[int, ...] | None
) -> list[str]:
    """Input shapes the profile never saw: other batch sizes and resolutions are extrapolation.

    Features are computed at each model's default input shape (batch 1) at calibration."""
    seen = set(profile.calibration.get("input_shapes", []))
    batches = {int(s.split("x")[0]) for s in seen} or {1}
    out = []
    for spec in specs:
        try:
            shape = tuple(input_shape) if input_shape else spec_shape(spec)
        except (KeyError, ValueError):
            continue  # reported by featurising
        text = _shape_text(shape)
        if shape[0] not in batches:
            out.append(
                f"{spec}: batch size {shape[0]} is outside the calibration (batch "
                f"{', '.join(map(str, sorted(batches)))}); the prediction is an extrapolation"
            )
        elif seen and text not in seen:
            out.append(
                f"{spec}: input shape {text} is not one the profile was calibrated on "
                f"({', '.join(sorted(seen)[:4])}{', ...' if len(seen) > 4 else ''}); the "
                "prediction is an extrapolation"
            )
    return out


def predict_specs(
    profile: Profile,
    specs: list[str],
    input_shape: tuple[int, ...] | None = None,
    n_jobs: int = 1,
    dtype: str | None = None,
) -> tuple[pd.DataFrame, list[str]]:
    """Predictions with interval and MAC-only baseline, the per-kind breakdown, and warnings."""
    feats = featurize(
        specs,
        input_shape=input_shape,
        prune_dead=profile.prune_dead,
        n_jobs=n_jobs,
        errors="skip",
        dtype=dtype,
    )
    X = feats.with_nodes()
    notes = [f"{s}: could not be analysed: {e}" for s, e in feats.failures.items()]
    if X.empty:
        return pd.DataFrame(), notes
    notes += unknown_notes(X)
    X = cost_unknown_as_copies(X)  # never free: see costmodel.predict.unknown
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pred = profile.predictor.predict(X)
    lo, hi = profile.interval
    table = pd.DataFrame(
        {
            "predicted_ms": pred,
            "low_ms": pred * (1 + lo),
            "high_ms": pred * (1 + hi),
            "mac_only_ms": profile.baseline.predict(X),
            "MMACs": X["macs"] / 1e6,
            "params_M": X["params"] / 1e6,
            "unknown_ops": X["unknown_ops"].astype(int),
        },
        index=X.index,
    )
    table = table.join(_breakdown(profile.predictor, X))
    return table, notes + _range_warnings(profile, X) + _shape_warnings(profile, specs, input_shape)


def compare_predictors(
    data: Training,
    protocol: str = "lofo",
    ks: tuple[int, ...] = (5, 10, 20, 50),
    draws: int = 20,
    prior: Profile | None = None,
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Scores per predictor on one protocol; for LOFO also the per-model predictions.

    The full predictor is the op-level one when the timings come with per-op timings and the
    additive one otherwise (see :class:`FullPredictor`), so it is not listed twice."""
    from costmodel.predict.evaluate import k_shot, leave_one_family_out

    predictors: dict[str, Any] = {
        "constant": make_predictor("constant"),
        "mac": make_predictor("mac"),
        "additive": make_predictor("additive"),
    }
    if data.has_ops:  # "full" is the op-level predictor here; the additive one otherwise
        predictors["oplevel"] = make_predictor("oplevel")
    if prior is not None:
        predictors["full+prior"] = TransferPredictor(prior=prior.predictor)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if protocol == "lofo":
            return leave_one_family_out(predictors, data.X, data.y, data.families)
        if protocol == "kshot":
            return k_shot(predictors, data.X, data.y, ks=ks, draws=draws, seed=seed), None
    raise ValueError(f"unknown protocol {protocol!r}: use lofo or kshot")
