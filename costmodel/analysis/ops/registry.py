"""The op-formula registry: one small pure function per ATen op, keyed by its overload packet.

Every fx node is executed on meta tensors while the ATen ops it dispatches are recorded; each
recorded op is costed by the formula registered here. Formulas receive the op's arguments with
every tensor replaced by its shape (``torch.Size``) and the output shape(s) as ``out``, and return
an :class:`OpCost`. Bytes and elements moved are derived from the real argument tensors by the
engine, so a formula only says what kind of op it is and how much arithmetic it does.

Keyed like ``torch.utils.flop_counter``; registering a packet twice is an error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from costmodel.analysis.taxonomy import CATEGORIES, MAC_CATEGORIES  # noqa: F401 (re-exported)

aten = torch.ops.aten


@dataclass(frozen=True)
class OpCost:
    """What a formula says about one ATen op call.

    category: one of :data:`costmodel.analysis.taxonomy.CATEGORIES`; macs: multiply-accumulates;
    flops: floating-point operations (2 x MACs for MAC ops, plus element-wise work); moves_data:
    False for zero-copy views and aliases (no element is read or written); attrs: op attributes
    a cost model needs.
    """

    category: str
    macs: int = 0
    flops: int = 0
    moves_data: bool = True
    attrs: Mapping[str, Any] = field(default_factory=dict)


Formula = Callable[..., OpCost]
_FORMULAS: dict[Any, Formula] = {}


def _packet(op: Any) -> Any:
    return getattr(op, "overloadpacket", op)


def formula(*ops: Any) -> Callable[[Formula], Formula]:
    """Register the decorated function as the formula of every op in ``ops``."""

    def decorate(fn: Formula) -> Formula:
        for op in ops:
            packet = _packet(op)
            if packet in _FORMULAS:
                raise ValueError(f"a formula for {packet} is already registered")
            _FORMULAS[packet] = fn
        return fn

    return decorate


def lookup(op: Any) -> Formula | None:
    """The formula for an ATen op (overload or packet), or None when there is none."""
    return _FORMULAS.get(_packet(op))


def registered_ops() -> list[str]:
    """Names of every op that has a formula, sorted."""
    return sorted(str(p) for p in _FORMULAS)


def numel(shape: Any) -> int:
    """Number of elements of a shape (1 for a scalar)."""
    n = 1
    for d in shape:
        n *= int(d)
    return n


def itemsize(dtype: str | None) -> int:
    """Bytes per element of a recorded dtype name (``"float32"`` when none was recorded)."""
    return getattr(torch, dtype or "float32").itemsize
