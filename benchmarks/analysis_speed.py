"""Analysis cost against one real forward pass, for every model the project ships.

For each model: the static analysis time (first call and median of repeats), the peak Python
memory the analysis allocates, and the forward-pass time on this machine (first call, then the
median of warm repeats, batch 1, fixed thread count), all measured in the same run. Also times
NAS-Bench-201 analysis throughput.

    .venv/bin/python benchmarks/analysis_speed.py --out benchmarks/results/analysis_speed.csv
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
import tracemalloc
from pathlib import Path

import pandas as pd
import torch

import costmodel
from costmodel.zoo import build, input_shape
from costmodel.zoo.catalog import zoo_specs


def _time(fn, repeats: int) -> tuple[float, float]:
    """(first call, median of the following ``repeats`` calls) in seconds."""
    t = time.perf_counter()
    fn()
    first = time.perf_counter() - t
    runs = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t)
    return first, statistics.median(runs)


def measure(spec: str, repeats: int) -> dict:
    model = build(spec)
    shape = input_shape(spec)
    first_a, median_a = _time(lambda: costmodel.analyze(model, shape), repeats)
    tracemalloc.start()
    analysis = costmodel.analyze(model, shape)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    x = torch.randn(shape)
    with torch.inference_mode():
        first_f, median_f = _time(lambda: model(x), repeats)
    return {
        "model": spec,
        "MMACs": analysis.totals["macs"] / 1e6,
        "nodes": analysis.totals["nodes"],
        "analysis_first_ms": 1e3 * first_a,
        "analysis_ms": 1e3 * median_a,
        "analysis_peak_MB": peak / 1e6,
        "forward_first_ms": 1e3 * first_f,
        "forward_ms": 1e3 * median_f,
        "forward_over_analysis": median_f / median_a,
        "first_forward_over_analysis": first_f / first_a,
    }


def nb201_throughput(n: int) -> float:
    """Networks analysed per second (build + analyze), over the first ``n`` arch strings."""
    import itertools

    ops = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]
    archs = []
    for e in itertools.islice(itertools.product(ops, repeat=6), n):
        archs.append(f"|{e[0]}~0|+|{e[1]}~0|{e[2]}~1|+|{e[3]}~0|{e[4]}~1|{e[5]}~2|")
    t = time.perf_counter()
    for arch in archs:
        costmodel.analyze(f"nb201:{arch}")
    return n / (time.perf_counter() - t)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--nb201", type=int, default=200, help="NB201 networks to time")
    parser.add_argument("--only", action="append", help="only these specs")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/analysis_speed.csv"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    costmodel.analyze("resnet?depth=18")  # one-time import and kernel-registry warm-up
    specs = args.only or zoo_specs()
    t = time.perf_counter()
    rows = [measure(s, args.repeats) for s in specs]
    table = pd.DataFrame(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False, float_format="%.4g")
    big = table[table["MMACs"] > 1000]
    print(
        f"machine: {platform.processor() or platform.machine()}, {args.threads} thread(s), "
        f"torch {torch.__version__}, {len(table)} models, wall {time.perf_counter() - t:.0f} s"
    )
    print(f"all models: total median analysis time {table['analysis_ms'].sum() / 1e3:.2f} s")
    print(
        big[
            [
                "model",
                "MMACs",
                "analysis_ms",
                "forward_ms",
                "forward_over_analysis",
                "forward_first_ms",
                "first_forward_over_analysis",
            ]
        ].to_string(index=False, float_format=lambda v: f"{v:.1f}")
    )
    print(
        "analysis: median "
        f"{table['analysis_ms'].median():.1f} ms, max {table['analysis_ms'].max():.1f} ms; "
        f"peak memory max {table['analysis_peak_MB'].max():.1f} MB"
    )
    if args.nb201:
        rate = nb201_throughput(args.nb201)
        print(f"NB201: {rate:.1f} networks/s analysed (build + analyze), 1 process")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
