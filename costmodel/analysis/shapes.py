"""Fast output-shape rules for ops whose meta kernels are slow Python references.

The meta kernels of element-wise ops, batch/layer norm, ``addmm`` and ``mean`` are written in
Python (torch._refs) and cost 0.2-3 ms per call, 10-100x a convolution's. These rules build the
same outputs (shape, dtype, strides) directly on the meta device. ``tests/analysis/test_shapes.py``
checks every rule against the real meta kernel.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from costmodel.analysis.ops.pointwise import ACTIVATIONS

aten = torch.ops.aten
META = torch.device("meta")
Rule = Callable[..., Any]
_RULES: dict[Any, Rule] = {}


def _contiguous_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    strides, acc = [], 1
    for d in reversed(shape):
        strides.append(acc)
        acc *= max(int(d), 1)
    return tuple(reversed(strides))


def _like(x: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
    """An output laid out like ``x`` (as TensorIterator does for a dense input)."""
    stride = x.stride()
    if 0 in stride and x.numel() > 1:  # expanded input: the result is dense
        stride = _contiguous_strides(tuple(x.shape))
    return torch.empty_strided(x.shape, stride, dtype=dtype or x.dtype, device=META)


def _empty(shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    return torch.empty_strided(shape, _contiguous_strides(shape), dtype=dtype, device=META)


def rule(*ops: Any) -> Callable[[Rule], Rule]:
    def decorate(fn: Rule) -> Rule:
        for op in ops:
            _RULES[getattr(op, "overloadpacket", op)] = fn
        return fn

    return decorate


def lookup(func: Any) -> Rule | None:
    """The fast rule for an ATen overload, or None (then the real meta kernel runs).

    A rule may still return NotImplemented for arguments it does not cover."""
    return _RULES.get(func.overloadpacket) if func in _SAFE_OVERLOADS else None


def _unary(x: torch.Tensor, *_: Any, **__: Any) -> torch.Tensor:
    return _like(x)


def _inplace(x: torch.Tensor, *_: Any, **__: Any) -> torch.Tensor:
    return x


def _binary(a: Any, b: Any, *_: Any, **__: Any) -> torch.Tensor:
    ta = a if isinstance(a, torch.Tensor) else None
    tb = b if isinstance(b, torch.Tensor) else None
    dtype = torch.result_type(a, b)
    if tb is None or tuple(tb.shape) == tuple(ta.shape) and ta.dim() >= tb.dim():
        return _like(ta, dtype)
    shape = tuple(torch.broadcast_shapes(ta.shape, tb.shape))
    if shape == tuple(tb.shape):
        return _like(tb, dtype)
    return _like(ta, dtype) if shape == tuple(ta.shape) else _empty(shape, dtype)


def _batch_norm(x: torch.Tensor, *args: Any, **__: Any) -> Any:
    # evaluation mode only; the meta kernel returns per-channel save_mean and save_invstd too.
    # native_batch_norm(x, weight, bias, running_mean, running_var, training, momentum, eps)
    if len(args) >= 5 and isinstance(args[4], bool) and args[4]:
        return NotImplemented
    channels = (int(x.shape[1]),)
    return _like(x), _empty(channels, x.dtype), _empty(channels, x.dtype)


def _layer_norm(x: torch.Tensor, normalized_shape: list[int], *_: Any, **__: Any):
    axis = x.dim() - len(normalized_shape)
    stat = tuple(x.shape[:axis]) + (1,) * len(normalized_shape)
    return _like(x), _empty(stat, x.dtype), _empty(stat, x.dtype)


def _addmm(bias: torch.Tensor, a: torch.Tensor, b: torch.Tensor, *_: Any, **__: Any):
    return _empty((int(a.shape[0]), int(b.shape[1])), a.dtype)


def _mean(x: torch.Tensor, dim: Any = None, keepdim: bool = False, *_: Any, **kw: Any):
    if kw.get("dtype") is not None:
        return NotImplemented
    dims = range(x.dim()) if dim is None or dim == [] else dim
    dims = {d % x.dim() for d in ([dims] if isinstance(dims, int) else dims)}
    shape = tuple(1 if i in dims else s for i, s in enumerate(x.shape) if keepdim or i not in dims)
    return _empty(shape, x.dtype)


_UNARY = [op for op in ACTIVATIONS if not str(op).endswith("_")] + [
    aten.neg,
    aten.sqrt,
    aten.rsqrt,
    aten.exp,
]
_INPLACE = [op for op in ACTIVATIONS if str(op).endswith("_")] + [
    aten.add_,
    aten.mul_,
    aten.sub_,
    aten.div_,
]
rule(*_UNARY)(_unary)
rule(*_INPLACE)(_inplace)
rule(aten.add, aten.sub, aten.mul, aten.div)(_binary)
rule(aten._native_batch_norm_legit_no_training, aten.native_batch_norm)(_batch_norm)
rule(aten.native_layer_norm)(_layer_norm)
rule(aten.addmm)(_addmm)
rule(aten.mean)(_mean)

# Only the overloads whose argument lists the rules above read: e.g. add.Tensor and add.Scalar,
# not add.out; mean.dim, not mean.names_dim; native_batch_norm only with training=False.
_SAFE_OVERLOADS = frozenset(
    [op.default for op in _UNARY + _INPLACE if hasattr(op, "default")]
    + [
        aten.add_.Tensor,
        aten.add_.Scalar,
        aten.mul_.Tensor,
        aten.mul_.Scalar,
        aten.sub_.Tensor,
        aten.sub_.Scalar,
        aten.div_.Tensor,
        aten.div_.Scalar,
    ]
    + [
        aten.add.Tensor,
        aten.add.Scalar,
        aten.sub.Tensor,
        aten.sub.Scalar,
        aten.mul.Tensor,
        aten.mul.Scalar,
        aten.div.Tensor,
        aten.div.Scalar,
    ]
    + [
        aten._native_batch_norm_legit_no_training.default,
        aten.native_batch_norm.default,
        aten.native_layer_norm.default,
        aten.addmm.default,
        aten.mean.dim,
        aten.mean.default,
    ]
)
