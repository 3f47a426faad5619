"""Plots for `compare` (and the demo): predicted vs measured, and error by family.

Needs matplotlib (the ``plots`` extra); the board side never imports this module.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def axis_limits(preds: pd.DataFrame, columns: list[str]) -> tuple[float, float]:
    """Log-axis limits that hold every measured and predicted point of every panel."""
    values = np.concatenate([preds[c].to_numpy(float) for c in ["measured", *columns]])
    values = values[np.isfinite(values) & (values > 0)]
    return float(values.min()) / 1.5, float(values.max()) * 1.5


def predicted_vs_measured(
    preds: pd.DataFrame,
    columns: list[str],
    path: Path,
    labels: dict[str, str] | None = None,
    annotate: bool = False,
) -> Path:
    """Log-log scatter of each predictor in ``columns`` against ``preds['measured']``."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(columns), figsize=(5.2 * len(columns), 4.8), squeeze=False)
    m = preds["measured"].to_numpy(float)
    lo, hi = axis_limits(preds, columns)
    for ax, col in zip(axes[0], columns, strict=True):
        p = preds[col].to_numpy(float)
        rel = np.abs(p - m) / m
        for fam, group in preds.groupby("family"):
            ax.scatter(group["measured"], group[col], s=14, label=fam, alpha=0.8)
        ax.plot([lo, hi], [lo, hi], "k-", lw=0.8)
        ax.fill_between(
            [lo, hi],
            [lo * 0.9, hi * 0.9],
            [lo * 1.1, hi * 1.1],
            color="grey",
            alpha=0.15,
            label="±10%",
        )
        ax.set(
            xscale="log",
            yscale="log",
            xlim=(lo, hi),
            ylim=(lo, hi),
            xlabel="measured latency (ms)",
            ylabel="predicted latency (ms)",
            title=f"{(labels or {}).get(col, col)}: MAPE {100 * rel.mean():.1f}%, "
            f"±10% {100 * (rel <= 0.1).mean():.0f}%",
        )
        if annotate:
            for name, row in preds.iterrows():
                ax.annotate(str(name), (row["measured"], row[col]), fontsize=7)
    axes[0][-1].legend(fontsize=6, ncol=2, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def error_by_family(preds: pd.DataFrame, columns: list[str], path: Path) -> Path:
    """Bars of mean absolute relative error per family, one bar per predictor."""
    plt = _pyplot()
    m = preds["measured"]
    table = pd.DataFrame(
        {c: ((preds[c] - m).abs() / m).groupby(preds["family"]).mean() * 100 for c in columns}
    )
    table = table.sort_values(columns[-1])
    ax = table.plot.bar(figsize=(max(6, 0.5 * len(table)), 4.2))
    ax.set(ylabel="MAPE (%) of the held-out family", xlabel="")
    ax.figure.tight_layout()
    ax.figure.savefig(path, dpi=110)
    plt.close(ax.figure)
    return path


def comparison_plots(
    scores: pd.DataFrame, preds: pd.DataFrame | None, folder: str | Path, full: str
) -> list[Path]:
    """The `compare --plots` figures: scatter (MAC-only beside full) and error by family for
    leave-one-family-out; MAPE against k for k-shot."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    if preds is not None:
        labels = {"mac": "MAC-only", full: f"full ({full})"}
        return [
            predicted_vs_measured(preds, ["mac", full], out / "predicted_vs_measured.png", labels),
            error_by_family(preds, ["mac", full], out / "error_by_family.png"),
        ]
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, group in scores.groupby("predictor"):
        ax.plot(group["k"], group["MAPE"], marker="o", label=name)
    ax.set(xscale="log", xlabel="calibration models (k)", ylabel="median MAPE (%)")
    ax.legend()
    fig.tight_layout()
    path = out / "kshot_mape.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [path]
