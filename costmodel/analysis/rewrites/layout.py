"""Layout copies a runtime inserts: XNNPACK computes convolutions and the ops around them in
NHWC, so ExecuTorch converts a tensor between NCHW and NHWC wherever NHWC work meets an op that
needs the NCHW layout (graph inputs and outputs, reshapes, flattening, matrix products)."""

from __future__ import annotations

from costmodel.analysis.capture import NodeRecord
from costmodel.analysis.ops.registry import itemsize, numel
from costmodel.analysis.rewrites.graph import users
from costmodel.analysis.rewrites.registry import rule

# Ops XNNPACK runs in whichever layout its input has (the NHWC region grows through them).
_LAYOUT_FREE = frozenset(
    {"batchnorm", "activation", "elementwise", "pooling", "concat", "pad", "copy", "interpolate"}
)
_CONV = frozenset({"conv_dense", "conv_pointwise", "conv_depthwise", "conv_grouped"})


def _is_4d(r: NodeRecord) -> bool:
    return len(r.output_shapes) == 1 and len(r.output_shapes[0]) == 4


def _copy_of(src: NodeRecord, n: int) -> NodeRecord:
    shape = tuple(src.output_shapes[0])
    elems = numel(shape)
    size = itemsize(src.dtype)
    return NodeRecord(
        name=f"{src.name}_layout_{n}",
        op="call_function",
        target="layout_copy",
        module=src.module,
        module_type="",
        category="copy",
        flops=0,
        act_elems_read=elems,
        elems_written=elems,
        act_bytes_read=elems * size,
        bytes_written=elems * size,
        input_shapes=[shape],
        output_shapes=[shape],
        dtype=src.dtype,
        is_copy=True,
        inputs=[src.name],
        sources=[],
    )


@rule("layout_copies_nhwc")
def layout_copies_nhwc(records: list[NodeRecord]) -> int:
    """Insert one NCHW<->NHWC copy per tensor that crosses the boundary of an NHWC region
    (convolutions and the layout-free 4-D ops they feed); return how many were added."""
    by_name = {r.name: r for r in records}
    nhwc: set[str] = set()
    for r in records:  # execution order: producers first
        if not _is_4d(r):
            continue
        ins = [by_name[i] for i in r.inputs if by_name[i].category not in ("constant",)]
        if r.category in _CONV or (
            r.category in _LAYOUT_FREE and ins and all(i.name in nhwc for i in ins)
        ):
            nhwc.add(r.name)
    readers = users(records)
    inserted: list[tuple[int, NodeRecord, list[NodeRecord]]] = []
    for pos, r in enumerate(records):
        if r.name in nhwc:  # NHWC tensor read by NCHW ops: one conversion out
            out = [u for u in readers[r.name] if u.name not in nhwc]
        elif _is_4d(r) and r.category not in ("constant",):  # NCHW tensor read by NHWC ops
            out = [u for u in readers[r.name] if u.name in nhwc]
        else:
            continue
        if out:
            inserted.append((pos, r, out))
    for n, (pos, src, readers_) in enumerate(reversed(inserted)):
        copy = _copy_of(src, n)
        for u in readers_:
            u.inputs = [copy.name if i == src.name else i for i in u.inputs]
        records.insert(pos + 1, copy)
    return len(inserted)
