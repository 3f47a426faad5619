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

from costmodel.analysis.taxonomy import NO_DATA_CATEGORIES
from costmodel.bench.store import TimingsError, read_csv, read_timings
from costmodel.predict.estimators import MacPredictor, OpLevelPredictor
from costmodel.predict.features import featurize
from costmodel.predict.guard import mac_only_note
from costmodel.predict.predictions import predict_table, with_prior_columns
from costmodel.predict.prior import MultiBoardPrior, as_prior
from costmodel.predict.profile import Profile, calibration_summary, per_op_rows
from costmodel.predict.registry import check_size, make_predictor
from costmodel.predict.unknown import unknown_notes
from costmodel.zoo import family
from costmodel.zoo import input_shape as spec_shape


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
    has_ops = ops_path.exists() and ops_path.stat().st_size
    ops = read_csv(ops_path, "per-op timings file") if has_ops else None
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


# Below this many timings a board's own data cannot pin down more than a few costs: `fit` then
# adapts the shipped multi-board prior unless told otherwise.
PRIOR_BELOW = 50


def _usable_prior(prior: MultiBoardPrior, runtime: str) -> MultiBoardPrior:
    """The sources of ``prior`` that can speak for a board running ``runtime``
    (:meth:`MultiBoardPrior.for_runtime`); a ValueError when none can."""
    usable = prior.for_runtime(runtime)
    if not usable.sources:
        raise ValueError(
            f"the prior ({', '.join(s.name for s in prior.sources)}) prices the ops its runtime "
            "leaves to fallback kernels as only that runtime runs them: no prior for a board "
            f"running {runtime} (choose a profile of {runtime}, or of a runtime without "
            "fallback kernels)"
        )
    return usable


def fit_profile(
    timings: str | Path,
    predictor: str = "full",
    prior: str | Path | MultiBoardPrior | None = None,
    board: str | None = None,
    prune_dead: bool = False,
    n_jobs: int = 1,
    use_default_prior: bool = True,
    runtime: str | None = None,
) -> tuple[Profile, Training]:
    """Fit ``predictor`` (and the MAC-only baseline) on a timings file.

    ``prior``: a profile path or shipped profile name, ``"default"`` (every shipped board's
    profile), or a :class:`MultiBoardPrior`. Without one, the full predictor adapts the default
    prior when the file holds fewer than :data:`PRIOR_BELOW` whole-model timings and no per-op
    timings (``use_default_prior``); the profile's ``notes`` say so. Features count the graph
    ``runtime`` executes (default: the board's runtime, see :func:`load_training`).
    """
    from costmodel.predict.profiles import default_prior, resolve_prior

    data = load_training(
        timings, board=board, prune_dead=prune_dead, n_jobs=n_jobs, runtime=runtime
    )
    check_size(predictor, len(data.X))
    notes = []
    few = len(data.X) < PRIOR_BELOW and not data.has_ops  # per-op timings are evidence enough
    if prior is None and use_default_prior and predictor == "full" and few:
        shipped = default_prior(exclude_board=data.board.get("board"))
        usable = shipped.for_runtime(data.runtime) if shipped is not None else None
        if usable is not None and usable.sources:  # none usable: no prior, not an error
            prior = usable
            notes.append(
                f"{len(data.X)} timings (< {PRIOR_BELOW}): adapting the shipped multi-board prior "
                f"({', '.join(s.name for s in prior.sources)}); pass --prior to choose another"
            )
    prior = _usable_prior(resolve_prior(prior), data.runtime) if prior is not None else None
    if prior is not None and predictor not in ("full", "additive"):
        raise ValueError(f"--prior works with the full or additive predictor, not {predictor}")
    est = make_predictor(predictor, prior=prior) if prior is not None else make_predictor(predictor)
    if isinstance(est, OpLevelPredictor) and not data.has_ops:
        raise ValueError(
            f"the oplevel predictor needs per-op timings: no ops.csv next to "
            f"{timings} (use --predictor full or additive)"
        )
    X = with_prior_columns(data.X, prior, n_jobs=n_jobs) if prior is not None else data.X
    est.fit(X, data.y)
    guard = getattr(est, "guard_", None)
    if guard and not guard["kept"]:
        notes.append(mac_only_note(guard))
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
        interval=_interval(est, X, data.y, data.families),
        prune_dead=prune_dead,
        notes=notes,
        runtime=data.runtime,
    )
    return profile, data


