"""Reductions (mean, sum, max over dimensions) and softmax.

A reduction reads every input element once: one FLOP each. Softmax: max, exp, sum and divide,
about 4 FLOPs per element. A global-average-pool written as ``x.mean((2, 3))`` is a reduction at
ATen level; the analyzer re-labels it ``pooling`` when it comes from an adaptive pooling module.
"""

from __future__ import annotations

from costmodel.analysis.ops.registry import OpCost, aten, formula, numel


@formula(
    aten.mean,
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
    aten.logsumexp,
)
def reduction(x, *_, out, **__) -> OpCost:
    return OpCost("reduction", flops=numel(x))


@formula(aten._softmax, aten._log_softmax, aten._safe_softmax)
def softmax(x, dim, *_, out, **__) -> OpCost:
    return OpCost("softmax", flops=4 * numel(x), attrs={"dim": int(dim)})
