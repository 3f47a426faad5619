"""Interpolation (upsampling). FLOPs per output element: 1 for nearest (a gather), 4 for bilinear
(weighted sum of 4 taps, counted as multiply-adds but not MACs), 16 for bicubic."""

from __future__ import annotations

from costmodel.analysis.ops.registry import OpCost, aten, formula, numel


def _interp(taps: int, mode: str):
    def fn(*_, out, **__) -> OpCost:
        return OpCost("interpolate", flops=taps * numel(out), attrs={"mode": mode})

    return fn


formula(aten.upsample_nearest2d, aten._upsample_nearest_exact2d)(_interp(1, "nearest"))
formula(aten.upsample_bilinear2d, aten._upsample_bilinear2d_aa)(_interp(4, "bilinear"))
formula(aten.upsample_bicubic2d)(_interp(16, "bicubic"))
