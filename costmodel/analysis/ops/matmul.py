"""Linear layers, matrix products and attention.

``mm``/``addmm`` whose right operand is a parameter are ``linear`` (F.linear dispatches ``t`` +
``addmm``); products of two activations are ``matmul`` (``@``, ``bmm``, einsum's bmm). The engine
marks parameter operands, so formulas see ``param_args``.
"""

from __future__ import annotations

from costmodel.analysis.ops.registry import OpCost, aten, formula, numel


def _product_kind(param_args: tuple[bool, ...], rhs_index: int) -> str:
    return "linear" if len(param_args) > rhs_index and param_args[rhs_index] else "matmul"


@formula(aten.mm)
def mm(a, b, *_, out, param_args=()) -> OpCost:
    # (m, k) @ (k, n): m * n dot products of length k.
    macs = int(a[0]) * int(a[1]) * int(b[1])
    return OpCost(_product_kind(param_args, 1), macs=macs, flops=2 * macs)


@formula(aten.addmm)
def addmm(bias, a, b, *_, out, param_args=()) -> OpCost:
    # bias + (m, k) @ (k, n): the product as in mm, plus one add per output element.
    macs = int(a[0]) * int(a[1]) * int(b[1])
    return OpCost(_product_kind(param_args, 2), macs=macs, flops=2 * macs + numel(out))


@formula(aten.bmm)
def bmm(a, b, *_, out, param_args=()) -> OpCost:
    # (B, m, k) @ (B, k, n): B * m * n dot products of length k.
    macs = int(a[0]) * int(a[1]) * int(a[2]) * int(b[2])
    return OpCost(_product_kind(param_args, 1), macs=macs, flops=2 * macs)


@formula(aten.baddbmm)
def baddbmm(bias, a, b, *_, out, param_args=()) -> OpCost:
    macs = int(a[0]) * int(a[1]) * int(a[2]) * int(b[2])
    return OpCost(_product_kind(param_args, 2), macs=macs, flops=2 * macs + numel(out))


@formula(
    aten._scaled_dot_product_flash_attention_for_cpu,
    aten._scaled_dot_product_flash_attention,
    aten._scaled_dot_product_efficient_attention,
    aten._scaled_dot_product_cudnn_attention,
    aten._scaled_dot_product_fused_attention_overrideable,
)
def sdpa(q, k, v, *_, out, **__) -> OpCost:
    # q (B, H, Sq, D), k (B, H, Sk, D), v (B, H, Sk, Dv): scores = q k^T costs B*H*Sq*Sk*D MACs,
    # scores @ v costs B*H*Sq*Sk*Dv; the softmax adds ~3 FLOPs per score (max, exp, divide).
    b, h, sq, d = (int(s) for s in q)
    sk, dv = int(k[-2]), int(v[-1])
    macs = b * h * sq * sk * (d + dv)
    return OpCost(
        "attention",
        macs=macs,
        flops=2 * macs + 3 * b * h * sq * sk,
        attrs={"heads": h, "seq_len": sq, "head_dim": d},
    )


@formula(aten.mv, aten.dot, aten.vdot)
def vector_product(a, b, *_, out, param_args=()) -> OpCost:
    # (m, k) @ (k,) or (k,) . (k,): one dot product of length k per output element.
    macs = numel(a)
    return OpCost(_product_kind(param_args, 1), macs=macs, flops=2 * macs)


@formula(aten.addmv)
def addmv(bias, a, b, *_, out, param_args=()) -> OpCost:
    macs = numel(a)
    return OpCost(_product_kind(param_args, 2), macs=macs, flops=2 * macs + numel(out))


@formula(aten.addbmm)
def addbmm(bias, a, b, *_, out, param_args=()) -> OpCost:
    # bias + sum_b (m, k) @ (k, n): the batched products as in bmm, summed over the batch.
    macs = int(a[0]) * int(a[1]) * int(a[2]) * int(b[2])
    return OpCost(_product_kind(param_args, 2), macs=macs, flops=2 * macs + numel(out))
