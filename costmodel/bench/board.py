"""Board metadata saved with every timings dataset: what the numbers were measured on."""

from __future__ import annotations

import datetime as dt
import os
import platform
from typing import Any

import torch


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux, else what platform reports)."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.lower().startswith(("model name", "hardware", "processor\t: arm")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_capability() -> str:
    """The vector instruction set torch's kernels dispatch to here (``AVX512``, ``AVX2``...).

    The CPU's name does not tell it: the project's VM reported "AMD EPYC" on an AVX-512 host one
    day and on an AVX2 one the next, and XNNPACK, oneDNN and ONNX Runtime pick other kernels."""
    return str(torch.backends.cpu.get_cpu_capability())


def recorded_cpu_capability(meta: dict[str, Any]) -> str | None:
    """The instruction set a board.json recorded: its ``cpu_capability``, else (a folder from
    before that key) the ``CPU capability usage`` line of its ``torch_config``; None if neither."""
    if meta.get("cpu_capability"):
        return str(meta["cpu_capability"])
    for line in meta.get("torch_config") or ():
        if "CPU capability usage:" in line:
            return line.split(":", 1)[1].strip()
    return None


def board_metadata(board: str, threads: int, onednn: bool = True) -> dict[str, Any]:
    """Everything needed to know what a timing means: board, CPU, OS, torch build, threads."""
    from costmodel import __version__

    return {
        "board": board,
        "cpu": cpu_model(),
        "cpu_capability": cpu_capability(),
        "machine": platform.machine(),
        "cores": os.cpu_count(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "onednn_available": bool(torch.backends.mkldnn.is_available()),
        "onednn": bool(onednn and torch.backends.mkldnn.is_available()),
        "threads": threads,
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "costmodel": __version__,
        "torch_config": torch.__config__.show().strip().splitlines()[:12],
    }
