"""Normalisation: batch, layer and group norm.

FLOPs per element: batch norm in evaluation mode is a fused scale and shift (2); layer and group
norm compute statistics on the fly: mean, variance, normalise, scale, shift (about 5).
"""

from __future__ import annotations

from costmodel.analysis.ops.registry import OpCost, aten, formula, numel


@formula(
    aten._native_batch_norm_legit_no_training, aten.native_batch_norm, aten._native_batch_norm_legit
)
def batch_norm(x, *_, out, **__) -> OpCost:
    return OpCost("batchnorm", flops=2 * numel(x), attrs={"channels": int(x[1])})


@formula(aten.native_layer_norm)
def layer_norm(x, normalized_shape, *_, out, **__) -> OpCost:
    return OpCost("layernorm", flops=5 * numel(x), attrs={"normalized": tuple(normalized_shape)})


@formula(aten.native_group_norm)
def group_norm(x, *args, out, **__) -> OpCost:
    return OpCost("groupnorm", flops=5 * numel(x))


@formula(aten._fused_rms_norm)
def rms_norm(x, *_, out, **__) -> OpCost:
    # x / sqrt(mean(x^2) + eps) * weight: square, sum, normalise, scale (about 4 per element).
    return OpCost("layernorm", flops=4 * numel(x))
