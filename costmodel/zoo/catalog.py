"""The zoo as a table: one row per registered variant, named by its canonical spec string."""

from __future__ import annotations

from typing import Any

import pandas as pd

from costmodel.zoo.registry import ModelEntry, aliases, entries
from costmodel.zoo.specs import ModelSpec


def variant_spec(entry: ModelEntry, variant: dict[str, Any]) -> str:
    """The canonical spec of one variant (parameters equal to the defaults are left out)."""
    params = {k: v for k, v in variant.items() if entry.defaults.get(k) != v}
    return ModelSpec("zoo", entry.name, params).canonical()


def zoo_specs(family: str | None = None, study_only: bool = False) -> list[str]:
    """Every registered variant's spec string (optionally one family, or the study's models)."""
    return list(catalog(family=family, study_only=study_only)["spec"])


def catalog(
    family: str | None = None, study_only: bool = False, with_counts: bool = False
) -> pd.DataFrame:
    """One row per variant: spec, family, study flag, aliases, description (+ params, MMACs)."""
    defaults = {e.name: e.defaults for e in entries()}
    alias_of: dict[tuple[str, tuple], list[str]] = {}
    for alias, (target, kwargs) in aliases().items():
        effective = {k: v for k, v in kwargs.items() if defaults[target].get(k) != v}
        alias_of.setdefault((target, tuple(sorted(effective.items()))), []).append(alias)
    rows, seen = [], set()
    for entry in entries():
        if family and entry.family != family:
            continue
        for variant in entry.variants:
            spec = variant_spec(entry, variant)
            if spec in seen:
                continue
            seen.add(spec)
            effective = {k: v for k, v in variant.items() if entry.defaults.get(k) != v}
            study = entry.study and not effective
            if study_only and not study:
                continue
            names = alias_of.get((entry.name, tuple(sorted(effective.items()))), [])
            rows.append(
                {
                    "spec": spec,
                    "family": entry.family,
                    "study": study,
                    "aliases": ",".join(names),
                    "description": entry.description,
                }
            )
    if family and not rows:
        known = sorted({e.family for e in entries()})
        raise KeyError(f"unknown family {family!r}; known: {', '.join(known)}")
    table = pd.DataFrame(rows, columns=["spec", "family", "study", "aliases", "description"])
    if with_counts:
        from costmodel.analysis import analyze

        counts = [analyze(s).totals for s in table["spec"]]
        table["params_M"] = [c["params"] / 1e6 for c in counts]
        table["MMACs"] = [c["macs"] / 1e6 for c in counts]
    return table
