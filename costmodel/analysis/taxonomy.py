"""The op categories and their groupings, once: every other module iterates these tables.

Each category an op formula can return (``OpCost.category``) has one row: its *group* (the unit a
latency predictor gives one cost to: a launch cost per op, a rate per MAC or per byte) and its
*kind of work* (the coarse grouping reports and per-kind breakdowns show). A new category is
one row here; a category without a row is an import-time error, so nothing silently becomes
"other".

Rows are in priority order: when one fx node dispatches several ATen ops (``F.linear`` -> ``t`` +
``addmm``; ``reshape`` of a strided tensor -> ``clone`` + ``_unsafe_view``), the node takes the
category that comes first.
"""

from __future__ import annotations

# (category, group, kind of work), in priority order.
_TABLE: tuple[tuple[str, str, str], ...] = (
    ("unknown", "unknown", "other"),
    ("attention", "dense", "linear/matmul"),
    ("conv_dense", "conv_dense", "convolution"),
    ("conv_pointwise", "conv_pointwise", "convolution"),
    ("conv_depthwise", "conv_depthwise", "convolution"),
    ("conv_grouped", "conv_grouped", "convolution"),
    ("linear", "dense", "linear/matmul"),
    ("matmul", "dense", "linear/matmul"),
    ("batchnorm", "norm", "normalisation"),
    ("layernorm", "norm", "normalisation"),
    ("groupnorm", "norm", "normalisation"),
    ("softmax", "pool", "pooling/reduction"),
    ("pooling", "pool", "pooling/reduction"),
    ("interpolate", "pool", "pooling/reduction"),
    ("activation", "activation", "elementwise"),
    ("elementwise", "elementwise", "elementwise"),
    ("reduction", "pool", "pooling/reduction"),
    ("shuffle", "shuffle", "data movement"),
    ("concat", "concat", "concatenation"),
    ("pad", "copy", "data movement"),
    ("copy", "copy", "data movement"),
    ("split", "split", "data movement"),
    ("permute", "view", "data movement"),
    ("reshape", "view", "data movement"),
    ("alloc", "alloc", "data movement"),
    # an op a delegate leaves to the runtime's own (portable) kernels; set by lowering only
    ("portable_window", "portable_window", "fallback kernels"),
    ("portable", "portable", "fallback kernels"),
    ("free", "free", "other"),
    ("shape", "shape", "other"),
)

CATEGORIES: tuple[str, ...] = tuple(c for c, _, _ in _TABLE)
GROUP_OF: dict[str, str] = {c: g for c, g, _ in _TABLE}
KIND_OF: dict[str, str] = {c: k for c, _, k in _TABLE}

# Kinds of work in display order, each with its categories.
KINDS: dict[str, tuple[str, ...]] = {
    kind: tuple(c for c, _, k in _TABLE if k == kind)
    for kind in (
        "convolution",
        "linear/matmul",
        "elementwise",
        "normalisation",
        "concatenation",
        "data movement",
        "pooling/reduction",
        "fallback kernels",
        "other",
    )
}
# Groups in table order, each with its categories.
GROUPS: dict[str, tuple[str, ...]] = {
    g: tuple(c for c, gg, _ in _TABLE if gg == g) for g in dict.fromkeys(g for _, g, _ in _TABLE)
}

MAC_CATEGORIES = frozenset(
    {"attention", "conv_dense", "conv_pointwise", "conv_depthwise", "conv_grouped", "linear",
     "matmul"}
)  # fmt: skip
# Ops whose output is a fresh copy of their inputs (bytes read and written, no arithmetic).
COPY_CATEGORIES = frozenset({"copy", "concat", "pad"})
# Ops that loop over a window of inputs per output (pooling, resampling): their work is their
# FLOPs (output x window), and their bytes read follow the stride instead.
WINDOW_CATEGORIES = frozenset({"pooling", "interpolate", "portable_window"})
# Rows of the node table that are not operations (graph inputs/outputs, fetched constants).
NON_OP_CATEGORIES = frozenset({"io", "constant"})
# Categories that do no work on data (identity/dropout in eval mode, Python size arithmetic,
# uninitialised allocation): never a reason to warn that a model is outside a calibration.
NO_DATA_CATEGORIES = frozenset({"free", "shape", "alloc"})
# Categories whose ops differ in cost per element where their counts are the same: on the x86
# board a GELU, a hardtanh and a ReLU of one size (4k-16k elements) take 30.7, 12.6 and 5.8 us
# in context. An op of these never timed in calibration is priced from the others of its
# category (held out with the random networks, hardtanh, hardswish, tanh and GELU nodes were
# predicted at 0.36-0.49x their time, benchmarks/RESULTS.md): predictions say so.
PER_OP_CATEGORIES = frozenset(
    KINDS["elementwise"] + KINDS["normalisation"] + KINDS["pooling/reduction"]
)
# Categories a feature row counts (not 'unknown': its own column reports it; not Python-level
# 'shape' arithmetic).
FEATURE_CATEGORIES: tuple[str, ...] = tuple(c for c in CATEGORIES if c not in ("unknown", "shape"))


def _check() -> None:
    unplaced = [c for c in CATEGORIES if sum(c in cats for cats in KINDS.values()) != 1]
    if unplaced or len(set(CATEGORIES)) != len(CATEGORIES):
        raise RuntimeError(f"taxonomy: categories without exactly one kind of work: {unplaced}")
    groupings = MAC_CATEGORIES | COPY_CATEGORIES | NO_DATA_CATEGORIES | WINDOW_CATEGORIES
    stray = groupings - set(CATEGORIES)
    if stray:
        raise RuntimeError(f"taxonomy: unknown categories in a grouping: {sorted(stray)}")


_check()
