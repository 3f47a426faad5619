"""ExecuTorch with the XNNPACK delegate: ``torch.export`` -> edge dialect lowered with the
XNNPACK partitioner -> an ExecuTorch program (.pte), run by ``executorch.runtime``."""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

import torch

from costmodel.bench.runtimes.base import Runtime


def _export(model: torch.nn.Module, x: torch.Tensor, path: Path) -> None:
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    exported = torch.export.export(model, (x,))
    edge = to_edge_transform_and_lower(exported, partitioner=[XnnpackPartitioner()])
    path.write_bytes(edge.to_executorch().buffer)


def _load(path: Path, x: torch.Tensor, threads: int) -> Callable[[], object]:
    from executorch.extension.pybindings import portable_lib
    from executorch.runtime import Runtime as EtRuntime

    portable_lib._unsafe_reset_threadpool(threads)  # XNNPACK's thread pool
    method = EtRuntime.get().load_program(Path(path)).load_method("forward")
    inputs = [x]
    return lambda: method.execute(inputs)


def _info(threads: int) -> dict[str, Any]:
    return {
        "runtime": "executorch",
        "runtime_version": version("executorch"),
        "delegate": "XnnpackPartitioner",
        "exporter": "torch.export + to_edge_transform_and_lower",
    }


RUNTIME = Runtime(
    name="executorch",
    extra="executorch",
    packages=("executorch.exir", "executorch.runtime"),
    suffix=".pte",
    export=_export,
    load=_load,
    info=_info,
)
