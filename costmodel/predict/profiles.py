"""The profiles shipped with costmodel: one per board with data in ``calibration/``, by name.

``calibration/profiles/<board>.profile.json`` (plus its ``.joblib`` state) is fitted by
``scripts/build_profiles.py`` from the board's timings. ``--profile raspi4`` resolves a board
name to its file; :func:`default_prior` bundles every shipped profile into the multi-board prior
that `fit` adapts when a board has only a few timings. ``$COSTMODEL_PROFILES`` points elsewhere.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd

from costmodel.predict.prior import MultiBoardPrior, PriorSource, as_prior
from costmodel.predict.profile import Profile, ProfileError, estimator_label, load_profile

SUFFIX = ".profile.json"


def profile_dir() -> Path:
    """``$COSTMODEL_PROFILES`` or the repository's ``calibration/profiles``."""
    env = os.environ.get("COSTMODEL_PROFILES")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "calibration" / "profiles"


def shipped_profiles() -> pd.DataFrame:
    """One row per shipped profile: board, runtime, predictor, models, families, ranges."""
    rows = []
    for path in sorted(profile_dir().glob(f"*{SUFFIX}")):
        try:
            doc = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        cal, board = doc.get("calibration", {}), doc.get("board", {})
        fams = cal.get("families", [])
        lat = cal.get("ranges", {}).get("latency_ms", [float("nan")] * 2)
        macs = cal.get("ranges", {}).get("macs", [float("nan")] * 2)
        rows.append(
            {
                "name": path.name[: -len(SUFFIX)],
                "board": board.get("board", ""),
                "runtime": doc.get("runtime", board.get("runtime", "eager")),
                "predictor": doc.get("predictor", ""),
                "estimator": estimator_label(doc.get("coefficients", {})),
                "models": cal.get("models", 0),
                "families": len(fams),
                "family_list": ",".join(fams),
                "latency_ms": f"{lat[0]:.3g}-{lat[1]:.3g}",
                "MMACs": f"{macs[0] / 1e6:.3g}-{macs[1] / 1e6:.3g}",
                "prune_dead": doc.get("prune_dead", False),
                "path": str(path),
            }
        )
    return pd.DataFrame(rows)


def resolve_profile(name_or_path: str | Path) -> Path:
    """A profile file from a path or a shipped profile's name (``raspi4``)."""
    path = Path(name_or_path)
    if path.exists():
        return path
    shipped = profile_dir() / f"{name_or_path}{SUFFIX}"
    if shipped.exists():
        return shipped
    names = [p.name[: -len(SUFFIX)] for p in sorted(profile_dir().glob(f"*{SUFFIX}"))]
    raise ProfileError(
        f"no profile {str(name_or_path)!r}: not a file, and not a shipped profile "
        f"({', '.join(names) or 'none shipped'}; `costmodel profiles` lists them)"
    )


def get_profile(name_or_path: str | Path) -> Profile:
    return load_profile(resolve_profile(name_or_path))


def default_prior(exclude_board: str | None = None) -> MultiBoardPrior | None:
    """Every shipped profile as one source of the multi-board prior (minus ``exclude_board``)."""
    sources = []
    for path in sorted(profile_dir().glob(f"*{SUFFIX}")):
        try:
            profile = load_profile(path)
        except ProfileError:
            continue  # e.g. fitted with another scikit-learn: left out of the prior
        src = as_prior(profile).sources[0]
        name = path.name[: -len(SUFFIX)]  # the shipped name, as `--profile NAME` takes it
        if exclude_board not in (name, src.name):
            sources.append(PriorSource(name, src.predictor, src.prune_dead, src.families,
                                       src.models, src.runtime))  # fmt: skip
    return MultiBoardPrior(sources) if sources else None


def resolve_prior(prior: Any) -> MultiBoardPrior:
    """A prior from a MultiBoardPrior, ``"default"``, or a profile path / shipped name."""
    if isinstance(prior, MultiBoardPrior):
        return prior
    if isinstance(prior, (str, Path)) and str(prior) == "default":
        found = default_prior()
        if found is None:
            raise ProfileError("no shipped profiles to build the default prior from")
        return found
    if isinstance(prior, (str, Path)):
        return as_prior(get_profile(prior))
    return as_prior(prior)
