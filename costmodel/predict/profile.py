"""Profiles: a fitted predictor for one board, saved as readable versioned JSON plus binary state.

``<name>.profile.json`` holds what a person reads (predictor, coefficients, feature schema, board
metadata, calibration ranges, interval quantiles, versions); the fitted estimators themselves
(the full predictor and the MAC-only baseline) are saved with joblib next to it, and the JSON
records the file's SHA-256. Loading checks format, version and library versions and refuses a
mismatch; nothing is unpickled unless the checksum matches.

Never load a profile from a source you do not trust: unpickling runs code.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import sklearn
import torch

from costmodel.analysis.taxonomy import PER_OP_CATEGORIES
from costmodel.predict.features import FEATURE_VERSION

PROFILE_FORMAT = "costmodel-profile"
PROFILE_VERSION = 1


class ProfileError(ValueError):
    """A profile that cannot be used here (wrong format, version, checksum)."""


@dataclass
class Profile:
    """A fitted predictor for one board, with its MAC-only baseline and what it was fitted on."""

    predictor: Any
    baseline: Any
    name: str
    board: dict[str, Any] = field(default_factory=dict)
    calibration: dict[str, Any] = field(default_factory=dict)
    interval: tuple[float, float] = (0.0, 0.0)
    prune_dead: bool = False
    notes: list[str] = field(default_factory=list)
    runtime: str = "eager"  # the lowering its features count (costmodel.analysis.rewrites)

    def describe(self) -> dict[str, Any]:
        """The readable part: coefficients of the predictor and of the baseline."""
        est = getattr(self.predictor, "estimator_", self.predictor)
        coef: dict[str, Any] = {"estimator": type(est).__name__}
        if getattr(self.predictor, "guard_", None):  # the full predictor's check against MAC-only
            coef["guard"] = self.predictor.guard_
        coef.update(_coefficients(est))
        return json.loads(json.dumps(coef, default=_json_default))

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        if not path.name.endswith(".json"):
            path = path.with_name(path.name + ".json")
        state = path.with_name(path.name.removesuffix(".json") + ".joblib")
        path.parent.mkdir(parents=True, exist_ok=True)
        joblib.dump({"predictor": self.predictor, "baseline": self.baseline}, state)
        doc = {
            "format": PROFILE_FORMAT,
            "version": PROFILE_VERSION,
            "predictor": self.name,
            "params": _jsonable(self.predictor.get_params(deep=False)),
            "coefficients": self.describe(),
            "baseline": {
                "ms_per_mmac": self.baseline.ms_per_mmac_,
                "intercept_ms": self.baseline.intercept_ms_,
            },
            "interval_relative": list(self.interval),
            "prune_dead": self.prune_dead,
            "notes": self.notes,
            "prior": _prior_summary(self.predictor),
            "runtime": self.runtime,
            "board": self.board,
            "calibration": self.calibration,
            "versions": _versions(),
            "state": {"file": state.name, "sha256": _sha256(state)},
        }
        path.write_text(json.dumps(doc, indent=2, default=_json_default))
        return path


def _prior_summary(predictor: Any) -> list[dict[str, Any]]:
    from costmodel.predict.prior import as_prior

    prior = as_prior(getattr(predictor, "prior", None))
    return prior.describe() if prior is not None else []


def _jsonable(params: dict[str, Any]) -> dict[str, Any]:
    return {
        k: (v if isinstance(v, (int, float, str, bool, type(None))) else type(v).__name__)
        for k, v in params.items()
    }


def estimator_label(coefficients: dict[str, Any]) -> str:
    """What a profile's predictor is, from its ``coefficients`` (:meth:`Profile.describe`): the
    guard's label of the candidate in use (a blend names its parts), else the class."""
    guard = coefficients.get("guard") or {}
    return guard["candidate"] if guard.get("kept") else coefficients.get("estimator", "")


def _coefficients(est) -> dict[str, Any]:
    """A fitted estimator's readable state; a blend's, its weight and each part's."""
    from costmodel.predict.estimators import GeometricBlend

    if isinstance(est, GeometricBlend):
        parts = [{"estimator": type(f).__name__, **_coefficients(f)} for f in est.fitted_]
        return {"weight": est.weight, "parts": parts}
    coef: dict[str, Any] = {}
    for attr in (
        "chosen_",
        "cv_error_",
        "coefficients_",
        "stage_coef_",
        "coef_",
        "ms_per_mmac_",
        "intercept_ms_",
        "scale_",
        "ms_per_call_",
        "median_",
    ):
        value = getattr(est, attr, None)
        if value is not None and not isinstance(value, np.ndarray):  # arrays are internal
            if attr == "coef_" and "coefficients" in coef:
                continue
            coef[attr.rstrip("_")] = value
    if hasattr(est, "category_coef_"):
        coef["node_costs_us"] = {
            c: {"overhead": v[0], "per_MMAC": v[1], "per_MB": v[2]}
            for c, v in est.category_coef_.items()
        }
    return coef


