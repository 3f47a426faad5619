"""Record and cost the ATen ops that run while a node executes on meta tensors.

:class:`OpRecorder` is a dispatch mode: it sees every ATen op call before any kernel runs. Inputs
are meta tensors (shape, stride and dtype, no data). Any other tensor an op receives is one of the
model's parameters or buffers (or a constant made in forward): the recorder swaps it for a meta
twin before the op runs, so nothing is ever computed, and remembers that it is a parameter. That
is how parameter reads are told apart from activation reads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from costmodel.analysis.ops import OpCost, lookup
from costmodel.analysis.shapes import lookup as fast_shape_rule

META = torch.device("meta")


@dataclass
class OpEvent:
    """One ATen op call and its cost. ``cost`` is None for an op with no formula (unknown)."""

    op: str
    cost: OpCost | None
    act_elems_read: int = 0
    param_elems_read: int = 0
    elems_written: int = 0
    act_bytes_read: int = 0
    param_bytes_read: int = 0
    bytes_written: int = 0
    error: str = ""
    args: Any = None  # (args, kwargs, out), kept only when the recorder is asked to keep refs


def _shape_of(x: Any) -> Any:
    return x.shape if isinstance(x, torch.Tensor) else x


def _is_seq(x: Any) -> bool:
    kind = type(x)
    if kind is tuple or kind is list:
        return True
    # fx's immutable_list is a list; torch.Size and named tuples are values, not containers
    return isinstance(x, list) or (
        isinstance(x, tuple) and not isinstance(x, torch.Size) and not hasattr(x, "_fields")
    )


def _map(fn: Callable[[Any], Any], x: Any) -> Any:
    """``fn`` over the leaves of ATen arguments (values, lists, tuples, dicts): a lean tree_map
    for the hot path, since ATen arguments never nest deeper than that."""
    if _is_seq(x):
        return type(x)([_map(fn, v) for v in x])
    if isinstance(x, dict):
        return {k: _map(fn, v) for k, v in x.items()}
    return fn(x)


def _tensors(tree: Any, out: list[torch.Tensor] | None = None) -> list[torch.Tensor]:
    """The tensors among the leaves of ATen arguments, in order."""
    out = [] if out is None else out
    if isinstance(tree, torch.Tensor):
        out.append(tree)
    elif _is_seq(tree):
        for v in tree:
            _tensors(v, out)
    elif isinstance(tree, dict):
        for v in tree.values():
            _tensors(v, out)
    return out


def cost_event(
    func: Any, args: tuple, kwargs: dict, out: Any, is_param: Callable[[torch.Tensor], bool]
) -> OpEvent:
    """Cost one ATen call: the formula's arithmetic plus the elements and bytes it moves.

    ``is_param(t)`` tells parameter (and buffer) tensors from activations.
    """
    name = str(func.overloadpacket)
    fn = lookup(func)
    if fn is None:
        cost, error = None, "no formula"
    else:
        try:
            param_args = tuple(isinstance(a, torch.Tensor) and is_param(a) for a in args)
            cost = fn(
                *_map(_shape_of, args),
                out=_map(_shape_of, out),
                param_args=param_args,
                **_map(_shape_of, kwargs),
            )
            error = ""
        except Exception as exc:  # a formula that cannot read these arguments: report, not zero
            cost, error = None, f"formula failed: {exc}"
    event = OpEvent(op=name, cost=cost, error=error)
    if cost is not None and not cost.moves_data:
        return event
    for t in _tensors((args, kwargs)):
        n, b = t.numel(), t.numel() * t.element_size()
        if is_param(t):
            event.param_elems_read += n
            event.param_bytes_read += b
        else:
            event.act_elems_read += n
            event.act_bytes_read += b
    for t in _tensors(out):
        event.elems_written += t.numel()
        event.bytes_written += t.numel() * t.element_size()
    return event


class OpRecorder(TorchDispatchMode):
    """Runs every ATen op on meta tensors and collects an :class:`OpEvent` for it.

    Parameters are the non-meta tensors an op receives (swapped for cached meta twins) and
    zero-copy views of them (``F.linear`` passes ``weight.t()`` to ``addmm``). Factory ops
    (``torch.zeros(...)`` inside a forward) are created on the meta device too.
    """

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        # torch wraps a mode's __torch_dispatch__ in torch._dynamo.disable unless this says
        # False, and that import costs ~2 s on the first op; nothing here is ever compiled.
        return False

    def __init__(self, keep_refs: bool = False) -> None:
        super().__init__()
        self.events: list[OpEvent] = []
        self.keep_refs = keep_refs
        self._twins: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        self._params: dict[int, torch.Tensor] = {}  # id -> meta tensor (the ref pins the id)

    def mark_params(self, model: torch.nn.Module) -> None:
        """Register a model's parameters and buffers that already live on the meta device (a
        model built under ``torch.device("meta")``); real ones are recognised on first use."""
        for t in [*model.parameters(), *model.buffers()]:
            if t.device == META:
                self._params[id(t)] = t

    def is_param(self, t: torch.Tensor) -> bool:
        return t.device != META or id(t) in self._params

    def to_meta(self, x: Any) -> Any:
        """The meta twin of a real tensor (made once per tensor); anything else unchanged."""
        if not isinstance(x, torch.Tensor) or x.device == META:
            return x
        hit = self._twins.get(id(x))
        if hit is None:
            twin = torch.empty_strided(x.shape, x.stride(), dtype=x.dtype, device=META)
            hit = self._twins[id(x)] = (x, twin)  # keeping x pins its id
            self._params[id(twin)] = twin
        return hit[1]

    def take(self) -> list[OpEvent]:
        """The events recorded since the last call, emptying the buffer."""
        events, self.events = self.events, []
        return events

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func.namespace == "prim":  # metadata queries (device, layout)
            return func(*args, **kwargs)
        args, kwargs = _map(self.to_meta, (tuple(args), kwargs))
        if "device" in kwargs:
            kwargs = {**kwargs, "device": META}
        fast = fast_shape_rule(func)
        out = fast(*args, **kwargs) if fast is not None else NotImplemented
        if out is NotImplemented:
            out = func(*args, **kwargs)
        event = cost_event(func, args, kwargs, out, self.is_param)
        if event.cost is not None and not event.cost.moves_data:
            if any(self.is_param(t) for t in _tensors((args, kwargs))):
                for t in _tensors(out):
                    self._params[id(t)] = t
        if self.keep_refs:
            event.args = (args, kwargs, out)
        self.events.append(event)
        return out
