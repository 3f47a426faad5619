"""Graph edits the rewrite rules share: users of a node, removing or merging nodes."""

from __future__ import annotations

from collections import defaultdict

from costmodel.analysis.capture import NodeRecord


def users(records: list[NodeRecord]) -> dict[str, list[NodeRecord]]:
    """Node name -> the records that read it."""
    out: dict[str, list[NodeRecord]] = defaultdict(list)
    for r in records:
        for i in dict.fromkeys(r.inputs):
            out[i].append(r)
    return out


def sources(rec: NodeRecord) -> list[str]:
    """The eager nodes a (lowered) record stands for."""
    return rec.sources or [rec.name]


def _rewire(records: list[NodeRecord], old: str, new: list[str]) -> None:
    for r in records:
        if old in r.inputs:
            ins: list[str] = []
            for i in r.inputs:
                ins.extend(new if i == old else [i])
            r.inputs = list(dict.fromkeys(ins))


def remove(records: list[NodeRecord], doomed: set[str]) -> int:
    """Drop the records named in ``doomed``; their users read the dropped nodes' inputs."""
    by_name = {r.name: r for r in records}
    for name in [r.name for r in records if r.name in doomed]:
        _rewire(records, name, [i for i in by_name[name].inputs if i != name])
    before = len(records)
    records[:] = [r for r in records if r.name not in doomed]
    return before - len(records)


def absorb(records: list[NodeRecord], into: NodeRecord, gone: NodeRecord) -> None:
    """Merge ``gone`` (a sole user of ``into``) into ``into``: its users read ``into``, its eager
    node is listed in ``into.sources``, its own counts vanish (the runtime does not run it)."""
    into.output_shapes = gone.output_shapes or into.output_shapes
    merge_duplicate(records, into, gone)


def merge_duplicate(records: list[NodeRecord], kept: NodeRecord, copy: NodeRecord) -> None:
    """Drop ``copy``, which the runtime computes as ``kept``: its users read ``kept``, and its
    eager nodes are listed in ``kept.sources``."""
    kept.sources = sources(kept) + sources(copy)
    _rewire(records, copy.name, [kept.name])
    records.remove(copy)
