"""Design terms of the whole-model linear predictors, built from the taxonomy's groups.

A term is a column computed from the per-model feature table (:func:`featurize`), with a unit
that makes its fitted coefficient a physical cost: ms per MMAC, ms per MB moved, ms per op
launch, ms per eager module call, ms per convolution group. Term sets are nested, from MAC-only
upward; a predictor chooses among them by cross-validation inside its calibration set
(:mod:`costmodel.predict.selection`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from costmodel.analysis.taxonomy import GROUPS, MAC_CATEGORIES, NO_DATA_CATEGORIES

# Groups that do work a launch can be counted for (everything but 'unknown' and Python 'shape').
LAUNCH_GROUPS = tuple(g for g in GROUPS if g not in ("unknown", "shape"))
MAC_GROUPS = tuple(g for g, cats in GROUPS.items() if set(cats) & MAC_CATEGORIES)
DATA_GROUPS = tuple(
    g
    for g, cats in GROUPS.items()
    if not set(cats) & MAC_CATEGORIES
    and not set(cats) <= NO_DATA_CATEGORIES
    and g not in ("unknown", "shape", "split", "view")  # zero-copy: launches only, no bytes
)

# term name -> (feature columns summed, divisor, unit)
TERMS: dict[str, tuple[tuple[str, ...], float, str]] = {  # fmt: skip
    "macs": (("macs",), 1e6, "ms per MMAC"),
    **{f"{g}_ops": (tuple(f"{c}_ops" for c in GROUPS[g]), 1.0, "ms per op") for g in LAUNCH_GROUPS},
    "module_calls": (("module_calls",), 1.0, "ms per module call"),
    "conv_groups": (("conv_groups",), 1.0, "ms per convolution group"),
    **{
        f"{g}_macs": (tuple(f"{c}_macs" for c in GROUPS[g]), 1e6, "ms per MMAC") for g in MAC_GROUPS
    },
    **{
        f"{g}_bytes": (tuple(f"{c}_bytes" for c in GROUPS[g]), 1e6, "ms per MB")
        for g in DATA_GROUPS
    },
    "param_bytes": (("param_bytes_read",), 1e6, "ms per MB of weights"),
    "portable_window_flops": (
        ("portable_window_flops",),
        1e6,
        "ms per MFLOP of portable pooling windows",
    ),
    "intercept": ((), 1.0, "ms"),
}

# Terms every whole-model fit carries unpenalised beside MACs: work a runtime does outside its
# fast kernels that MACs cannot see (all zero where lowering marks none, and then the fit is
# exactly MAC-only). A portable average pool's window sums cost ~17 ms per MFLOP on the x86
# board, ~1,000x XNNPACK's convolutions per FLOP (benchmarks/RESULTS.md).
RUNTIME_BASE: tuple[str, ...] = ("portable_window_flops",)

# Nested term sets, simplest first: MAC-only; + one launch cost per kind of op and the eager
# overheads; + per-kind compute and memory rates.
TERM_SETS: dict[str, tuple[str, ...]] = {
    "mac": ("macs", "intercept"),
    "launch": (
        "macs",
        "intercept",
        *(f"{g}_ops" for g in LAUNCH_GROUPS),
        "module_calls",
        "conv_groups",
    ),
    "work": tuple(TERMS),
    # Not in the default nesting: MAC-only plus one memory rate, ms per MB of weights streamed
    # (VGG's 114 MB on the ExecuTorch board run 2.5x what its MACs predict). The full predictor
    # offers it as a candidate of its own (FullPredictor.WEIGHTS_MIN_MODELS).
    "weights": ("macs", "intercept", "param_bytes"),
}


def design(X: pd.DataFrame, terms: tuple[str, ...] = tuple(TERMS)) -> np.ndarray:
    """The columns of ``terms`` for every row of the feature table (missing features are 0)."""
    wanted = dict.fromkeys(c for name in terms for c in TERMS[name][0])
    have = [c for c in wanted if c in X.columns]
    values = X[have].to_numpy(float)  # one conversion for all terms
    where = {c: i for i, c in enumerate(have)}
    out = np.zeros((len(X), len(terms)))
    for j, name in enumerate(terms):
        columns, divisor, _ = TERMS[name]
        if name == "intercept":
            out[:, j] = 1.0
            continue
        idx = [where[c] for c in columns if c in where]
        if idx:
            out[:, j] = values[:, idx].sum(axis=1) / divisor
    return out
