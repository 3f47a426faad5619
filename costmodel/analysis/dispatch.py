"""Dispatch-level capture: the fallback for models whose own forward fx cannot trace.

The model's forward runs eagerly on meta tensors under the op recorder; every ATen op becomes one
row, attributed to the module it ran in. Python control flow on shapes works (meta tensors have
real shapes); control flow on tensor *values* cannot work without data and raises. Module calls
are followed with global forward hooks that are removed before returning, so nothing is left on
the model.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn
from torch.nn.modules.module import (
    register_module_forward_hook,
    register_module_forward_pre_hook,
)

from costmodel.analysis.capture import (
    CATEGORY_BY_TARGET,
    NodeRecord,
    apply_events,
    make_meta_inputs,
    tensor_meta,
)
from costmodel.analysis.recorder import OpRecorder, _tensors


def run_dispatch(model: nn.Module, example_inputs: tuple[Any, ...]) -> tuple[list[NodeRecord], int]:
    """Run ``model`` on meta inputs; return one record per ATen op and the module-call count."""
    paths = {id(m): (name, type(m).__name__) for name, m in model.named_modules()}
    recorder = OpRecorder(keep_refs=True)
    recorder.mark_params(model)
    stack: list[tuple[str, str]] = []
    records: list[NodeRecord] = []
    producer: dict[int, str] = {}
    seen_params: set[int] = set()
    alive: list[torch.Tensor] = []
    calls = 0

    def flush() -> None:
        for ev in recorder.take():
            args, kwargs, out = ev.args
            ev.args = None
            path, mtype = stack[-1] if stack else ("", type(model).__name__)
            ins = [t for t in _tensors((args, kwargs)) if not recorder.is_param(t)]
            rec = NodeRecord(
                name=f"{ev.op.replace('aten.', '')}_{len(records)}",
                op="aten",
                target=ev.op,
                module=path,
                module_type=mtype,
                input_shapes=[tuple(t.shape) for t in ins],
                inputs=[producer[id(t)] for t in ins if id(t) in producer],
            )
            rec.output_shapes, rec.dtype = tensor_meta(out)
            apply_events(rec, [ev])
            override = CATEGORY_BY_TARGET.get(_module_type(model, path))
            if override and rec.category == "reduction":
                rec.category = override
            for t in _tensors((args, kwargs)):
                if isinstance(t, nn.Parameter) and id(t) not in seen_params:
                    seen_params.add(id(t))
                    rec.params += t.numel()
            for t in _tensors(out):
                producer[id(t)] = rec.name
                alive.append(t)  # keep outputs alive so their ids are not reused mid-capture
            records.append(rec)

    def pre_hook(module: nn.Module, args: Any) -> None:
        nonlocal calls
        flush()
        calls += 1
        stack.append(paths.get(id(module), ("?", type(module).__name__)))

    def post_hook(module: nn.Module, args: Any, out: Any) -> None:
        flush()
        if stack:
            stack.pop()

    handles = [register_module_forward_pre_hook(pre_hook), register_module_forward_hook(post_hook)]
    try:
        with torch.inference_mode(False), torch.no_grad(), recorder:
            model(*make_meta_inputs(example_inputs))
            flush()
    finally:
        for h in handles:
            h.remove()
    return records, calls


def _module_type(model: nn.Module, path: str) -> type | None:
    try:
        return type(model.get_submodule(path)) if path else type(model)
    except AttributeError:
        return None