def _json_default(v: Any) -> Any:
    if isinstance(v, (np.integer, np.floating)):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    return str(v)


def _versions() -> dict[str, Any]:
    from costmodel import __version__

    return {
        "costmodel": __version__,
        "torch": torch.__version__,
        "sklearn": sklearn.__version__,
        "features": FEATURE_VERSION,
    }


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_profile(path: str | Path) -> Profile:
    """Load a profile, refusing another format, version or library version, or a bad checksum."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProfileError(f"cannot read profile {path}: {exc}") from None
    if not isinstance(doc, dict):
        raise ProfileError(f"{path} is not a costmodel profile (a JSON object)")
    if doc.get("format") != PROFILE_FORMAT:
        raise ProfileError(f"{path} is not a costmodel profile (format {doc.get('format')!r})")
    if doc.get("version") != PROFILE_VERSION:
        raise ProfileError(
            f"{path} is profile format version {doc.get('version')}; this costmodel reads "
            f"version {PROFILE_VERSION}: refit it with `costmodel fit`"
        )
    here, there = _versions(), doc.get("versions", {})
    for lib in ("sklearn", "features"):
        if there.get(lib) != here[lib]:
            raise ProfileError(
                f"{path} was fitted with {lib} {there.get(lib)}, this environment has "
                f"{here[lib]}: refit it with `costmodel fit` (its fitted state would not load "
                "reliably)"
            )
    missing = [k for k in ("predictor", "state") if k not in doc]
    if missing or not all(k in doc["state"] for k in ("file", "sha256")):
        raise ProfileError(
            f"{path} lacks the key(s) {missing or ['state.file', 'state.sha256']}: it was edited "
            "or cut short; refit it with `costmodel fit`"
        )
    state = path.with_name(doc["state"]["file"])
    if not state.exists():
        raise ProfileError(f"{path} needs its state file {state.name} next to it")
    if _sha256(state) != doc["state"]["sha256"]:
        raise ProfileError(f"{state} does not match the checksum in {path}; refusing to load it")
    blob = joblib.load(state)
    return Profile(
        predictor=blob["predictor"],
        baseline=blob["baseline"],
        name=doc["predictor"],
        board=doc.get("board", {}),
        calibration=doc.get("calibration", {}),
        interval=tuple(doc.get("interval_relative", (0.0, 0.0))),
        prune_dead=bool(doc.get("prune_dead", False)),
        notes=list(doc.get("notes", [])),
        runtime=str(doc.get("runtime", "eager")),
    )


def calibration_summary(X: pd.DataFrame, y: pd.Series, families: pd.Series) -> dict[str, Any]:
    """What a profile was calibrated on: counts, families, categories seen, feature ranges, and
    per category of :data:`PER_OP_CATEGORIES` the ATen ops its models ran."""
    seen = sorted(
        c[: -len("_ops")]
        for c in X.columns
        if c.endswith("_ops") and c != "logical_ops" and c != "non_mac_ops" and X[c].sum() > 0
    )
    ranges = {
        c: [float(X[c].min()), float(X[c].max())]
        for c in ("macs", "bytes", "params", "nodes", "module_calls")
        if c in X.columns
    }
    ranges["latency_ms"] = [float(y.min()), float(y.max())]
    out = {
        "models": int(len(X)),
        "families": sorted(set(families)),
        "categories": seen,
        "ranges": ranges,
    }
    ops = per_op_rows(X)
    if ops is not None:
        out["ops"] = {c: sorted(set(g)) for c, g in ops.groupby("category")["op"]}
    return out


def per_op_rows(X: pd.DataFrame) -> pd.DataFrame | None:
    """(owner row, category, op) of every node of ``X`` in a category of
    :data:`PER_OP_CATEGORIES`; None when ``X`` carries no node tables, or tables without ops."""
    from costmodel.predict.nodes import nodes_of

    found = nodes_of(X)
    if found is None or "op" not in found[0].table.columns:
        return None
    batch, positions = found
    idx, owner = batch.rows(positions)
    table = batch.table.iloc[idx]
    keep = table["category"].isin(PER_OP_CATEGORIES).to_numpy()
    return pd.DataFrame(
        {
            "owner": owner[keep],
            "category": table["category"].to_numpy()[keep],
            "op": table["op"].fillna("").astype(str).to_numpy()[keep],
        }
    )
