"""ONNX Runtime: ``torch.onnx.export`` -> an .onnx file, run by an
``onnxruntime.InferenceSession`` on the CPU provider with all graph optimisations.

The exporter is TorchScript-based (``dynamo=False``) by default: on the project's 2-core machine
the dynamo exporter costs 5-10x more CPU per model (~25 s against ~3-9 s under load), too much
for a 442-model suite; ``COSTMODEL_ONNX_DYNAMO=1`` selects it (recorded in board.json). ONNX
Runtime optimises either graph the same way (BN folding, Conv+activation fusion, NCHWc).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

import torch

from costmodel.bench.runtimes.base import Runtime


def _dynamo() -> bool:
    return os.environ.get("COSTMODEL_ONNX_DYNAMO", "") == "1"


def _export(model: torch.nn.Module, x: torch.Tensor, path: Path) -> None:
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):  # the exporter prints its progress
        if _dynamo():
            torch.onnx.export(model, (x,), dynamo=True, verbose=False).save(str(path))
        else:
            torch.onnx.export(model, (x,), str(path), dynamo=False, opset_version=17)


PROVIDERS = ["CPUExecutionProvider"]


def session_options(threads: int) -> Any:
    """The session options of every measured run (the per-op profiler adds profiling to these):
    ``threads`` intra-op threads, sequential execution, all graph optimisations."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return options


def _load(path: Path, x: torch.Tensor, threads: int) -> Callable[[], object]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), session_options(threads), providers=PROVIDERS)
    feed = {session.get_inputs()[0].name: x.numpy()}
    return lambda: session.run(None, feed)


def _info(threads: int) -> dict[str, Any]:
    return {
        "runtime": "onnxruntime",
        "runtime_version": version("onnxruntime"),
        "delegate": "CPUExecutionProvider (ORT_ENABLE_ALL, sequential)",
        "exporter": (
            f"torch.onnx dynamo (onnxscript {version('onnxscript')})"
            if _dynamo()
            else "torch.onnx TorchScript, opset 17"
        ),
    }


RUNTIME = Runtime(
    name="onnxruntime",
    extra="onnxruntime",
    packages=("onnxruntime", "onnx", "onnxscript"),
    suffix=".onnx",
    export=_export,
    load=_load,
    info=_info,
)
