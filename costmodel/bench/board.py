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


def board_metadata(board: str, threads: int, onednn: bool = True) -> dict[str, Any]:
    """Everything needed to know what a timing means: board, CPU, OS, torch build, threads."""
    from costmodel import __version__

    return {
        "board": board,
        "cpu": cpu_model(),
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
