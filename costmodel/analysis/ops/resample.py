"""Interpolation (upsampling). FLOPs per output element: 1 for nearest (a gather), 4 for bilinear
(weighted sum of 4 taps, counted as multiply-adds but not MACs), 16 for bicubic."""

from __future__ import annotations

from costmodel.analysis.ops.registry import OpCost, aten, formula, numel


def _interp(taps: int, mode: str):
    def fn(*_, out, **__) -> OpCost:
        return OpCost("interpolate", flops=taps * numel(out), attrs={"mode": mode})

    return fn


# taps per output element: nearest reads 1; linear interpolation 2 per dimension (2, 4, 8)
formula(
    aten.upsample_nearest1d,
    aten.upsample_nearest2d,
    aten.upsample_nearest3d,
    aten._upsample_nearest_exact1d,
    aten._upsample_nearest_exact2d,
    aten._upsample_nearest_exact3d,
)(_interp(1, "nearest"))
formula(aten.upsample_linear1d)(_interp(2, "linear"))
formula(aten.upsample_bilinear2d, aten._upsample_bilinear2d_aa)(_interp(4, "bilinear"))
formula(aten.upsample_trilinear3d)(_interp(8, "trilinear"))
formula(aten.upsample_bicubic2d, aten._upsample_bicubic2d_aa)(_interp(16, "bicubic"))
