"""Per-op timings: every node of a model timed in isolation, cached by op configuration.

The model's fx graph is executed once on real tensors; before each node runs, the node's own
call (the module, function or method with exactly those inputs) is timed in a tight loop,
outside the interpreter, so the interpreter's per-node Python work is not counted (timing
through torch.fx.Interpreter inflates small ops 2-3x). Nodes with the same configuration
(module type, settings and parameter shapes, or function and argument shapes) share one
measurement, within a model and across models, so a suite costs little more than its distinct
configurations.

The sum of a model's op times is compared with its whole-model latency (``coverage``): the
difference is what running the ops back to back adds, chiefly the nn.Module calls of containers
that fx flattens away.
"""

from __future__ import annotations

import hashlib
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch
import torch.fx as fx
import torch.nn as nn

from costmodel.analysis.capture import _module_signature
from costmodel.analysis.recorder import _map
from costmodel.analysis.trace import trace_with_fallback


def _arg_key(x: Any) -> Any:
    if isinstance(x, torch.Tensor):
        return ("T", tuple(x.shape), x.stride(), str(x.dtype))
    if isinstance(x, (int, float, bool, str, type(None), torch.dtype)):
        return x
    return type(x).__name__


def config_key(node: fx.Node, root: nn.Module, args: Any, kwargs: Any) -> str:
    """A short stable hash of what determines a node's latency."""
    if node.op == "call_module":
        m = root.get_submodule(node.target)
        sig = _module_signature(m)
        if sig[0] == "instance":  # a user's leaf: its class and repr stand for its settings
            sig = (type(m).__qualname__, repr(m))
        what: Any = (sig[0].__name__ if isinstance(sig[0], type) else sig[0], *sig[1:])
    else:
        what = (node.op, getattr(node.target, "__qualname__", str(node.target)))
    text = repr((what, _map(_arg_key, (tuple(args), dict(kwargs)))))
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def time_call(
    fn: Callable[[], object],
    clock: Callable[[], float] = time.perf_counter,
    min_block_s: float = 2e-3,
    blocks: int = 5,
    warmup: int = 2,
) -> float:
    """Median seconds per call of ``fn``: ``blocks`` blocks of back-to-back calls, each block
    long enough (``min_block_s``) that the clock's resolution does not matter."""
    for _ in range(warmup):
        fn()
    t0 = clock()
    fn()
    once = max(clock() - t0, 1e-7)
    inner = max(1, min(1000, int(min_block_s / once)))
    per_call = []
    for _ in range(blocks):
        t0 = clock()
        for _ in range(inner):
            fn()
        per_call.append((clock() - t0) / inner)
    return statistics.median(per_call)


class _TimingRunner(fx.Interpreter):
    def __init__(self, root: nn.Module, graph: fx.Graph, cache: dict[str, float], timer) -> None:
        super().__init__(root, graph=graph)
        self.cache = cache
        self.timer = timer
        self.rows: list[dict[str, Any]] = []

    def run_node(self, n: fx.Node) -> Any:
        if n.op not in ("call_module", "call_function", "call_method"):
            return super().run_node(n)
        with self._set_current_node(n):
            args, kwargs = self.fetch_args_kwargs_from_env(n)
            key = config_key(n, self.module, args, kwargs)
            cached = key in self.cache
            if not cached:
                call = getattr(self, n.op)
                self.cache[key] = self.timer(lambda: call(n.target, args, kwargs))
            self.rows.append(
                {
                    "node": n.name,
                    "config": key,
                    "latency_us": 1e6 * self.cache[key],
                    "cached": cached,
                }
            )
            return getattr(self, n.op)(n.target, args, kwargs)


def time_ops(
    model: nn.Module,
    example_inputs: tuple[Any, ...],
    cache: dict[str, float] | None = None,
    timer: Callable[[Callable[[], object]], float] = time_call,
) -> list[dict[str, Any]]:
    """One row per call node of ``model``: node name, configuration hash, latency (us), and
    whether the latency came from the cache. Empty when the model cannot be traced by fx."""
    graph, _ = trace_with_fallback(model)
    if graph is None:
        return []
    runner = _TimingRunner(model, graph, {} if cache is None else cache, timer)
    with torch.inference_mode():
        runner.run(*example_inputs)
    return runner.rows
