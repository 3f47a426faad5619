"""Pooling: max, average and adaptive average/max.

FLOPs: one per input element a window touches, i.e. numel(out) * window size (a compare or add
each); adaptive pooling reads every input element once.
"""

from __future__ import annotations

from costmodel.analysis.ops.registry import OpCost, aten, formula, numel


def _pair(v, n: int = 2) -> tuple[int, ...]:
    v = tuple(v) if isinstance(v, (list, tuple)) else (v,)
    return tuple(int(x) for x in (v * n if len(v) == 1 else v))


def _window(dims: int, out, kernel_size, stride, padding, **attrs) -> OpCost:
    # *_with_indices ops return (values, indices); out is then a tuple of shapes
    out0 = out[0] if out and isinstance(out[0], (tuple, list)) else out
    k = _pair(kernel_size, dims)
    s = _pair(stride, dims) if stride else k
    attrs = {"kernel": k, "stride": s, "padding": _pair(padding, dims), **attrs}
    return OpCost("pooling", flops=numel(out0) * numel(k), attrs=attrs)


def _max_pool(dims: int):
    def fn(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, *_, out, **__):
        return _window(dims, out, kernel_size, stride, padding, ceil_mode=bool(ceil_mode))

    return fn


def _avg_pool(dims: int):
    # the attributes a runtime's kernel choice depends on (XNNPACK takes no padded window
    # that counts its padding, no ceil mode, no divisor override)
    def fn(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
           divisor_override=None, *_, out, **__) -> OpCost:  # fmt: skip
        return _window(dims, out, kernel_size, stride, padding, ceil_mode=bool(ceil_mode),
                       count_include_pad=bool(count_include_pad),
                       divisor_override=divisor_override)  # fmt: skip

    return fn


formula(aten.max_pool1d_with_indices, aten.max_pool1d)(_max_pool(1))
formula(aten.max_pool2d_with_indices, aten.max_pool2d)(_max_pool(2))
formula(aten.max_pool3d_with_indices, aten.max_pool3d)(_max_pool(3))
formula(aten.avg_pool1d)(_avg_pool(1))
formula(aten.avg_pool2d)(_avg_pool(2))
formula(aten.avg_pool3d)(_avg_pool(3))


def _adaptive(dims: int):
    def fn(x, output_size, *_, out, **__) -> OpCost:
        # every input element is read once by the windows that cover it (they tile the input)
        return OpCost("pooling", flops=numel(x), attrs={"output_size": _pair(output_size, dims)})

    return fn


formula(aten.adaptive_max_pool1d, aten.adaptive_avg_pool1d)(_adaptive(1))
formula(aten._adaptive_avg_pool2d, aten.adaptive_max_pool2d, aten.adaptive_avg_pool2d)(_adaptive(2))
formula(aten._adaptive_avg_pool3d, aten.adaptive_max_pool3d, aten.adaptive_avg_pool3d)(_adaptive(3))
