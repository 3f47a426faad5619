"""Start-up cost of the command line: `costmodel analyze resnet50` beside `import torch`.

    python benchmarks/startup.py --runs 5

Runs both commands as fresh subprocesses, alternating, ``--runs`` times each, and prints each
one's median wall time and their ratio (the goal: analyze <= 1.5x import torch). Uses a
temporary cache folder (never the user's) and this interpreter. Also prints NB201 build time
on the meta device (the analysis's model build), with and without skipping initialisation.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

COMMANDS = {
    "import torch": [sys.executable, "-c", "import torch"],
    "costmodel analyze resnet50": [sys.executable, "-m", "costmodel.cli", "analyze", "resnet50"],
}


def wall(cmd: list[str], env: dict[str, str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def startup(runs: int) -> dict[str, float]:
    """Median wall seconds of each command, measured alternately in one run."""
    env = {**os.environ, "COSTMODEL_CACHE": tempfile.mkdtemp()}
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(runs):
        for name, cmd in COMMANDS.items():
            times[name].append(wall(cmd, env))
    return {name: statistics.median(t) for name, t in times.items()}


def nb201_build_ms(n: int) -> dict[str, float]:
    """Mean ms to build one NB201 network on meta: as shipped, and with initialisation run."""
    from contextlib import nullcontext
    from unittest import mock

    from costmodel.zoo import build

    specs = [f"nb201:|nor_conv_3x3~0|+|{a}~0|nor_conv_1x1~1|+|skip_connect~0|{a}~1|{b}~2|"
             for a in ("nor_conv_3x3", "avg_pool_3x3", "none", "skip_connect")
             for b in ("nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3")]  # fmt: skip
    specs = (specs * (n // len(specs) + 1))[:n]
    out = {}
    for label, skip in (("init skipped", True), ("init run", False)):
        # "init run": build() as before, under the device context alone
        patch = nullcontext() if skip else mock.patch("costmodel.zoo.specs.skip_meta_init")
        with patch as fake:
            if fake is not None:
                fake.return_value = nullcontext()
            build(specs[0], device="meta")
            t = time.perf_counter()
            for s in specs:
                build(s, device="meta")
            out[label] = (time.perf_counter() - t) / n * 1e3
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--nb201", type=int, default=200, help="NB201 networks to build")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    medians = startup(args.runs)
    for name, t in medians.items():
        print(f"{name:30s} median {t:.2f} s of {args.runs}")
    ratio = medians["costmodel analyze resnet50"] / medians["import torch"]
    print(f"ratio {ratio:.2f}x (goal <= 1.5x: {'met' if ratio <= 1.5 else 'NOT met'})")
    for label, ms in nb201_build_ms(args.nb201).items():
        print(f"NB201 meta build, {label}: {ms:.1f} ms per network")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
