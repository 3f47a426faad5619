"""Calibration quality: repeatability of whole-model timings, and per-op coverage.

Repeatability: the same models measured twice (two timings folders), the per-model relative
difference |a - b| / mean(a, b); reported as the median over models and over models above 5 ms.
Coverage: for each model, the sum of its per-op times (ops.csv) over its whole-model latency;
for in-context rows (``method`` in_context) that sum includes the measured ``(between)`` row
(time outside every op), shown on its own as ``between_share``. Goal: median in 0.95-1.05.

    # measure the zoo a second time, then compare with the reference folder
    .venv/bin/costmodel calibrate --suite zoo --board x86-2core-1t --threads 1 --no-per-op \\
        --out /tmp/repeat
    .venv/bin/python benchmarks/calibration_quality.py calibration/boards/x86-2core-1t \\
        --repeat /tmp/repeat --out benchmarks/results/calibration_quality.csv
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from costmodel.bench.store import read_timings


def coverage(folder: Path) -> pd.DataFrame:
    """Per model: whole-model latency, sum of op times, their ratio, and node count."""
    timings = read_timings(folder / "timings.csv").set_index("model")
    ops = pd.read_csv(folder / "ops.csv")
    if "method" not in ops.columns:  # ops.csv format 1: isolated timings only
        ops["method"] = "isolated"
    ops["method"] = ops["method"].fillna("isolated")
    between = ops["node"] == "(between)"
    sums = ops[~between].groupby("model")["latency_us"].agg(["sum", "count"])
    table = timings[["family", "latency_ms"]].join(sums, how="inner")
    table["method"] = ops.groupby("model")["method"].first()
    table["between_ms"] = ops[between].groupby("model")["latency_us"].sum() / 1e3
    table["between_ms"] = table["between_ms"].fillna(0.0)
    table["ops_sum_ms"] = table.pop("sum") / 1e3 + table["between_ms"]
    table["coverage"] = table["ops_sum_ms"] / table["latency_ms"]
    table["between_share"] = table["between_ms"] / table["latency_ms"]
    return table.rename(columns={"count": "nodes"})


def repeatability(a: Path, b: Path) -> pd.DataFrame:
    ta = read_timings(a / "timings.csv").set_index("model")["latency_ms"]
    tb = read_timings(b / "timings.csv").set_index("model")["latency_ms"]
    both = pd.concat({"first_ms": ta, "second_ms": tb}, axis=1, join="inner")
    both["rel_diff"] = (both["first_ms"] - both["second_ms"]).abs() / both.mean(axis=1)
    return both


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("folder", type=Path, help="a timings folder with ops.csv")
    parser.add_argument("--repeat", type=Path, help="a second measurement of the same models")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    cov = coverage(args.folder)
    methods = ", ".join(sorted(cov["method"].unique()))
    print(f"coverage (sum of op times / whole-model latency), {len(cov)} models ({methods}):")
    print(cov["coverage"].describe(percentiles=[0.1, 0.5, 0.9]).to_string(float_format="%.3f"))
    if (cov["between_ms"] > 0).any():
        print(
            f"between-ops row: median {cov['between_share'].median():.1%} of the whole model "
            f"(10th-90th percentile {cov['between_share'].quantile(0.1):.1%}-"
            f"{cov['between_share'].quantile(0.9):.1%})"
        )
    by_family = cov.groupby("family")["coverage"].median().sort_values()
    print("median coverage by family:\n" + by_family.to_string(float_format="%.2f"))
    table = cov
    if args.repeat:
        rep = repeatability(args.folder, args.repeat)
        big = rep[rep[["first_ms", "second_ms"]].mean(axis=1) > 5]
        print(
            f"repeatability over {len(rep)} models: median |diff| {rep['rel_diff'].median():.1%}"
            f", 90th percentile {rep['rel_diff'].quantile(0.9):.1%}, max "
            f"{rep['rel_diff'].max():.1%}; models over 5 ms ({len(big)}): median "
            f"{big['rel_diff'].median():.1%}, 90th percentile {big['rel_diff'].quantile(0.9):.1%}"
        )
        table = cov.join(rep, how="outer")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.out, float_format="%.4g")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
