"""Tensor creation inside a forward pass: ``empty`` allocates without writing; ``zeros``, ``full``
and friends also fill their output. No arithmetic."""

from __future__ import annotations

from costmodel.analysis.ops.registry import OpCost, aten, formula


@formula(aten.empty, aten.empty_like, aten.empty_strided, aten.new_empty)
def empty(*_, out, **__) -> OpCost:
    return OpCost("alloc", moves_data=False)


@formula(
    aten.zeros,
    aten.zeros_like,
    aten.ones,
    aten.ones_like,
    aten.full,
    aten.full_like,
    aten.fill,
    aten.fill_,
    aten.zero_,
    aten.new_zeros,
    aten.new_ones,
    aten.scalar_tensor,
    aten.arange,
    aten.new_full,
    aten.linspace,
    # random fills (dropout masks in training mode, noise): one generated value per element
    aten.rand,
    aten.rand_like,
    aten.randn,
    aten.randn_like,
    aten.randint,
    aten.bernoulli,
    aten.bernoulli_,
    aten.normal_,
    aten.uniform_,
)
def filled(*_, out, **__) -> OpCost:
    return OpCost("alloc")
