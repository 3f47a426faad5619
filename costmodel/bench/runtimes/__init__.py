"""Measurement runtimes (eager PyTorch, ExecuTorch-XNNPACK, ONNX Runtime) and the cache of
their exported models.

Exporting is slow (seconds to tens of seconds per model) and is not part of what is timed, so
``prepare`` keeps each export on disk under ``$COSTMODEL_CACHE/runtimes/`` (keyed by runtime, its
version and exporter, model spec and input shape); an export that failed is kept too, as its error,
so a rerun does not retry it.
"""

from __future__ import annotations

import hashlib
import os
import traceback
import warnings
from pathlib import Path
from typing import Any

import torch

from costmodel.analysis.capture import eval_mode
from costmodel.bench.runtimes import eager, executorch, onnxruntime
from costmodel.bench.runtimes.base import Runtime, RuntimeMissingError

RUNTIMES: dict[str, Runtime] = {r.name: r for r in (eager.RUNTIME, executorch.RUNTIME,
                                                     onnxruntime.RUNTIME)}  # fmt: skip


class ExportError(RuntimeError):
    """A model the runtime could not export (the message is the exporter's last error line)."""


def get_runtime(name: str) -> Runtime:
    """The runtime called ``name``, its packages checked (one-line error naming the extra)."""
    if name not in RUNTIMES:
        raise ValueError(f"unknown runtime {name!r}: use one of {', '.join(RUNTIMES)}")
    rt = RUNTIMES[name]
    rt.require()
    return rt


def artifact_dir() -> Path:
    """Where exports are cached: ``$COSTMODEL_CACHE/runtimes`` (default ~/.cache/costmodel)."""
    root = os.environ.get("COSTMODEL_CACHE", Path.home() / ".cache" / "costmodel")
    return Path(root) / "runtimes"


def artifact_path(rt: Runtime, spec: str, shape: tuple[int, ...]) -> Path:
    """The cache file of one export (``.err`` next to it holds a failed export's error)."""
    info = rt.info(1)
    key = (rt.name, info["runtime_version"], torch.__version__, spec, tuple(shape))
    key = repr((*key, info["exporter"]))
    digest = hashlib.sha1(key.encode()).hexdigest()
    return artifact_dir() / f"{rt.name}-{info['runtime_version']}" / f"{digest}{rt.suffix}"


def prepare(rt: Runtime, spec: str, model: torch.nn.Module, x: torch.Tensor) -> Any:
    """What ``rt.load`` runs: the model itself (eager) or its cached export, exporting it first
    when it is not cached. Raises :class:`ExportError` when the export fails (now or before)."""
    if rt.export is None:
        return model
    path = artifact_path(rt, spec, tuple(x.shape))
    failed = path.with_suffix(".err")
    if path.exists():
        return path
    if failed.exists():
        raise ExportError(failed.read_text())
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp")
    try:
        with eval_mode(model), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # exporters' deprecation and tracer warnings
            rt.export(model, x, tmp)
    except Exception as exc:
        message = traceback.format_exception_only(type(exc), exc)[-1].strip()[:300]
        failed.write_text(f"{rt.name} export failed: {message}")
        tmp.unlink(missing_ok=True)
        raise ExportError(failed.read_text()) from exc
    os.replace(tmp, path)
    return path


def is_prepared(rt: Runtime, spec: str, shape: tuple[int, ...]) -> bool:
    """Whether ``spec`` was exported (or its export failed) already."""
    if rt.export is None:
        return True
    path = artifact_path(rt, spec, shape)
    return path.exists() or path.with_suffix(".err").exists()


__all__ = [
    "RUNTIMES",
    "ExportError",
    "Runtime",
    "RuntimeMissingError",
    "artifact_path",
    "get_runtime",
    "is_prepared",
    "prepare",
]
