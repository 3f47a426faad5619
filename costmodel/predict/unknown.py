"""The stated fallback for ops with no formula in a prediction: never free, never silent.

An op the analyzer has no formula for has unknown arithmetic, but the bytes it reads and writes
are known. A prediction costs it as a copy of those bytes (category ``copy``), at the profile's
own rate for copies (per MB for the additive predictor, its per-op model for the op-level one),
lists how many there are in an ``unknown_ops`` column and says so in a warning.
"""

from __future__ import annotations

import pandas as pd

from costmodel.predict.nodes import map_nodes, node_rows_of

FALLBACK_CATEGORY = "copy"


def cost_unknown_as_copies(X: pd.DataFrame) -> pd.DataFrame:
    """``X`` with each model's unknown ops moved into the copy category (totals and nodes)."""
    if "unknown_ops" not in X.columns or not (X["unknown_ops"] > 0).any():
        return X
    X = X.copy()
    for what in ("ops", "bytes"):
        X[f"{FALLBACK_CATEGORY}_{what}"] = X[f"{FALLBACK_CATEGORY}_{what}"] + X[f"unknown_{what}"]
    return map_nodes(
        X, lambda t: t.assign(category=t["category"].replace("unknown", FALLBACK_CATEGORY))
    )


def unknown_notes(X: pd.DataFrame) -> list[str]:
    """One warning line per model with unknown ops, naming them and the fallback."""
    notes = []
    if "unknown_ops" not in X.columns:
        return notes
    for spec, x in X[X["unknown_ops"] > 0].iterrows():
        names: set[str] = set()
        table = node_rows_of(X, spec)
        if isinstance(table, pd.DataFrame) and "unknown" in table.columns:
            for text in table["unknown"]:
                names.update(n for n in str(text).split(",") if n)
        notes.append(
            f"{spec}: {int(x['unknown_ops'])} node(s) with ops costmodel has no formula for "
            f"({', '.join(sorted(names)) or '?'}); predicted as copies of the "
            f"{x['unknown_bytes'] / 1e6:.2f} MB they move, at this profile's copy rate"
        )
    return notes