def _range_warnings(profile: Profile, X: pd.DataFrame) -> list[str]:
    """One line per model outside what the profile was calibrated on (family, op categories,
    feature ranges); the checks are column operations, the text is built for flagged rows only."""
    cal = profile.calibration
    notes: list[list[str]] = [[] for _ in range(len(X))]
    fams = cal.get("families", [])
    if fams and len(fams) < 3:
        for i, spec in enumerate(X.index):
            fam = _family_or_none(spec)
            if fam is not None and fam not in fams:
                notes[i].append(
                    f"family {fam} is not what this profile was calibrated on ({', '.join(fams)} "
                    "only): expect large errors; calibrate with models of this kind"
                )
    seen = set(cal.get("categories", []))
    ops = [c for c in X.columns if c.endswith("_ops") and c not in ("logical_ops", "non_mac_ops")]
    unseen = [c for c in ops if c[: -len("_ops")] not in seen | NO_DATA_CATEGORIES]
    present = X[unseen].to_numpy(float) > 0
    for i in np.flatnonzero(present.any(axis=1)):
        cats = sorted(unseen[j][: -len("_ops")] for j in np.flatnonzero(present[i]))
        notes[i].append(f"op categories not in the calibration set: {', '.join(cats)}")
    calibrated_ops = cal.get("ops")  # profiles saved before it was recorded: not checked
    rows = per_op_rows(X) if calibrated_ops is not None else None
    if rows is not None and len(rows):
        label = rows["op"] + " (" + rows["category"] + ")"  # column operations: 10^6 nodes
        known = [f"{op} ({c})" for c, ops in calibrated_ops.items() for op in ops]
        new = ~label.isin(known).to_numpy() & rows["category"].isin(seen).to_numpy()
        for i, g in label[new].groupby(rows["owner"][new]):
            listed = ", ".join(sorted(set(g)))
            notes[int(i)].append(
                f"ops never run by the calibration models: {listed}; priced from the other ops "
                "of their category (measure a model with them)"
            )
    for key, (lo, hi) in cal.get("ranges", {}).items():
        if key not in X.columns:
            continue
        v = X[key].to_numpy(float)
        for i in np.flatnonzero((v > 1.5 * hi) | (v < lo / 1.5)):
            notes[i].append(
                f"{key} {v[i]:,.0f} outside the calibrated range [{lo:,.0f}, {hi:,.0f}]"
            )
    return [f"{spec}: " + "; ".join(n) for spec, n in zip(X.index, notes, strict=True) if n]


def _family_or_none(spec: str) -> str | None:
    try:
        return family(spec)
    except (KeyError, ValueError):
        return None


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
        dtype=dtype,
        runtime=profile.runtime,
    )
    X = feats.with_node_batch()
    notes = [f"{s}: could not be analysed: {e}" for s, e in feats.failures.items()]
    if X.empty:
        return pd.DataFrame(), notes
    notes += unknown_notes(X)
    table = predict_table(profile, X, breakdown=True, input_shape=input_shape, n_jobs=n_jobs)
    return table, notes + _range_warnings(profile, X) + _shape_warnings(profile, specs, input_shape)


def compare_predictors(
    data: Training,
    protocol: str = "lofo",
    ks: tuple[int, ...] = (5, 10, 20, 50),
    draws: int = 20,
    prior: Any = None,
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Scores per predictor on one protocol; for LOFO also the per-model predictions.

    The full predictor is the op-level one when the timings come with per-op timings and the
    additive one otherwise (see :class:`FullPredictor`), so it is not listed twice."""
    from costmodel.predict.evaluate import k_shot, leave_one_family_out

    predictors: dict[str, Any] = {
        name: make_predictor(name) for name in ("constant", "mac", "additive")
    }
    if data.has_ops:  # "full" is the op-level predictor here; the additive one otherwise
        predictors["oplevel"] = make_predictor("oplevel")
    X = data.X
    if prior is not None:
        multi = _usable_prior(as_prior(prior), data.runtime)
        X = with_prior_columns(X, multi)
        predictors["full+prior"] = make_predictor("full", prior=multi)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if protocol == "lofo":
            return leave_one_family_out(predictors, X, data.y, data.families)
        if protocol == "kshot":
            return k_shot(predictors, X, data.y, ks=ks, draws=draws, seed=seed), None
    raise ValueError(f"unknown protocol {protocol!r}: use lofo or kshot")
