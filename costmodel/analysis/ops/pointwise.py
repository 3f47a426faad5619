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
    aten.threshold,
    aten.threshold_,
    aten.hardshrink,
    aten.softshrink,
    aten.log_sigmoid_forward,
    aten.celu,
    aten.selu,
    aten.rrelu_with_noise,
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
    # transcendental and rounding functions (positional encodings, rotary embeddings, ...)
    aten.sin,
    aten.cos,
    aten.tan,
    aten.asin,
    aten.acos,
    aten.atan,
    aten.atan2,
    aten.sinh,
    aten.cosh,
    aten.exp2,
    aten.log2,
    aten.log10,
    aten.log1p,
    aten.expm1,
    aten.erfinv,
    aten.sign,
    aten.floor,
    aten.ceil,
    aten.round,
    aten.trunc,
    aten.frac,
    aten.remainder,
    aten.fmod,
    aten.addcdiv,
    aten.lerp,
    aten.logit,
    aten.heaviside,
    aten.masked_fill,
    aten.masked_fill_,
    # comparisons and logic: one result per output element (masks, argmax-free selects)
    aten.eq,
    aten.ne,
    aten.lt,
    aten.le,
    aten.gt,
    aten.ge,
    aten.logical_and,
    aten.logical_or,
    aten.logical_not,
    aten.logical_xor,
    aten.bitwise_and,
    aten.bitwise_or,
    aten.bitwise_not,
    aten.isnan,
    aten.isinf,
    aten.tril,  # causal masks: keep or zero each element
    aten.triu,
)


@formula(*ACTIVATIONS)
def activation(*_, out, **__) -> OpCost:
    return OpCost("activation", flops=numel(out))


@formula(*ARITHMETIC)
def arithmetic(*_, out, **__) -> OpCost:
    # Broadcasting (x * s with s of shape (N, C, 1, 1)) produces numel(out) results.
    return OpCost("elementwise", flops=numel(out))


@formula(aten.glu)
def glu(*_, out, **__) -> OpCost:
    # GLU splits its input in two halves a, b along dim and returns a * sigmoid(b): a sigmoid and
    # a multiply per output element.
    return OpCost("activation", flops=2 * numel(out))
