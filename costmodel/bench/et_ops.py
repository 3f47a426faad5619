"""Per-op timings of an ExecuTorch board: ETDump's events, mapped to the lowered node table.

The cached .pte runs in a program of its own loaded with ``enable_etdump``: ``warmup`` runs,
then ``runs`` profiled ones. ExecuTorch records one event per kernel it runs: per operator of
the XNNPACK runtime inside each delegate call (``Convolution (NHWC, F32) IGEMM``, ``Copy (NC,
X32)``, ``Transpose (ND, X32)``...) and per portable kernel (``native_call_avg_pool2d.out``);
``DELEGATE_CALL``, ``OPERATOR_CALL`` and ``Method::execute`` wrap them. A kernel's time is the
median over the profiled runs (:func:`kernel_us`: a trimmed mean where XNNPACK's 1 us clock
would round the median to a whole tick); wrappers are not kernels (what they add lands in
``(between)``).

XNNPACK's events carry no debug handle back to the graph, only the operator's type and its
position, so each delegate's operators are *aligned* with the lowered rows (``analyze(...,
runtime="executorch")``: batch norm folded, activations fused, views dropped, the NHWC layout
copies the delegate inserts added), in execution order, as an edit distance:

* an event may take the next row when its kind can compute the row's category
  (:data:`OP_CATEGORIES`: XNNPACK runs a 1x1 convolution as ``Fully Connected``, a batch norm
  without a convolution before it as a depthwise ``Convolution``, a concatenation as ``Copy``);
* an event may join the row it follows as an extra part (:data:`PART_OF`: an activation the
  lowering fused but XNNPACK runs on its own, ``Add`` + ``Clamp`` for a residual add and ReLU;
  ``Sigmoid`` + ``Multiply`` for SiLU; the pieces of an attention);
* an event left over is *unmapped* (cost 1); a row left over is *missing* (cost 1, less for
  the rows a runtime often computes inside another kernel: activations, layout copies, views).

The cheapest alignment wins. Then each event left over goes to the nearest row of a category
it computes that got no event (``out of order``: the partitioner ran a portable op or a branch
before the code's order, and the alignment had to pass it by). Unmapped events (a view XNNPACK
still runs as ``Static Reshape``, dim-order conversions of constants) are never guessed: they
are summed into the ``(unmapped)`` row with their kinds as its children. Where the partitioner
runs nodes in another order than the Python code (portable ops between delegates, parallel
branches), a few same-kind rows can trade times; the unmapped share and ``coverage`` say how
much of the time that concerns.

Rows are ops.csv rows (``method`` ``etdump``; ``children``: time per event kind), plus
``(unmapped)`` and ``(between)`` (the un-profiled whole-model latency less every kernel:
delegate calls, the executor, inputs and outputs).
"""

from __future__ import annotations

import contextlib
import io
import re
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from costmodel.analysis.taxonomy import NON_OP_CATEGORIES
from costmodel.bench.kernel_profile import KernelProfile, node_tables, row_table, tick_median

METHOD = "etdump"
TICK_MS = 1e-3  # XNNPACK's operator events read a microsecond clock
WRAPPERS = frozenset({"DELEGATE_CALL", "OPERATOR_CALL", "Method::execute"})
NATIVE = "native"  # a portable kernel's event is of kind "native:<op>"

_CONV = frozenset({"conv_dense", "conv_pointwise", "conv_depthwise", "conv_grouped"})
_ACT = frozenset({"activation", "elementwise"})
_POOL = frozenset({"pooling", "reduction"})


def _kinds(names: str, cats: frozenset[str]) -> dict[str, frozenset[str]]:
    return dict.fromkeys(names.split(","), cats)


