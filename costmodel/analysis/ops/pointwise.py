"""Element-wise ops: activations and arithmetic (including broadcasting, residual adds, SE scaling).

One FLOP per output element for every element-wise op (transcendentals are not weighted: the
calibrated predictors learn their real cost per category). In-place variants (``relu_``) are the
same op.
"""

from __future__ import annotations

from costmodel.analysis.ops.registry import OpCost, aten, formula, numel

ACTIVATIONS = (
    aten.relu,
    aten.relu_,
    aten.hardtanh,
    aten.hardtanh_,
    aten.silu,
    aten.silu_,
    aten.gelu,
    aten.gelu_,
    aten.sigmoid,
    aten.sigmoid_,
    aten.hardswish,
    aten.hardswish_,
    aten.hardsigmoid,
    aten.hardsigmoid_,
    aten.tanh,
    aten.tanh_,
    aten.leaky_relu,
    aten.leaky_relu_,
    aten.elu,
    aten.elu_,
    aten.mish,
    aten.mish_,
    aten.softplus,
    aten._prelu_kernel,
)
ARITHMETIC = (
    aten.add,
    aten.add_,
    aten.sub,
    aten.sub_,
    aten.rsub,
    aten.mul,
    aten.mul_,
    aten.div,
    aten.div_,
    aten.neg,
    aten.pow,
    aten.sqrt,
    aten.rsqrt,
    aten.exp,
    aten.log,
    aten.abs,
    aten.clamp,
    aten.clamp_,
    aten.clamp_min,
    aten.clamp_max,
    aten.maximum,
    aten.minimum,
    aten.where,
    aten.reciprocal,
    aten.addcmul,
    aten.erf,
)


@formula(*ACTIVATIONS)
def activation(*_, out, **__) -> OpCost:
    return OpCost("activation", flops=numel(out))


@formula(*ARITHMETIC)
def arithmetic(*_, out, **__) -> OpCost:
    # Broadcasting (x * s with s of shape (N, C, 1, 1)) produces numel(out) results.
    return OpCost("elementwise", flops=numel(out))
