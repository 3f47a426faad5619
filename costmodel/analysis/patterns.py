"""Patterns that span several nodes: one logical op (channel shuffle), or work a runtime removes.

Channel shuffle (ShuffleNet): ``view(n, g, c/g, h, w) -> transpose(1, 2) -> contiguous() ->
view(n, c, h, w)`` (or ``reshape``/``permute`` spellings). Its nodes keep their own counts but are
labelled ``shuffle`` and share a ``pattern`` id, so the category table counts one op per shuffle.
"""

from __future__ import annotations

from collections import defaultdict

from costmodel.analysis.capture import NodeRecord

_CHAIN = frozenset({"copy", "reshape"})


def _splits_channels(rec: NodeRecord) -> int:
    """g when ``rec`` reshapes (n, c, h, w) to (n, g, c/g, h, w), else 0."""
    if len(rec.input_shapes) != 1 or len(rec.output_shapes) != 1:
        return 0
    (src,), (dst,) = rec.input_shapes, rec.output_shapes
    if len(src) != 4 or len(dst) != 5:
        return 0
    n, c, h, w = src
    ok = dst[0] == n and dst[1] * dst[2] == c and tuple(dst[3:]) == (h, w) and dst[1] > 1
    return dst[1] if ok else 0


def mark_channel_shuffles(records: list[NodeRecord]) -> int:
    """Label every channel-shuffle chain in ``records`` in place; return how many were found."""
    users: dict[str, list[NodeRecord]] = defaultdict(list)
    for r in records:
        for i in r.inputs:
            users[i].append(r)

    def sole_user(r: NodeRecord) -> NodeRecord | None:
        u = users.get(r.name, [])
        return u[0] if len(u) == 1 else None

    found = 0
    for start in records:
        if start.category != "reshape" or start.pattern or not (g := _splits_channels(start)):
            continue
        n, c, h, w = start.input_shapes[0]
        perm = sole_user(start)
        if perm is None or perm.category not in ("permute", "copy"):
            continue
        if not perm.output_shapes or tuple(perm.output_shapes[0]) != (n, c // g, g, h, w):
            continue
        chain, node, copied = [start, perm], perm, perm.is_copy
        while node is not None and tuple(node.output_shapes[0]) != (n, c, h, w):
            node = sole_user(node)
            if node is None or node.category not in _CHAIN or len(node.output_shapes) != 1:
                node = None
                break
            chain.append(node)
            copied = copied or node.is_copy
        if node is None or not copied:
            continue
        pattern = f"shuffle_{found}"
        for r in chain:
            r.category, r.pattern = "shuffle", pattern
            r.attrs = {**r.attrs, "groups": g}
        found += 1
    return found


_ADDS = frozenset({"_operator.add", "add", "torch.add", "_operator.iadd", "add_"})


def prune_dead_work(records: list[NodeRecord]) -> int:
    """Remove the work a graph-optimising runtime (TFLite, TensorRT) folds away; return how many
    op nodes were removed.

    A multiplication by a literal zero is a constant; so is any op whose inputs are all
    constants; an add with a constant-zero operand is the identity. What remains live is what
    the output needs through live, non-constant nodes: a subgraph whose result only reaches the
    output through ``x * 0`` (NAS-Bench-201's dead cell edges) never runs.
    """
    by_name = {r.name: r for r in records}
    constant: set[str] = set()
    for r in records:  # records are in execution order
        ins = [i for i in r.inputs if by_name[i].op != "get_attr"]
        if r.category in ("io", "constant"):
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
    keep = [
        r
        for r in records
        if r.category in ("io", "constant") or (r.name in live and r.name not in folded)
    ]
    removed = len(records) - len(keep)
    records[:] = keep
    return removed
