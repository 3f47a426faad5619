"""Nodes no runtime executes after export: identities, eval-mode dropout, Python size
arithmetic and zero-copy views (a reshape or permute that moves no bytes)."""

from __future__ import annotations

from costmodel.analysis.capture import NodeRecord
from costmodel.analysis.rewrites.graph import remove
from costmodel.analysis.rewrites.registry import rule

_VIEWS = frozenset({"reshape", "permute"})


def _is_free(r: NodeRecord) -> bool:
    if r.category in ("free", "shape"):
        return True
    moved = r.act_bytes_read + r.bytes_written + r.param_bytes_read
    return r.category in _VIEWS and not r.is_copy and moved == 0 and not r.pattern


@rule("drop_free")
def drop_free(records: list[NodeRecord]) -> int:
    """Remove identities, dropout, size arithmetic and zero-copy views; return how many."""
    return remove(records, {r.name for r in records if _is_free(r)})
