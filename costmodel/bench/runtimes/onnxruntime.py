"""ONNX Runtime: ``torch.onnx.export(dynamo=True)`` -> an .onnx file, run by an
``onnxruntime.InferenceSession`` on the CPU provider with all graph optimisations."""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

import torch

from costmodel.bench.runtimes.base import Runtime


def _export(model: torch.nn.Module, x: torch.Tensor, path: Path) -> None:
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):  # the exporter prints its progress
        program = torch.onnx.export(model, (x,), dynamo=True, verbose=False)
    program.save(str(path))


def _load(path: Path, x: torch.Tensor, threads: int) -> Callable[[], object]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: x.numpy()}
    return lambda: session.run(None, feed)


def _info(threads: int) -> dict[str, Any]:
    return {
        "runtime": "onnxruntime",
        "runtime_version": version("onnxruntime"),
        "delegate": "CPUExecutionProvider (ORT_ENABLE_ALL, sequential)",
        "onnx_exporter": f"torch.onnx dynamo, onnxscript {version('onnxscript')}",
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
