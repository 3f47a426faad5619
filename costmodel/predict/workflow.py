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

from costmodel.analysis.taxonomy import KINDS, NO_DATA_CATEGORIES
from costmodel.bench.store import TimingsError, read_timings
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
from costmodel.zoo import family

# Parameters each predictor fits (MAC-only: 2; additive: its terms + 1, ridge-regularised).
MIN_MODELS = {"constant": 1, "mac": 3, "additive": 6, "oplevel": 6, "full": 6}
BREAKDOWN = KINDS  # predicted time per kind of work


@dataclass
class Training:
    """Features and targets of a timings file."""

    X: pd.DataFrame
    y: pd.Series
    families: pd.Series
    has_ops: bool
    board: dict[str, Any]
    dropped: dict[str, str]
    runtime: str = "eager"  # the lowering the features count


def load_training(
    timings: str | Path,
    board: str | None = None,
    prune_dead: bool = False,
    n_jobs: int = 1,
    progress: bool = False,
    models: list[str] | None = None,
    runtime: str | None = None,
) -> Training:
    """Read a timings file (and ops.csv / board.json next to it) and featurise its models
    (only ``models``, when given), counting the graph ``runtime`` executes (default: the runtime
    board.json names, else eager)."""
    path = Path(timings)
    meta_path = path.parent / "board.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    runtime = resolve_runtime(runtime, meta)
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
        list(frame["model"]),
        prune_dead=prune_dead,
        n_jobs=n_jobs,
        errors="skip",
        progress=progress,
        runtime=runtime,
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
    ops = pd.read_csv(ops_path) if ops_path.exists() and ops_path.stat().st_size else None
    X = feats.with_nodes(op_timings=ops)
    y = frame.set_index("model").loc[X.index, "latency_ms"].astype(float)
    fams = pd.Series([family(s) for s in X.index], index=X.index, name="family")
    return Training(X, y, fams, ops is not None, meta, dropped, runtime)


def resolve_runtime(runtime: str | None, board: dict[str, Any]) -> str:
    """The lowering to count: ``runtime`` when given, else the runtime the board was measured
    with (board.json), else eager."""
    from costmodel.analysis.rewrites import RUNTIMES, check_runtime

    if runtime is not None:
        return check_runtime(runtime)
    measured = board.get("runtime", "eager")
    return measured if measured in RUNTIMES else "eager"


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
    runtime: str | None = None,
) -> tuple[Profile, Training]:
    """Fit ``predictor`` (and the MAC-only baseline) on a timings file, on the features of
    ``runtime``'s lowering (default: the board's runtime, see :func:`load_training`)."""
    data = load_training(
        timings, board=board, prune_dead=prune_dead, n_jobs=n_jobs, runtime=runtime
    )
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
        calibration=calibration_summary(data.X, data.y, data.families),
        interval=_interval(est, data.X, data.y, data.families),
        prune_dead=prune_dead,
        runtime=data.runtime,
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
        unseen = sorted(present - seen - NO_DATA_CATEGORIES)
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


def predict_specs(
    profile: Profile,
    specs: list[str],
    input_shape: tuple[int, ...] | None = None,
    n_jobs: int = 1,
    runtime: str | None = None,
) -> tuple[pd.DataFrame, list[str]]:
    """Predictions with interval and MAC-only baseline, the per-kind breakdown, and warnings.

    ``runtime`` (default: the profile's) must be the runtime the profile was fitted for."""
    if runtime is not None and runtime != profile.runtime:
        raise ValueError(
            f"this profile was fitted for runtime {profile.runtime!r}, not {runtime!r}: fit one "
            f"with `costmodel fit --runtime {runtime}` on timings measured with that runtime"
        )
    feats = featurize(
        specs,
        input_shape=input_shape,
        prune_dead=profile.prune_dead,
        n_jobs=n_jobs,
        errors="skip",
        runtime=profile.runtime,
    )
    X = feats.with_nodes()
    notes = [f"{s}: could not be analysed: {e}" for s, e in feats.failures.items()]
    if X.empty:
        return pd.DataFrame(), notes
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
        },
        index=X.index,
    )
    table = table.join(_breakdown(profile.predictor, X))
    return table, notes + _range_warnings(profile, X)


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
