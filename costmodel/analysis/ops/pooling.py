"""Pooling: max, average and adaptive average/max.

FLOPs: one per input element a window touches, i.e. numel(out) * window size (a compare or add
each); adaptive pooling reads every input element once.
"""

from __future__ import annotations

from costmodel.analysis.ops.registry import OpCost, aten, formula, numel


def _pair(v, n: int = 2) -> tuple[int, ...]:
    v = tuple(v) if isinstance(v, (list, tuple)) else (v,)
    return tuple(int(x) for x in (v * n if len(v) == 1 else v))


@formula(aten.max_pool2d_with_indices, aten.max_pool2d, aten.avg_pool2d)
def pool2d(x, kernel_size, stride=None, *_, out, **__) -> OpCost:
    # max_pool2d_with_indices returns (values, indices); out is then a tuple of shapes
    out0 = out[0] if out and isinstance(out[0], (tuple, list)) else out
    k = _pair(kernel_size)
    s = _pair(stride) if stride else k
    return OpCost("pooling", flops=numel(out0) * k[0] * k[1], attrs={"kernel": k, "stride": s})


@formula(aten._adaptive_avg_pool2d, aten.adaptive_max_pool2d, aten.adaptive_avg_pool2d)
def adaptive_pool2d(x, output_size, *_, out, **__) -> OpCost:
    return OpCost("pooling", flops=numel(x), attrs={"output_size": _pair(output_size)})
