"""Fast output-shape rules for ops whose meta kernels are slow Python references.

The meta kernels of element-wise ops, batch/layer norm, ``addmm`` and ``mean`` are written in
Python (torch._refs) and cost 0.2-3 ms per call, 10-100x a convolution's; the convolution's
own first call imports sympy (~0.5 s of a one-off ``costmodel analyze``). These rules build the
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


def _broadcast(a: Any, b: Any) -> tuple[int, ...]:
    """``torch.broadcast_shapes(a, b)`` without torch's Python reference (its first call imports
    sympy): the common shape, or the same RuntimeError where two sizes clash."""
    a, b = tuple(int(d) for d in a), tuple(int(d) for d in b)
    n = max(len(a), len(b))
    a, b = (1,) * (n - len(a)) + a, (1,) * (n - len(b)) + b
    out = []
    for i, (p, q) in enumerate(zip(a, b, strict=True)):
        if p != q and p != 1 and q != 1:
            raise RuntimeError(
                f"The size of tensor a ({p}) must match the size of tensor b ({q}) at "
                f"non-singleton dimension {i}"
            )
        out.append(q if p == 1 else p)
    return tuple(out)


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


def _floating(*values: Any) -> bool:
    """Whether every tensor among ``values`` is floating point: the rules cover only those
    (integer division, integer means and the like follow other rules: the kernel runs)."""
    return all(v.is_floating_point() for v in values if isinstance(v, torch.Tensor))


def _check(ok: bool, message: str) -> None:
    """Raise as the meta kernel would where a rule meets arguments the kernel rejects."""
    if not ok:
        raise RuntimeError(message)


def _unary(x: torch.Tensor, *_: Any, **__: Any) -> torch.Tensor:
    return _like(x) if _floating(x) else NotImplemented


def _inplace(x: torch.Tensor, other: Any = None, *_: Any, **__: Any) -> torch.Tensor:
    if not _floating(x, other) or (0 in x.stride() and x.numel() > 1):
        return NotImplemented  # an overlapping (expanded) destination: the kernel decides
    if isinstance(other, torch.Tensor):
        shape = _broadcast(x.shape, other.shape)
        _check(
            shape == tuple(x.shape),
            f"output with shape {list(x.shape)} doesn't match the broadcast shape {list(shape)}",
        )
        promoted = torch.result_type(x, other)
        _check(
            torch.can_cast(promoted, x.dtype),
            f"result type {promoted} can't be cast to the desired output type {x.dtype}",
        )
    return x


def _binary(a: Any, b: Any, *_: Any, **__: Any) -> torch.Tensor:
    if not _floating(a, b):
        return NotImplemented
    ta = a if isinstance(a, torch.Tensor) else None
    tb = b if isinstance(b, torch.Tensor) else None
    dtype = torch.result_type(a, b)
    if tb is None or tuple(tb.shape) == tuple(ta.shape) and ta.dim() >= tb.dim():
        return _like(ta, dtype)
    shape = _broadcast(ta.shape, tb.shape)  # raises where shapes clash
    if shape == tuple(tb.shape):
        return _like(tb, dtype)
    return _like(ta, dtype) if shape == tuple(ta.shape) else _empty(shape, dtype)


def _batch_norm(x: torch.Tensor, *args: Any, **__: Any) -> Any:
    # evaluation mode only; the meta kernel returns per-channel save_mean and save_invstd too.
    # native_batch_norm(x, weight, bias, running_mean, running_var, training, momentum, eps)
    if len(args) >= 5 and isinstance(args[4], bool) and args[4]:
        return NotImplemented
    if not _floating(x, *args[:4]):
        return NotImplemented
    _check(x.dim() >= 2, f"batch norm expects an input of 2 or more dims, got {x.dim()}")
    channels = (int(x.shape[1]),)
    for t in args[:4]:
        if isinstance(t, torch.Tensor):
            _check(
                tuple(t.shape) == channels,
                f"batch norm: expected a per-channel tensor of shape {list(channels)}, "
                f"got {list(t.shape)}",
            )
    return _like(x), _empty(channels, x.dtype), _empty(channels, x.dtype)


def _layer_norm(x: torch.Tensor, normalized_shape: list[int], *args: Any, **__: Any):
    if not _floating(x, *args[:2]):
        return NotImplemented
    norm = tuple(int(d) for d in normalized_shape)
    axis = x.dim() - len(norm)
    _check(
        axis >= 0 and tuple(x.shape[axis:]) == norm,
        f"Given normalized_shape={list(norm)}, expected input with shape [*, "
        f"{', '.join(map(str, norm))}], but got input of size {list(x.shape)}",
    )
    for t in args[:2]:
        if isinstance(t, torch.Tensor):
            _check(
                tuple(t.shape) == norm,
                f"layer norm: weight/bias of shape {list(t.shape)}, expected {list(norm)}",
            )
    stat = tuple(x.shape[:axis]) + (1,) * len(norm)
    return _like(x), _empty(stat, x.dtype), _empty(stat, x.dtype)


def _addmm(bias: torch.Tensor, a: torch.Tensor, b: torch.Tensor, *_: Any, **__: Any):
    if not _floating(bias, a, b):
        return NotImplemented
    _check(a.dim() == 2 and b.dim() == 2, "addmm: both operands must be matrices")
    _check(
        int(a.shape[1]) == int(b.shape[0]),
        f"mat1 and mat2 shapes cannot be multiplied ({a.shape[0]}x{a.shape[1]} and "
        f"{b.shape[0]}x{b.shape[1]})",
    )
    dtypes = {t.dtype for t in (bias, a, b) if isinstance(t, torch.Tensor)}
    _check(len(dtypes) == 1, f"addmm: operands have different dtypes {sorted(map(str, dtypes))}")
    out = (int(a.shape[0]), int(b.shape[1]))
    if isinstance(bias, torch.Tensor):
        _broadcast(bias.shape, out)  # raises where the bias does not fit
    return _empty(out, a.dtype)


def _mean(x: torch.Tensor, dim: Any = None, keepdim: bool = False, *_: Any, **kw: Any):
    if kw.get("dtype") is not None or not _floating(x) or x.dim() == 0:
        return NotImplemented
    dims = range(x.dim()) if dim is None or dim == [] else dim
    dims = [dims] if isinstance(dims, int) else list(dims)
    for d in dims:
        if not -x.dim() <= d < x.dim():
            raise IndexError(
                f"Dimension out of range (expected to be in range of [{-x.dim()}, "
                f"{x.dim() - 1}], but got {d})"
            )
    wrapped = {d % x.dim() for d in dims}
    _check(len(wrapped) == len(dims), f"mean: a dimension appears twice in {dims}")
    shape = tuple(
        1 if i in wrapped else s for i, s in enumerate(x.shape) if keepdim or i not in wrapped
    )
    return _empty(shape, x.dtype)


def _convolution(x, weight, bias, stride, padding, dilation, transposed, output_padding, groups):
    # Plain (not transposed) convolution of contiguous tensors: the meta kernel's own shape
    # formula, out = (in + 2p - d(k - 1) - 1) // s + 1 per spatial dim, and a contiguous result.
    # Anything else (channels-last inputs, transposed, invalid sizes) is left to the kernel,
    # which raises where it must.
    if transposed or not _floating(x, weight, bias) or x.dim() != weight.dim() or x.dim() < 3:
        return NotImplemented
    if not (x.is_contiguous() and weight.is_contiguous()) or weight.dim() > 5:
        return NotImplemented
    spatial = x.dim() - 2
    if int(weight.shape[1]) * groups != int(x.shape[1]) or x.dtype != weight.dtype:
        return NotImplemented
    if isinstance(bias, torch.Tensor) and tuple(bias.shape) != (int(weight.shape[0]),):
        return NotImplemented
    stride, padding, dilation = (list(v) * (spatial if len(v) == 1 else 1) for v in
                                 (stride, padding, dilation))  # fmt: skip
    if not len(stride) == len(padding) == len(dilation) == spatial:
        return NotImplemented
    out = [int(x.shape[0]), int(weight.shape[0])]
    for i in range(spatial):
        k = int(weight.shape[2 + i])
        size = (int(x.shape[2 + i]) + 2 * padding[i] - dilation[i] * (k - 1) - 1) // stride[i] + 1
        if size <= 0:
            return NotImplemented
        out.append(size)
    return _empty(tuple(out), x.dtype)


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
rule(aten.convolution)(_convolution)

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
        aten.convolution.default,
    ]
)
