"""Patterns that span several nodes: one logical op (channel shuffle). Work a runtime removes
or fuses is lowering: see :mod:`costmodel.analysis.rewrites`.

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
