"""Common subexpressions: a runtime computes once what the eager graph computes twice.

NAS-Bench-201 cells apply, e.g., ``ReLU`` of node 0 on two edges and the same 3x3 average pool
of node 1 on two edges; eager PyTorch runs each module, but ONNX Runtime's
CommonSubexpressionElimination (a basic, level-1 optimisation) merges nodes of one op type with
the same attributes and the same inputs (the 2-core x86 board's profiles show one ``Relu`` and
one ``AveragePool`` where the eager graph has two).
"""

from __future__ import annotations

from typing import Any

from costmodel.analysis.capture import NodeRecord
from costmodel.analysis.rewrites.graph import merge_duplicate
from costmodel.analysis.rewrites.registry import rule
from costmodel.analysis.taxonomy import NON_OP_CATEGORIES


def _key(r: NodeRecord) -> tuple[Any, ...] | None:
    """What makes two nodes the same computation, or None for a node never merged: one with
    parameters (its own weights), none of ATen ops, or an in-place op (it writes its input)."""
    if r.category in NON_OP_CATEGORIES or r.params or r.param_bytes_read or not r.aten_ops:
        return None
    if any(op.endswith("_") for op in r.aten_ops):
        return None
    kind = r.module_type if r.op == "call_module" else r.target
    return (r.category, kind, tuple(r.aten_ops), tuple(r.inputs), repr(sorted(r.attrs.items())),
            repr(r.input_shapes), repr(r.output_shapes), r.pattern)  # fmt: skip


@rule("cse")
def common_subexpressions(records: list[NodeRecord]) -> int:
    """Merge every parameter-free node that repeats an earlier node's op, attributes and inputs
    into that node (its readers read the earlier one); return how many were merged."""
    first: dict[tuple[Any, ...], NodeRecord] = {}
    merged = 0
    for r in list(records):
        key = _key(r)  # inputs already rewired to earlier merges: repeats of repeats merge too
        if key is None:
            continue
        if key in first:
            merge_duplicate(records, first[key], r)
            merged += 1
        else:
            first[key] = r
    return merged
