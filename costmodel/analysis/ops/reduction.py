"""Reductions (mean, sum, max over dimensions) and softmax.

A reduction reads every input element once: one FLOP each. Softmax: max, exp, sum and divide,
about 4 FLOPs per element. A global-average-pool written as ``x.mean((2, 3))`` is a reduction at
ATen level; the analyzer re-labels it ``pooling`` when it comes from an adaptive pooling module.
"""

from __future__ import annotations

import math

from costmodel.analysis.ops.registry import OpCost, aten, formula, numel


@formula(aten.mean)
def mean(x, dim=None, keepdim=False, *_, out, **__) -> OpCost:
    # dims and keepdim: a runtime may run only some means natively (XNNPACK: a 4-D tensor
    # over H and W, keeping them); ``mean.default`` takes no dims (all of them)
    dims = tuple(range(len(x))) if dim is None or dim == [] else _dims(dim, len(x))
    return OpCost("reduction", flops=numel(x), attrs={"dims": dims, "keepdim": bool(keepdim)})


def _dims(dim, rank: int) -> tuple[int, ...]:
    dims = dim if isinstance(dim, (list, tuple)) else (dim,)
    return tuple(sorted(int(d) % max(rank, 1) for d in dims))


@formula(
    aten.sum,
    aten.amax,
    aten.amin,
    aten.max,
    aten.min,
    aten.prod,
    aten.var,
    aten.std,
    aten.var_mean,
    aten.argmax,
    aten.argmin,
    aten.logsumexp,
    aten.any,
    aten.all,
    aten.cumsum,
    aten.cumprod,
    aten.cummax,
    aten.cummin,
    aten.nansum,
)
def reduction(x, *_, out, **__) -> OpCost:
    return OpCost("reduction", flops=numel(x))


@formula(aten._softmax, aten._log_softmax, aten._safe_softmax)
def softmax(x, dim, *_, out, **__) -> OpCost:
    return OpCost("softmax", flops=4 * numel(x), attrs={"dim": int(dim)})


@formula(aten.linalg_vector_norm, aten.norm)
def vector_norm(x, *_, out, **__) -> OpCost:
    # ||x||_p over the reduced dims: |x|^p (one op; a multiply for p = 2) and a sum per element
    # read, then a root per output element.
    return OpCost("reduction", flops=2 * numel(x) + numel(out))


def _dim_size(x, dim) -> int:
    return int(x[int(dim) % len(x)]) if len(x) else 1


def _comparisons(x, dim) -> int:
    # A comparison sort along one dimension of size n: about n log2 n comparisons per slice,
    # numel(x) * log2(n) in total.
    return int(numel(x) * math.log2(max(_dim_size(x, dim), 2)))


@formula(aten.sort)
def sort(x, dim=-1, *_, out, **kw) -> OpCost:
    # sort(x, dim, descending) or sort.stable(x, *, stable, dim, descending)
    dim = kw.get("dim", -1 if isinstance(dim, bool) or dim is None else dim)
    return OpCost("reduction", flops=_comparisons(x, dim))


@formula(aten.topk)
def topk(x, k, dim=-1, *_, out, **__) -> OpCost:
    # topk(x, k, dim): a partial selection, counted as a full sort of each slice (upper bound).
    return OpCost("reduction", flops=_comparisons(x, dim))
