"""Analysis at search-space scale (issue 13): block reuse on the zoo, peak memory.

    .venv/bin/python benchmarks/search_scale.py                # both
    .venv/bin/python benchmarks/search_scale.py --only zoo

Bulk featurising of NAS-Bench-201 through the CLI is ``benchmarks/featurize_speed.py``.

- ``zoo``: every zoo model, in one process, side by side: a full trace without block reuse
  (from cold caches, then the median of repeats), the first analysis from a cold memo, a warm
  re-analysis of the same instance (median), and the analysis of a fresh instance once its
  blocks were seen (median).
- ``memory``: peak memory of one analysis (Python allocations and process RSS growth) for a
  3-billion-parameter stack of linear layers and the same stack 128x narrower, each in a fresh
  process; on the meta device (how the zoo builds for analysis) and with real weights.

Never touches the user's cache (a temporary ``COSTMODEL_CACHE``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _machine() -> str:
    import torch

    from costmodel.bench.board import cpu_model

    return (
        f"{cpu_model()}, {os.cpu_count()} cores, "
        f"torch {torch.__version__}, Python {platform.python_version()}, "
        f"load average at start {os.getloadavg()[0]:.1f}"
    )


def _median_time(fn, repeats: int) -> float:
    runs = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t)
    return statistics.median(runs)


def _zoo_row(spec: str, repeats: int) -> tuple:
    """(spec, full repeated, first with reuse, warm, blocks seen, full from cold) in seconds."""
    import costmodel
    from costmodel.analysis import blocks, capture
    from costmodel.zoo import build, input_shape

    shape = input_shape(spec)
    model = build(spec, device="meta")

    def run(m=model, **kw):
        return costmodel.analyze(m, shape, **kw)

    blocks.clear()
    capture._SHARED_CACHE.clear()  # nothing of any model seen: a cold start
    full_first = _median_time(lambda: run(reuse_blocks=False), 1)
    full = _median_time(lambda: run(reuse_blocks=False), repeats)
    blocks.clear()
    capture._SHARED_CACHE.clear()
    first = _median_time(run, 1)
    warm = _median_time(run, repeats)
    fresh = [build(spec, device="meta") for _ in range(repeats)]
    seen = _median_time(lambda: run(fresh.pop()), repeats)
    return spec, full, first, warm, seen, full_first


def zoo_bench(repeats: int) -> dict:
    import costmodel
    from costmodel.zoo.catalog import zoo_specs

    costmodel.analyze("resnet?depth=18")  # imports and kernel registries, once
    rows = [_zoo_row(spec, repeats) for spec in zoo_specs()]
    return {
        "models": len(rows),
        "median_full_trace_first_ms (no reuse, cold)": round(
            1e3 * statistics.median(r[5] for r in rows), 1
        ),
        "median_full_trace_ms (no reuse, repeated)": round(
            1e3 * statistics.median(r[1] for r in rows), 1
        ),
        "median_first_ms (cold memo)": round(1e3 * statistics.median(r[2] for r in rows), 1),
        "median_warm_ms": round(1e3 * statistics.median(r[3] for r in rows), 1),
        "median_seen_blocks_ms": round(1e3 * statistics.median(r[4] for r in rows), 1),
        "median_seen/first": round(statistics.median(r[4] / r[2] for r in rows), 3),
        "max_seen/first": round(max(r[4] / r[2] for r in rows), 3),
        "median_warm/full": round(statistics.median(r[3] / r[1] for r in rows), 3),
    }


_MEMORY_CHILD = """
import json, resource, sys, tracemalloc, warnings
import torch, torch.nn as nn
import costmodel
width, device = int(sys.argv[1]), sys.argv[2]
costmodel.analyze(nn.Sequential(nn.Linear(8, 8)), (1, 8))  # imports and registries
with torch.device(device):
    model = nn.Sequential(*[nn.Linear(width, width) for _ in range(45)])
params = sum(p.numel() for p in model.parameters())
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
tracemalloc.start()
costmodel.analyze(model, (1, width))
peak = tracemalloc.get_traced_memory()[1]
grew = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(json.dumps({"params": params, "python_peak_MB": peak / 1e6, "rss_growth_MB": grew / 1e3}))
"""


def memory_bench() -> dict:
    out = {}
    for label, width, device in (
        ("3B params, meta", 8192, "meta"),
        ("same stack 128x narrower, meta", 64, "meta"),
        ("0.19B params, real weights", 2048, "cpu"),
        ("same stack 32x narrower, real weights", 64, "cpu"),
    ):
        res = subprocess.run(
            [sys.executable, "-c", _MEMORY_CHILD, str(width), device],
            capture_output=True,
            text=True,
            check=True,
        )
        out[label] = json.loads(res.stdout.strip().splitlines()[-1])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", action="append", choices=["zoo", "memory"])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    os.environ["COSTMODEL_CACHE"] = tempfile.mkdtemp()  # never the user's cache
    warnings.simplefilter("ignore")
    print(_machine())
    todo = args.only or ["zoo", "memory"]
    report = {}
    if "zoo" in todo:
        report["zoo"] = zoo_bench(args.repeats)
        print("zoo:", json.dumps(report["zoo"], indent=1))
    if "memory" in todo:
        report["memory"] = memory_bench()
        print("memory:", json.dumps(report["memory"], indent=1))


if __name__ == "__main__":
    main()