# The node categories an event kind (XNNPACK's operator type, or a portable kernel) computes.
OP_CATEGORIES: dict[str, frozenset[str]] = {
    "Convolution": _CONV | {"batchnorm"},  # a lone batch norm runs as a depthwise 1x1
    "Deconvolution": _CONV,
    "Fully Connected": frozenset({"conv_pointwise", "linear", "matmul", "attention"}),
    "Batch Matrix Multiply": frozenset({"matmul", "attention", "linear"}),
    **_kinds(
        "Add,Subtract,Multiply,Divide,Maximum,Minimum,Squared Difference",
        _ACT | {"batchnorm", "attention"},
    ),
    **_kinds("Clamp,HardSwish,Sigmoid,GELU,Tanh,ELU,Leaky ReLU", frozenset({"activation"})),
    **_kinds(
        "Negate,Square Root,Reciprocal Square Root,Exp,Log,Abs,Square,Ceiling,Floor,"
        "Bankers Rounding",
        _ACT,
    ),
    "Softmax": frozenset({"softmax", "attention"}),
    **_kinds("Max Pooling,Average Pooling,Global Average Pooling,Mean,Sum,Max", _POOL),
    "Copy": frozenset({"concat", "copy", "split", "shuffle", "pad"}),
    "Transpose": frozenset({"copy", "shuffle", "permute"}),
    **_kinds(
        "Static Reshape,Static Expand Dims", frozenset({"reshape", "shuffle", "permute", "free"})
    ),
    "Constant Pad": frozenset({"pad"}),
    **_kinds("Slice,Static Slice", frozenset({"split", "copy"})),
    "Resize Bilinear": frozenset({"interpolate"}),
    **_kinds("Channel Shuffle,Depth To Space,Space To Depth", frozenset({"shuffle", "permute"})),
    NATIVE: frozenset(
        "portable copy split alloc concat pad layernorm groupnorm softmax elementwise "
        "activation reduction attention".split()
    ),
}
# Portable kernels whose op says more than "native" (the rest: OP_CATEGORIES[NATIVE]). A
# portable pool or resampling kernel computes only a row the lowering left to the portable
# kernels: given a delegated pool's row too, the out-of-order pass handed two of InceptionV3's
# zero-padded portable average pools (1-16 ms) to its delegated max and average pools (14-30
# us), and the node model learnt delegated pools far too slow (leave one family out on the
# ExecuTorch board, op-level: NAS-Bench-201's pools at 3.9x; MAPE 21.4% -> 14.9% with the
# three InceptionV3s re-profiled).
NATIVE_OPS: dict[str, frozenset[str]] = {
    **_kinds(
        "avg_pool2d,max_pool2d,max_pool2d_with_indices,adaptive_avg_pool2d,"
        "upsample_nearest2d,upsample_bilinear2d",
        frozenset({"portable_window", "portable"}),
    ),
    **_kinds("_to_dim_order_copy,clone,expand_copy", frozenset({"copy", "alloc", "portable"})),
}
_FUSED_ACT = frozenset("Clamp HardSwish Sigmoid GELU Tanh Multiply Add Divide".split())
# Extra events an op of a category may run as (or leave behind after fusion).
PART_OF: dict[str, frozenset[str]] = {
    "attention": frozenset(OP_CATEGORIES),  # reshapes, transposes, matmuls, softmax, masks
    "activation": _FUSED_ACT | {"Subtract", "Exp"},
    "layernorm": frozenset({NATIVE, "Static Reshape"}),
    "groupnorm": frozenset({NATIVE, "Static Reshape"}),
    "portable": frozenset({NATIVE}),
    "linear": frozenset({"Add", "Static Reshape", "Transpose", "Copy"}),
    "matmul": frozenset({"Add", "Static Reshape", "Transpose", "Copy"}),
    "shuffle": frozenset({"Static Reshape", "Transpose", "Copy"}),
    "concat": frozenset({"Copy"}),
    "split": frozenset({"Copy", "Slice", "Static Slice", NATIVE}),
}
# A row that absorbed an activation (more than one source) may see it run on its own.
FUSED_PARTS = _FUSED_ACT
# What leaving a row without an event costs (1 for the rest): rows a kernel often absorbs.
SKIP_COST = {"activation": 0.3, "reshape": 0.2, "permute": 0.2, "free": 0.2, "copy": 0.5}
_UNMAPPED_COST, _PART_COST = 1.0, 0.05
_NUMBER = re.compile(r" #\d+$")


def kind(name: str) -> str:
    """An event's kind: XNNPACK's operator type (``Convolution (NHWC, F32) IGEMM #3`` ->
    ``Convolution``), or ``native:<op>`` for a portable kernel (``native_call_mean.out`` ->
    ``native:mean``)."""
    if name.startswith("native_call_"):
        return "native:" + name[len("native_call_") :].split(".")[0]
    return _NUMBER.sub("", name).split(" (")[0]


