"""PyTorch eager: the model's own forward under inference mode, nothing exported."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from costmodel.bench.runtimes.base import Runtime


def _load(model: torch.nn.Module, x: torch.Tensor, threads: int) -> Callable[[], object]:
    torch.set_num_threads(threads)  # the harness's board_config restores it afterwards
    return lambda: model(x)


def _info(threads: int) -> dict[str, Any]:
    return {"runtime": "eager", "runtime_version": torch.__version__, "delegate": "",
            "exporter": ""}  # fmt: skip


RUNTIME = Runtime(
    name="eager", extra="", packages=(), suffix="", export=None, load=_load, info=_info
)
