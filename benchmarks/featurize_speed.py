"""Bulk featurising through the command line: N NAS-Bench-201 networks, cold then cached.

    python benchmarks/featurize_speed.py --n 600 --jobs 2

Writes the first N architectures of NAS-Bench-201 to a spec file, runs `costmodel featurize`
on them as a subprocess with a fresh cache (cold), then again (every model a cache hit), and
prints both wall times, networks per second, and the times extrapolated to all 15,625
networks (goals: cold < 120 s, cached < 5 s on 2 cores) as the fixed cost of a run (one cached
model: start-up and writing) plus the measured cost per network. Uses a temporary folder, never the
user's cache.
"""

from __future__ import annotations

import argparse
import itertools
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

OPS = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]
ALL = 15625


def nb201_specs(n: int) -> list[str]:
    archs = itertools.product(OPS, repeat=6)
    return [
        f"nb201:|{e[0]}~0|+|{e[1]}~0|{e[2]}~1|+|{e[3]}~0|{e[4]}~1|{e[5]}~2|"
        for e in itertools.islice(archs, n)
    ]


def run(argv: list[str], env: dict[str, str]) -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "costmodel.cli", *argv], env=env, check=True)
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=600)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--format", choices=["parquet", "csv"], default="parquet")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp())
    specs = folder / "nb201.txt"
    specs.write_text("\n".join(nb201_specs(args.n)) + "\n")
    env = {**os.environ, "COSTMODEL_CACHE": str(folder / "cache")}
    argv = ["featurize", str(specs), "-o", str(folder / f"f.{args.format}")]
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    cold = run([*argv, "--jobs", str(args.jobs)], env)
    warm = run(argv, env)
    one = folder / "one.txt"  # the fixed cost of a run: start-up, one cached model, writing
    one.write_text(nb201_specs(1)[0] + "\n")
    fixed = run(["featurize", str(one), "-o", str(folder / f"one.{args.format}")], env)
    for label, t in (("cold", cold), ("cached", warm)):
        per_model = (t - fixed) / args.n
        print(
            f"{label:6s} {args.n} networks in {t:.1f} s ({args.n / t:.1f}/s; "
            f"{fixed + per_model * ALL:.0f} s extrapolated to {ALL:,}: a fixed {fixed:.1f} s "
            f"+ {per_model * 1e3:.1f} ms per network)"
        )
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