def computes(event_kind: str) -> frozenset[str]:
    """The categories an event of this kind can compute (none for a kind never seen)."""
    if event_kind.startswith(NATIVE + ":"):
        return NATIVE_OPS.get(event_kind.partition(":")[2], OP_CATEGORIES[NATIVE])
    return OP_CATEGORIES.get(event_kind, frozenset())


def label(name: str) -> str:
    """An event's kind as children name it: ``Convolution/IGEMM``, ``Copy``,
    ``native:avg_pool2d``."""
    if name.startswith("native_call_"):
        return kind(name)
    base = _NUMBER.sub("", name)
    op, _, rest = base.partition(" (")
    algo = rest.partition(")")[2].strip()
    return f"{op}/{algo}" if algo else op


# ----------------------------------------------------------------------------- profiling


def run_etdump(path: str | Path, x: Any, threads: int, runs: int = 5, warmup: int = 2):
    """Run the .pte at ``path`` ``warmup + runs`` times with ETDump on; one row per kernel
    event in execution order (``name``, ``kind``, ``label``, ``delegated``, ``latency_us``: the
    median over the profiled runs); ``attrs['run_us']``: the median ``Method::execute``."""
    from executorch.devtools import Inspector
    from executorch.extension.pybindings import portable_lib
    from executorch.runtime import Runtime

    portable_lib._unsafe_reset_threadpool(threads)
    program = Runtime.get().load_program(Path(path), enable_etdump=True)
    method = program.load_method("forward")
    for _ in range(warmup + runs):
        method.execute([x])
    with tempfile.TemporaryDirectory(prefix="costmodel-etdump-") as tmp:
        dump = Path(tmp) / "run.etdp"
        program.write_etdump_result_to_file(str(dump), str(Path(tmp) / "run.debug"))
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")  # "Output Buffer not found", unsupported kwargs
            inspector = Inspector(etdump_path=str(dump))
    rows, run_us = [], float("nan")
    for block in inspector.event_blocks:
        if block.name != "Execute":
            continue
        for e in block.events:
            times = list(e.perf_data.raw)[warmup:] if e.perf_data is not None else []
            us = kernel_us(times) if times else 0.0
            if e.name == "Method::execute":
                run_us = us
            if e.name in WRAPPERS:
                continue
            rows.append(
                {
                    "name": e.name,
                    "kind": kind(e.name),
                    "label": label(e.name),
                    "delegated": bool(e.is_delegated_op),
                    "latency_us": us,
                }
            )
    frame = pd.DataFrame(rows, columns=["name", "kind", "label", "delegated", "latency_us"])
    frame.attrs["run_us"] = run_us
    return frame


def kernel_us(times_ms: list[float]) -> float:
    """A kernel's time in us from its profiled runs' times in ms (:func:`tick_median` on
    XNNPACK's microsecond clock)."""
    return 1e3 * tick_median(times_ms, TICK_MS)


# ----------------------------------------------------------------------------- mapping


def op_rows(lowered: pd.DataFrame) -> pd.DataFrame:
    """The lowered rows that are operations, in execution order."""
    return lowered[~lowered["category"].isin(NON_OP_CATEGORIES)].reset_index(drop=True)


def _part_cost(event_kind: str, category: str, fused: bool) -> float | None:
    """What joining a row of ``category`` costs an event (None: it cannot): a part its category
    runs as is cheaper than an activation the row absorbed, so that SiLU's Sigmoid goes to the
    activation row, not to the conv before it."""
    if event_kind.startswith(NATIVE + ":"):
        event_kind = NATIVE
    if event_kind in PART_OF.get(category, ()):
        return _PART_COST
    return 2 * _PART_COST if fused and event_kind in FUSED_PARTS else None


