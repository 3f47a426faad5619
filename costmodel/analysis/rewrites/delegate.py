"""Ops a delegate leaves to the runtime's own kernels.

ExecuTorch's XNNPACK partitioner claims only the ops (and op variants) XNNPACK implements; the
rest run on ExecuTorch's portable kernels: plain C++ loops, far slower per element than XNNPACK
(an average pool that counts its zero padding takes ~2 ms for 16x32x32 on the project's x86
board, the 3x3 convolution beside it 0.16 ms; its ETDump), each one a break in the delegated
graph with NCHW<->NHWC conversions around it. The checks mirror the partitioner's own
(``executorch/backends/xnnpack/partition/config``, ExecuTorch 1.5); a test compares them with
the partitioner on real exports.
"""

from __future__ import annotations

from costmodel.analysis.capture import NodeRecord
from costmodel.analysis.ops.registry import itemsize, numel
from costmodel.analysis.rewrites.registry import rule
from costmodel.analysis.taxonomy import WINDOW_CATEGORIES

# XNNPACK has no kernel for these categories at all (no partitioner config).
_NO_KERNEL = frozenset({"layernorm", "groupnorm"})
_MAX_CAT_INPUTS = 5  # its concatenation takes 2-5 tensors
# Windowed ops (pooling, resampling) get a category of their own: the portable kernels loop
# over every window element with generic index arithmetic (~17 ms per MFLOP of window sums
# fitted on the x86 board's 77 models, against near-free group norms of the same FLOPs).
_WINDOWED = WINDOW_CATEGORIES - {"portable_window"}
# split / chunk / unbind (a slice is delegated: XNNPACK copies it)
_SPLITS = frozenset({"aten.split", "aten.split_with_sizes", "aten.chunk", "aten.unbind"})


def _op(r: NodeRecord) -> str:
    return r.aten_ops[0] if r.aten_ops else ""


def _rank(r: NodeRecord) -> int:
    return len(r.input_shapes[0]) if r.input_shapes else 0


def left_to_portable(r: NodeRecord) -> str:
    """Why XNNPACK's partitioner leaves the op of ``r`` to the portable kernels ('' if it
    delegates it)."""
    op, a = _op(r), r.attrs
    if r.category in _NO_KERNEL:
        return f"no XNNPACK kernel for {op}"
    if op == "aten.avg_pool2d":
        if a.get("ceil_mode"):
            return "average pool with ceil mode"
        if a.get("count_include_pad", True) and any(p for p in a.get("padding", ())):
            return "average pool counting its zero padding"
        if a.get("divisor_override") is not None:
            return "average pool with a divisor override"
    if op == "aten.mean":
        if _rank(r) != 4 or tuple(a.get("dims", ())) != (2, 3) or not a.get("keepdim"):
            return "mean other than over H and W of a 4-D tensor, kept"
    if op == "aten.max" and r.category == "reduction" and _rank(r) != 4:
        return "max over a dimension of a tensor that is not 4-D"
    if r.category == "reduction" and op not in ("aten.mean", "aten.max"):
        return f"no XNNPACK kernel for {op}"  # sum, amax, var, ... (amax is not max.dim)
    if r.category == "softmax" and a.get("dim", -1) not in (-1, _rank(r) - 1):
        return "softmax over a dimension other than the last"
    if op.startswith("aten.adaptive_max_pool"):
        return "adaptive max pooling"
    if r.category == "pooling" and tuple(a.get("output_size", (1, 1))) not in ((1, 1), (1,)):
        return "adaptive pooling to more than one value"
    if r.category == "interpolate" and a.get("mode") != "bilinear":
        return f"{a.get('mode')} interpolation"
    if r.category == "concat" and a.get("n_inputs", 2) > _MAX_CAT_INPUTS:
        return f"concatenation of more than {_MAX_CAT_INPUTS} tensors"
    if r.category == "split" and op in _SPLITS:
        # split / chunk: ``split_with_sizes_copy``, a portable copy of every piece (the
        # pieces picked by ``getitem`` are then free)
        return "split into copies"
    return ""


@rule("portable_xnnpack")
def portable_xnnpack(records: list[NodeRecord]) -> int:
    """Give the ops XNNPACK does not take the category ``portable`` (``portable_window`` for
    pooling and resampling windows; the op it was stays in ``target`` and ``aten_ops``, the
    reason in ``attrs['portable']``); a split becomes the copy the portable kernel makes.
    Return how many."""
    n = 0
    for r in records:
        why = left_to_portable(r)
        if not why:
            continue
        if r.category == "split":  # the pieces are written out, the input read once
            elems = numel(r.input_shapes[0] if r.input_shapes else ())
            size = itemsize(r.dtype)
            r.act_elems_read = r.elems_written = elems
            r.act_bytes_read = r.bytes_written = elems * size
            r.is_copy = True
        r.attrs = {**r.attrs, "portable": why}
        r.category = "portable_window" if r.category in _WINDOWED else "portable"
        n += 1
    return n


# XNNPACK's largest depthwise micro-kernel tile, in kernel taps (5x5). A depthwise convolution
# with more taps (7x7) gets no depthwise kernel: XNNPACK runs it as a grouped IGEMM, one tiny
# GEMM per channel (ETDump names the kernel: "Convolution/IGEMM" for all six 7x7 depthwise
# convolutions of the shipped ExecuTorch boards, "Convolution/DWConv" for all 657 3x3 and 5x5
# ones). Per MAC it costs 7-10x a 5x5 one there (0.44-0.53 ns against 0.05-0.07); per group and
# output pixel 0.02-0.03 us, within 3x of the grouped convolutions' 0.04-0.07 (the same kernel),
# 15x and more from the depthwise kernel's 0.0004-0.0016.
_MAX_DWCONV_TAPS = 25


@rule("dwconv_igemm_xnnpack")
def dwconv_igemm_xnnpack(records: list[NodeRecord]) -> int:
    """Give the depthwise convolutions XNNPACK runs as grouped IGEMM (more than
    :data:`_MAX_DWCONV_TAPS` kernel taps) the category ``conv_grouped`` (the reason in
    ``attrs['kernel_choice']``). Return how many."""
    n = 0
    for r in records:
        if r.category != "conv_depthwise":
            continue
        taps = numel(r.attrs.get("kernel", ()))
        if taps <= _MAX_DWCONV_TAPS:
            continue
        r.category = "conv_grouped"
        r.attrs = {**r.attrs, "kernel_choice": f"{taps}-tap depthwise: XNNPACK's grouped IGEMM"}
        n += 1
    return n
