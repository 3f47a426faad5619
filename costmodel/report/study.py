"""The study's ten networks side by side: MAC work next to the work MACs do not see."""

from __future__ import annotations

import pandas as pd

from costmodel.analysis import analyze
from costmodel.analysis.taxonomy import GROUPS as TAX_GROUPS
from costmodel.analysis.taxonomy import MAC_CATEGORIES, NO_DATA_CATEGORIES
from costmodel.zoo.catalog import catalog

# Non-MAC groups, as the study discusses them (elementwise, activation, norm, concat, ...).
GROUPS = {
    g: cats
    for g, cats in TAX_GROUPS.items()
    if not set(cats) & (MAC_CATEGORIES | NO_DATA_CATEGORIES) and g != "unknown"
}


def study_table(specs: list[str] | None = None) -> pd.DataFrame:
    """One row per model: params, MACs, bytes moved, and op counts by kind of work.

    ``non_mac_bytes_share`` is the share of all bytes read and written that non-MAC ops move;
    the ``ops_*`` columns count logical ops (a channel shuffle chain counts once).
    """
    if specs is None:  # the study's models, shown by their familiar names (resnet50, vgg16)
        table = catalog(study_only=True)
        names = [
            a.split(",")[-1] or s for s, a in zip(table["spec"], table["aliases"], strict=True)
        ]
        specs = list(table["spec"])
    else:
        names = list(specs)
    rows = []
    for spec, name in zip(specs, names, strict=True):
        a = analyze(spec)
        t, cat = a.totals, a.by_category
        non_mac = cat[~cat.index.isin(MAC_CATEGORIES)]
        row = {
            "model": name,
            "params_M": t["params"] / 1e6,
            "MMACs": t["macs"] / 1e6,
            "MB_moved": t["bytes"] / 1e6,
            "non_mac_bytes_share": non_mac["bytes"].sum() / max(t["bytes"], 1),
            "mac_ops": int(cat[cat.index.isin(MAC_CATEGORIES)]["ops"].sum()),
            "non_mac_ops": int(non_mac["ops"].sum()),
            "module_calls": t["module_calls"],
            "conv_groups": t["conv_groups"],
        }
        for group, cats in GROUPS.items():
            row[f"ops_{group}"] = int(cat[cat.index.isin(cats)]["ops"].sum())
        rows.append(row)
    return pd.DataFrame(rows).set_index("model")