def align(kinds: list[str], rows: pd.DataFrame) -> list[tuple[int | None, str]]:
    """For each event kind, (the position in ``rows`` it goes to or None, why); ``rows``: op
    rows with ``category`` and ``sources`` (see the module docstring for the costs)."""
    n, m = len(kinds), len(rows)
    cats = list(rows["category"])
    fused = [len(str(s).split(",")) > 1 for s in rows["sources"].fillna("")]
    skip = [SKIP_COST.get(c, 1.0) for c in cats]
    inf = float("inf")
    cost = np.full((n + 1, m + 1, 2), inf)
    back: dict[tuple[int, int, int], tuple[int, int, int, str]] = {}
    cost[0, 0, 0] = 0.0

    def relax(state, new, c, how):
        if c < cost[new] - 1e-12:
            cost[new] = c
            back[new] = (*state, how)

    for i in range(n + 1):
        for j in range(m + 1):
            for f in (0, 1):
                c = cost[i, j, f]
                if c == inf:
                    continue
                if j < m:
                    relax((i, j, f), (i, j + 1, 0), c + skip[j], "skip")
                if i < n:
                    k = kinds[i]
                    if j < m and cats[j] in computes(k):
                        relax((i, j, f), (i + 1, j + 1, 1), c, "match")
                    part = _part_cost(k, cats[j - 1], fused[j - 1]) if f else None
                    if part is not None:
                        relax((i, j, f), (i + 1, j, 1), c + part, "part")
                    relax((i, j, f), (i + 1, j, f), c + _UNMAPPED_COST, "unmapped")
    state = (n, m, int(cost[n, m, 1] < cost[n, m, 0]))
    out: list[tuple[int | None, str]] = [(None, "")] * n
    while state != (0, 0, 0):
        i, j, f, how = back[state]
        if how == "match":
            out[i] = (j, "match")
        elif how == "part":
            out[i] = (j - 1, "part")
        elif how == "unmapped":
            out[i] = (None, "no row of its kind in order")
        state = (i, j, f)
    return _out_of_order(kinds, cats, out)


def _out_of_order(
    kinds: list[str], cats: list[str], placed: list[tuple[int | None, str]]
) -> list[tuple[int | None, str]]:
    """Second pass: an event left over goes to the nearest row of its kind left without one
    (the partitioner ran a portable op, or a branch, before the code's order)."""
    free = set(range(len(cats))) - {j for j, _ in placed if j is not None}
    anchor, out = 0, list(placed)
    for i, (j, _) in enumerate(placed):
        if j is not None:
            anchor = j
            continue
        fits = [r for r in free if cats[r] in computes(kinds[i])]
        if fits:
            best = min(fits, key=lambda r: (abs(r - anchor), r))
            free.discard(best)
            out[i] = (best, "out of order")
    return out


def map_events(events: pd.DataFrame, lowered: pd.DataFrame) -> pd.DataFrame:
    """``events`` (from :func:`run_etdump`) with ``node`` (the lowered row, "" for none) and
    ``reason``."""
    rows = op_rows(lowered)
    placed = align(list(events["kind"]), rows)
    names = list(rows["name"])
    return events.assign(
        node=[names[j] if j is not None else "" for j, _ in placed],
        reason=[why for _, why in placed],
    )


def profile_pte(
    path: str | Path,
    x: Any,
    threads: int,
    lowered: pd.DataFrame,
    runs: int = 5,
    whole_us: float | None = None,
    warmup: int = 2,
) -> KernelProfile:
    """Per-op timings of the ExecuTorch program at ``path`` (see the module docstring);
    ``lowered``: the model's node table lowered for executorch; ``whole_us``: the un-profiled
    whole-model median, for ``coverage`` and the between row."""
    events = map_events(run_etdump(path, x, threads, runs=runs, warmup=warmup), lowered)
    rows = row_table(events, lowered)
    missing = [n for n in op_rows(lowered)["name"] if n not in set(rows["node"])]
    return KernelProfile(events, rows, runs, METHOD, whole_us=whole_us, missing=missing)


def node_table(model: Any, shape: tuple[int, ...]) -> pd.DataFrame | None:
    """The node table of ``model`` lowered for executorch; None when it was captured at
    dispatch level (its rows' order is not the program's)."""
    tables = node_tables(model, shape, "executorch")
    return None if tables is None else tables[0]


__all__ = [
    "METHOD",
    "NATIVE_OPS",
    "OP_CATEGORIES",
    "PART_OF",
    "align",
    "computes",
    "kind",
    "label",
    "map_events",
    "node_table",
    "profile_pte",
    "run_etdump",
]
