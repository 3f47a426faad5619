"""torch.fx tracing with clear errors and automatic leaf modules.

:func:`fx_trace` traces a model symbolically (no data is computed). When tracing fails inside a
submodule, :func:`trace_with_fallback` makes that submodule a *leaf* (one graph node that runs
eagerly) and tries again: a leaf still runs on meta tensors under the op recorder, so its work
is counted in full, only at the granularity of one node. When the root module's own forward
cannot be traced, the caller falls back to dispatch-level capture of the whole model.

Tracing never mutates the model. The graph is interpreted against the model itself (no
GraphModule is built: its generated code would never run).
"""

from __future__ import annotations

import linecache
import os
import traceback
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.fx as fx
import torch.nn as nn

from costmodel.analysis.errors import UntraceableModelError

_TORCH_DIR = os.path.dirname(torch.__file__)
# Frames in these folders are machinery, not the code that failed: torch.fx and torch's private
# packages, and the analyzer itself. torch.nn frames stay (a torch module's forward can fail).
_MACHINERY = (
    os.path.join(_TORCH_DIR, "fx"),
    os.path.join(_TORCH_DIR, "_"),
    os.path.join(_TORCH_DIR, "utils"),
    os.path.dirname(__file__),
)


@dataclass
class TraceFailure:
    """Where and why fx failed: the module being traced and the user's source line."""

    module_path: str
    module_type: str
    message: str
    location: str

    def describe(self) -> str:
        where = (
            f"module '{self.module_path}' ({self.module_type})"
            if self.module_path
            else (f"the model's own forward ({self.module_type})")
        )
        return f"{self.message}\n  in {where}\n  at {self.location}"


class _Tracer(fx.Tracer):
    """fx.Tracer that treats chosen modules as leaves and remembers the module it is inside."""

    # Buffers become get_attr nodes: an in-place update in forward (``self.ema.mul_(0.9)``) is
    # traced, never executed on the real buffer.
    proxy_buffer_attributes = True

    def __init__(
        self,
        leaf_paths: set[str],
        leaf_types: tuple[type, ...],
        blocks: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.leaf_paths = leaf_paths
        self.leaf_types = leaf_types
        self.blocks = blocks or {}  # path -> Fragment: kept as one node (costmodel.analysis.blocks)
        self.inline: set[str] = set()  # blocks called in a way their fragment does not cover
        self.path_stack: list[tuple[str, str]] = []

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        if qualname in self.leaf_paths or (self.leaf_types and isinstance(m, self.leaf_types)):
            return True
        if qualname in self.blocks and qualname not in self.inline:
            return True
        return super().is_leaf_module(m, qualname)

    def call_module(self, m, forward, args, kwargs):
        # Pushed on entry and popped only on success: after an exception the stack names the
        # innermost module whose tracing failed.
        path = self.path_of_module(m)
        self.path_stack.append((path, type(m).__name__))
        block = self.blocks.get(path)
        plain = block is None or (
            not kwargs and len(args) == block.arity and all(isinstance(a, fx.Proxy) for a in args)
        )
        if not plain:  # e.g. called with a constant: traced through, as without blocks
            self.inline.add(path)
        try:
            out = super().call_module(m, forward, args, kwargs)
        finally:
            self.inline.discard(path)
        self.path_stack.pop()
        return out


def _user_location(exc: BaseException) -> str:
    """The innermost traceback frame in user code (not torch, not costmodel's analyzer)."""
    frames = traceback.extract_tb(exc.__traceback__)
    user = [f for f in frames if not f.filename.startswith(_MACHINERY)]
    frame = user[-1] if user else (frames[-1] if frames else None)
    if frame is None:
        return "<unknown location>"
    code = (frame.line or linecache.getline(frame.filename, frame.lineno or 0)).strip()
    return f"{frame.filename}:{frame.lineno}, in {frame.name}: {code}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def fx_trace(
    model: nn.Module,
    leaf_paths: Iterable[str] = (),
    leaf_types: tuple[type, ...] = (),
    concrete_args: dict[str, Any] | None = None,
    blocks: Mapping[str, Any] | None = None,
) -> fx.Graph | TraceFailure:
    """Trace ``model``; return the graph, or a :class:`TraceFailure` describing the error.

    ``blocks`` (path -> :class:`~costmodel.analysis.blocks.Fragment`) are kept as one node each.
    """
    tracer = _Tracer(set(leaf_paths), tuple(leaf_types), blocks)
    try:
        graph = tracer.trace(model, concrete_args=concrete_args)
    except Exception as exc:
        path, mtype = tracer.path_stack[-1] if tracer.path_stack else ("", type(model).__name__)
        return TraceFailure(path, mtype, _first_line(exc), _user_location(exc))
    return graph


def trace_with_fallback(
    model: nn.Module,
    leaf_paths: Iterable[str] = (),
    leaf_types: tuple[type, ...] = (),
    concrete_args: dict[str, Any] | None = None,
    auto_leaf: bool = True,
    max_auto_leaves: int = 64,
    blocks: Mapping[str, Any] | None = None,
) -> tuple[fx.Graph | None, list[TraceFailure]]:
    """Trace, turning each failing submodule into a leaf (when ``auto_leaf``) until it works.

    Returns the graph (None when the root forward itself cannot be traced) and the failures
    met on the way; each failure's module became a leaf.
    """
    leaves = set(leaf_paths)
    failures: list[TraceFailure] = []
    while True:
        result = fx_trace(model, leaves, leaf_types, concrete_args, blocks)
        if isinstance(result, fx.Graph):
            return result, failures
        failures.append(result)
        if not auto_leaf or not result.module_path or result.module_path in leaves:
            return None, failures
        if len(failures) > max_auto_leaves:
            return None, failures
        leaves.add(result.module_path)


def untraceable_error(model: nn.Module, failures: list[TraceFailure], extra: str = "") -> str:
    """The message for a model that neither fx nor the fallback could capture."""
    last = failures[-1]
    remedy = (
        "What to do:\n"
        "  - make the failing module a leaf: analyze(..., leaf_modules=['<module path or class>'])"
        " / --leaf-module (a leaf runs eagerly on meta tensors and is still counted in full);\n"
        "  - fix non-tensor arguments that drive control flow: analyze(..., concrete_args={...});\n"
        "  - control flow on tensor *values* (e.g. `if x.sum() > 0`) cannot be analysed without"
        " data: rewrite it with tensor ops (torch.where) or wrap it in a leaf module whose"
        " branch does not depend on values."
    )
    text = f"costmodel could not trace {type(model).__name__} with torch.fx:\n  {last.describe()}"
    if extra:
        text += f"\nThe dispatch-level fallback failed too:\n  {extra}"
    return f"{text}\n{remedy}"


def raise_untraceable(model: nn.Module, failures: list[TraceFailure], extra: str = "") -> None:
    raise UntraceableModelError(untraceable_error(model, failures, extra))
