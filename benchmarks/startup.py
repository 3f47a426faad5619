"""Start-up cost of the command line: `costmodel analyze resnet50` beside `import torch`.

    python benchmarks/startup.py --runs 5

Runs both commands as fresh subprocesses, alternating, ``--runs`` times each, and prints each
one's median wall and CPU time and their ratios (the goal: analyze <= 1.5x import torch, in
wall time). Uses a temporary cache folder (never the user's) and this interpreter. Also prints
NB201 build time on the meta device (the analysis's model build), with and without skipping
initialisation.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

COMMANDS = {
    "import torch": [sys.executable, "-c", "import torch"],
    "costmodel analyze resnet50": [sys.executable, "-m", "costmodel.cli", "analyze", "resnet50"],
}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def wall_and_cpu(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system) of one run of ``cmd``."""
    t, cpu = time.perf_counter(), _children_cpu()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t, _children_cpu() - cpu


def startup(runs: int) -> dict[str, tuple[float, float]]:
    """Median (wall, CPU) seconds of each command, measured alternately in one run (the CPU
    time is less sensitive than the wall time to other jobs on a shared machine)."""
    env = {**os.environ, "COSTMODEL_CACHE": tempfile.mkdtemp()}
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in COMMANDS}
    for _ in range(runs):
        for name, cmd in COMMANDS.items():
            times[name].append(wall_and_cpu(cmd, env))
    return {
        name: (statistics.median(w for w, _ in t), statistics.median(c for _, c in t))
        for name, t in times.items()
    }


def nb201_build_ms(n: int) -> dict[str, float]:
    """Mean ms to build one NB201 network on meta: as shipped, and with initialisation run."""
    from contextlib import nullcontext
    from unittest import mock

    from costmodel.zoo import build

    specs = [f"nb201:|nor_conv_3x3~0|+|{a}~0|nor_conv_1x1~1|+|skip_connect~0|{a}~1|{b}~2|"
             for a in ("nor_conv_3x3", "avg_pool_3x3", "none", "skip_connect")
             for b in ("nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3")]  # fmt: skip
    specs = (specs * (n // len(specs) + 1))[:n]
    build(specs[0], device="meta")  # warm: imports and first-call costs
    times: dict[str, list[float]] = {"init skipped": [], "init run": []}
    for _ in range(3):  # alternate the two, three rounds, median of each
        for label in times:
            # "init run": build() as before this change, under the device context alone
            patch = (
                mock.patch("costmodel.zoo.specs.skip_meta_init", return_value=nullcontext())
                if label == "init run"
                else nullcontext()
            )
            with patch:
                t = time.perf_counter()
                for s in specs:
                    build(s, device="meta")
                times[label].append((time.perf_counter() - t) / n * 1e3)
    return {label: statistics.median(t) for label, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--nb201", type=int, default=200, help="NB201 networks to build")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    medians = startup(args.runs)
    for name, (w, c) in medians.items():
        print(f"{name:30s} median wall {w:.2f} s, CPU {c:.2f} s, of {args.runs}")
    (w_a, c_a), (w_t, c_t) = medians["costmodel analyze resnet50"], medians["import torch"]
    print(f"ratio wall {w_a / w_t:.2f}x (goal <= 1.5x: {'met' if w_a / w_t <= 1.5 else 'NOT met'})"
          f", CPU {c_a / c_t:.2f}x")  # fmt: skip
    for label, ms in nb201_build_ms(args.nb201).items():
        print(f"NB201 meta build, {label}: {ms:.1f} ms per network")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
