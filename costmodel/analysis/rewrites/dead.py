"""Dead work: what a graph-optimising runtime folds to constants or never runs."""

from __future__ import annotations

from costmodel.analysis.capture import NodeRecord
from costmodel.analysis.rewrites.graph import remove
from costmodel.analysis.rewrites.registry import rule
from costmodel.analysis.taxonomy import NON_OP_CATEGORIES

_ADDS = frozenset({"_operator.add", "add", "torch.add", "_operator.iadd", "add_"})


@rule("dead_work")
def prune_dead_work(records: list[NodeRecord]) -> int:
    """Remove the work a graph-optimising runtime (TFLite, ExecuTorch, ONNX Runtime) folds away;
    return how many op nodes were removed.

    A multiplication by a literal zero is a constant; so is any op whose inputs are all
    constants; an add with a constant-zero operand is the identity. What remains live is what
    the output needs through live, non-constant nodes: a subgraph whose result only reaches the
    output through ``x * 0`` (NAS-Bench-201's dead cell edges) never runs.
    """
    by_name = {r.name: r for r in records}
    constant: set[str] = set()
    for r in records:  # records are in execution order
        ins = [i for i in r.inputs if by_name[i].op != "get_attr"]
        if r.category in NON_OP_CATEGORIES:
            continue
        if r.zero_output or (ins and all(i in constant for i in ins)):
            constant.add(r.name)
    live: set[str] = set()
    stack = [r.name for r in records if r.op == "output"]
    while stack:
        name = stack.pop()
        if name in live or name in constant:
            continue
        live.add(name)
        r = by_name[name]
        stack.extend(i for i in r.inputs if i not in constant)
    folded = {
        r.name
        for r in records
        if r.name in live
        and r.target in _ADDS
        and any(i in constant for i in r.inputs)
        and sum(i not in constant for i in r.inputs) == 1
    }
    for r in records:  # an add folded to the identity: its users read its live operand
        if r.name in folded:
            r.inputs = [i for i in r.inputs if i not in constant]
    doomed = {
        r.name
        for r in records
        if r.category not in NON_OP_CATEGORIES and (r.name not in live or r.name in folded)
    }
    return remove(records, doomed)
