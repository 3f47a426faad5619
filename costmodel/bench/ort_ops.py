"""Per-op timings of an ONNX Runtime board: ORT's own profiler, mapped to the lowered node table.

The exported model runs in its own ``InferenceSession`` with the measured session's options
(:func:`costmodel.bench.runtimes.onnxruntime.session_options`) plus ``enable_profiling``:
``warmup`` runs, then ``runs`` profiled runs. Each ORT node's time is the median over the
profiled runs of its ``<node>_kernel_time`` events (cat ``Node``; a trimmed mean where the
whole microseconds it writes would round the median, :func:`tick_median`), less the profiler's
own cost per kernel (:func:`measure_overhead`: ~2 us, where a small model's kernels take a few);
the whole-model latency is measured elsewhere, without the profiler (the timed session is
never profiled).

Each ORT node is mapped to a row of the model's *lowered* node table (``analyze(...,
runtime="onnxruntime")``: batch norm folded, activations fused, views dropped; a lowered row
keeps its producer's name and lists the eager nodes it absorbed in ``sources``). The rules
come from the names the TorchScript exporter and ORT's optimiser give nodes:

* The exporter names a node by the *called* modules around it and its op type,
  ``/stages/stages.0/stages.0.0/conv1/conv1.2/Relu`` for module ``stages.0.0.conv1.2``: each
  module by its path from its last non-numeric atom, ModuleList/ModuleDict levels (never
  called) left out (``/cells.0/edge_0_1/edge_0_1.0/Relu`` for ``cells.0.edges.edge_0_1.0``),
  ``_<n>`` for a module's n-th call; a functional op of a container ``/blk/Add_1``, of the root
  ``/Add``; outputs ``<node>_output_<i>`` (graph outputs are numbered, ``10``).
* ORT (1.32, ORT_ENABLE_ALL) keeps a node's name when it rewrites it in place (BN folded into a
  Conv, ``FusedConv``), appends the fusion to it (``/stem/stem.2/Mul/QuickGeluFusion/``,
  ``/blk/attn/q/MatMul/MatMulAddFusion`` -> Gemm), names its NCHWc ``Conv``/pooling nodes
  after their output, ``<tensor>_nchwc`` (after activation fusion: the activation's output),
  and derives names without a scope for the rest: ``ReorderInput``/``ReorderOutput_token_<k>``
  (NCHWc layout), ``gemm_input_reshape_token_<k>`` (a 3-D input flattened for its Gemm),
  ``Gelu``, and ``<Op>_<index>`` for unnamed nodes (an inlined HardSwish: HardSigmoid, Mul).
  So an ORT node's scopes (:func:`scopes`) are read from its name, its outputs' names and the
  names of the exported nodes that wrote its outputs (ORT's optimised graph, saved for the
  profiled session, against the exported one); a node with none takes the scope of the nodes
  reading its outputs, only where its op type fits the row found there.
* A scope that is a leaf module (an fx ``call_module`` node) gives the ORT node to the lowered
  row that absorbed that eager node (all of a leaf module's work is its node's, as in the
  eager profiler; a node whose op type fits that row is preferred over other scopes).
* A scope that is a container is aligned with its functional eager nodes in execution order:
  an ORT node goes to the first not yet matched node whose category its op type can compute
  (:data:`OP_CATEGORIES`); ops an exporter spreads over several ONNX nodes (attention, layer
  norm, an activation written out) also take the extra nodes (:data:`PART_OF`).
* ``ReorderInput`` / ``ReorderOutput`` (NCHWc layout conversions ORT inserts), exporter
  scaffolding (``Shape``, ``Cast``, ...), nodes whose eager node the lowering dropped (a
  view ORT still runs as ``Reshape`` or ``Transpose``, a ``Flatten``) and nodes no rule
  places (a ``Gelu`` inside an NCHWc region) are never guessed: they are summed into the
  ``(unmapped)`` row, with their op types as its children.
* A lowered row no ORT node maps to is listed in ``missing``: ORT computes it inside another
  node that the onnxruntime lowering does not merge it into (the lowering models the NCHWc
  ``Conv(nchwc+Sum)`` fusion of an Add and the ReLU after it, ``fuse_sum_ort``; a channel
  shuffle's views that ORT runs as one Reshape-Transpose-Reshape are one case left).

Rows are ops.csv rows (``method`` ``ort_profiler``; ``children``: the ORT op types that made
the row, ``op=us;op=us``), plus ``(unmapped)`` and ``(between)`` (the un-profiled whole-model
latency less every ORT node: session and executor overhead outside the kernels; it is
negative when profiling inflated the kernels, as ``coverage`` > 1 shows).
"""

from __future__ import annotations

import json
import re
import statistics
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from costmodel.analysis.taxonomy import NON_OP_CATEGORIES
from costmodel.bench.kernel_profile import KernelProfile, row_table, tick_median
from costmodel.bench.kernel_profile import node_tables as kernel_node_tables

METHOD = "ort_profiler"
NCHWC = "com.microsoft.nchwc"
TICK_US = 1.0  # the profiler writes whole microseconds

_CONV = frozenset({"conv_dense", "conv_pointwise", "conv_depthwise", "conv_grouped"})
_DENSE = frozenset({"linear", "matmul", "attention"})
_ACT = frozenset({"activation"})
_ELEM = frozenset({"elementwise"})
_POOL = frozenset({"pooling", "reduction"})
_VIEW = frozenset({"reshape", "permute", "shuffle", "copy"})


def _ops(names: str, cats: frozenset[str]) -> dict[str, frozenset[str]]:
    return dict.fromkeys(names.split(), cats)


# The node categories an ORT op type computes (fused and contrib ops included).
OP_CATEGORIES: dict[str, frozenset[str]] = {
    **_ops("Conv FusedConv ConvTranspose NhwcConv NhwcFusedConv QLinearConv ConvInteger", _CONV),
    **_ops("Gemm FusedGemm MatMul FusedMatMul MatMulInteger QGemm", _DENSE),
    **_ops("Attention MultiHeadAttention", frozenset({"attention"})),
    **_ops(
        "Relu Clip Sigmoid Tanh LeakyRelu HardSigmoid HardSwish Gelu FastGelu BiasGelu QuickGelu "
        "Erf Elu Selu Celu Softplus Softsign Mish PRelu ThresholdedRelu",
        _ACT,
    ),
    **_ops(
        "Add Sub Mul Div Sum Pow Sqrt Neg Abs Exp Log Reciprocal Max Min Mean Where Equal Greater "
        "Less Not And Or Floor Ceil Round Sign Mod",
        _ELEM,
    ),
    "BatchNormalization": frozenset({"batchnorm"}),
    **_ops(
        "LayerNormalization SkipLayerNormalization SimplifiedLayerNormalization "
        "SkipSimplifiedLayerNormalization",
        frozenset({"layernorm"}),
    ),
    **_ops("GroupNorm GroupNormalization InstanceNormalization", frozenset({"groupnorm"})),
    **_ops("Softmax LogSoftmax", frozenset({"softmax"})),
    **_ops("MaxPool AveragePool GlobalAveragePool GlobalMaxPool LpPool", _POOL),
    **_ops("ReduceMean ReduceSum ReduceMax ReduceMin ReduceProd ReduceL2 ArgMax", _POOL),
    **_ops("Resize Upsample", frozenset({"interpolate"})),
    "Concat": frozenset({"concat"}),
    "Pad": frozenset({"pad"}),
    **_ops("Split Slice Gather GatherElements", frozenset({"split", "copy"})),
    "Transpose": _VIEW,
    **_ops("Reshape Flatten Squeeze Unsqueeze", _VIEW),
    **_ops("Expand Tile", frozenset({"copy", "alloc"})),
    "Identity": frozenset({"free", "copy"}),
}
# Extra ONNX nodes an op of a category may be exported as (or leave behind after fusion).
PART_OF: dict[str, frozenset[str]] = {
    "attention": frozenset(
        "MatMul FusedMatMul Softmax Mul Div Sqrt Add Transpose Reshape Where".split()
    ),
    "layernorm": frozenset("ReduceMean Sub Pow Add Sqrt Div Mul".split()),
    "groupnorm": frozenset("Reshape InstanceNormalization Mul Add".split()),
    "activation": frozenset("Mul Add Div Erf Sigmoid Tanh Pow Clip Sub".split()),
    "softmax": frozenset("Exp ReduceSum ReduceMax Sub Div".split()),
    "linear": frozenset("Add MatMul Gemm FusedGemm Reshape".split()),
    "matmul": frozenset("Add MatMul Transpose".split()),
}
# NCHWc layout conversions ORT inserts around its blocked-layout kernels.
LAYOUT_OPS = frozenset({"ReorderInput", "ReorderOutput"})
# What the exporter or ORT add that no node of the model computes.
SCAFFOLD_OPS = frozenset(
    {"Shape", "Size", "Cast", "Constant", "ConstantOfShape", "Range", "NonZero", "MemcpyFromHost",
     "MemcpyToHost"}
)  # fmt: skip

# ORT's MatMulAddFusion flattens a 3-D input to 2-D for its Gemm with a Reshape of this name.
_GEMM_RESHAPE = "gemm_input_reshape"
_CALL = re.compile(r"^(.*)_(\d+)$")
_OUTPUT = re.compile(r"_output_\d+$")


class OrtProfile(KernelProfile):
    """Per-op timings of one model on ONNX Runtime (see :class:`KernelProfile`): ``ort`` is
    its ``events``, one row per ORT node (``name``, ``op``, ``domain``, ``provider``,
    ``latency_us``; ``raw_us``: the time as profiled, before the profiler's cost per kernel was
    subtracted)."""

    def __init__(self, ort: pd.DataFrame, rows: pd.DataFrame, runs: int, **kw: Any) -> None:
        super().__init__(ort, rows, runs, METHOD, **kw)

    @property
    def ort(self) -> pd.DataFrame:
        return self.events


# ----------------------------------------------------------------------------- profiling


def run_profiled(
    path: str | Path, x: Any, threads: int, runs: int = 5, warmup: int = 2
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Profile ``runs`` runs (after ``warmup``) of the .onnx at ``path`` on input ``x``.

    Returns (one row per ORT node: ``name``, ``op``, ``provider``, ``latency_us`` (median over
    the runs of its kernel time per run), ``order`` (first start within a run); the optimised
    graph's nodes: ``name``, ``op``, ``domain``, ``inputs``, ``outputs``)."""
    import onnxruntime as ort

    from costmodel.bench.runtimes.onnxruntime import PROVIDERS, session_options

    def open_session(tmp: Path, save: bool) -> Any:
        options = session_options(threads)
        options.enable_profiling = True
        options.profile_file_prefix = str(tmp / "profile")
        options.log_severity_level = 3  # not the warning that the saved graph is CPU-specific
        if save:  # ORT's optimised graph: the domains, inputs and outputs of its nodes
            options.optimized_model_filepath = str(tmp / "optimized.onnx")
        return ort.InferenceSession(str(path), options, providers=PROVIDERS)

    with tempfile.TemporaryDirectory(prefix="costmodel-ort-") as tmp_dir:
        tmp = Path(tmp_dir)
        try:
            session = open_session(tmp, save=True)
        except Exception:  # the optimised graph could not be saved: profile without it
            session = open_session(tmp, save=False)
        feed = {session.get_inputs()[0].name: np.asarray(x)}
        for _ in range(warmup + runs):
            session.run(None, feed)
        events = json.loads(Path(session.end_profiling()).read_text())
        graph = _graph(tmp / "optimized.onnx", Path(path))
    return _node_times(events, warmup, runs), graph


def _graph(path: Path, exported: Path) -> list[dict[str, Any]]:
    """Nodes of ORT's optimised graph (when it could be saved): name, domain, op, io, and
    ``origins``: the exported nodes that wrote its outputs (an output renamed by ORT's NCHWc
    pass, ``<tensor>_nchwc``, counts as ``<tensor>``)."""
    try:
        import onnx

        model = onnx.load(str(path), load_external_data=False)
        source = onnx.load(str(exported), load_external_data=False)
    except Exception:  # the names alone still map most nodes
        return []
    wrote = {o: n.name for n in source.graph.node for o in n.output}
    nodes = []
    for n in model.graph.node:
        tensors = [*n.output, n.name.removesuffix("_nchwc")]
        origins = [wrote[t] for t in tensors if t in wrote]
        nodes.append(
            {
                "name": n.name,
                "domain": n.domain,
                "op": n.op_type,
                "inputs": list(n.input),
                "outputs": list(n.output),
                "origins": list(dict.fromkeys(origins)),
            }
        )
    return nodes


def _node_times(events: list[dict[str, Any]], warmup: int, runs: int) -> pd.DataFrame:
    """Per ORT node: median over the profiled runs of its summed kernel time in each run."""
    windows = sorted(
        (e["ts"], e["ts"] + e["dur"])
        for e in events
        if e.get("cat") == "Session" and e.get("name") == "model_run"
    )
    kernels = sorted(
        (e for e in events if e.get("cat") == "Node" and e["name"].endswith("_kernel_time")),
        key=lambda e: e["ts"],
    )
    if len(windows) < warmup + runs:  # no run windows: the kernels of each run in turn
        per = len(kernels) // (warmup + runs) if kernels else 0
        windows = [(i, i) for i in range(warmup + runs)]
        which = [min(i // per, warmup + runs - 1) if per else 0 for i in range(len(kernels))]
    else:
        starts = [w[0] for w in windows]
        which = [max(int(np.searchsorted(starts, e["ts"], side="right")) - 1, 0) for e in kernels]
    per_run: list[dict[str, float]] = [defaultdict(float) for _ in windows]
    first: dict[str, float] = {}
    info: dict[str, tuple[str, str]] = {}
    for e, w in zip(kernels, which, strict=True):
        name = e["name"][: -len("_kernel_time")]
        per_run[w][name] += float(e["dur"])
        args = e.get("args", {})
        info.setdefault(name, (args.get("op_name", ""), args.get("provider", "")))
        if w == warmup:
            first.setdefault(name, e["ts"])
    measured = per_run[warmup : warmup + runs]
    rows = [
        {
            "name": name,
            "op": op,
            "provider": provider,
            "latency_us": tick_median([r.get(name, 0.0) for r in measured], TICK_US),
            "order": first.get(name, np.inf),
        }
        for name, (op, provider) in info.items()
    ]
    frame = pd.DataFrame(rows, columns=["name", "op", "provider", "latency_us", "order"])
    frame = frame.sort_values("order", kind="stable").reset_index(drop=True)
    spans = [float(b - a) for a, b in windows[warmup : warmup + runs] if b > a]
    frame.attrs["run_us"] = statistics.median(spans) if spans else float("nan")
    return frame


# ----------------------------------------------------------------------------- mapping


def scopes(name: str, outputs: list[str] = (), origins: list[str] = ()) -> list[list[str]]:
    """The module scopes an ORT node's names carry, most telling first: its own name's, each
    output's (``/a/a.0/conv/Conv_output_0``), then the names of the exported nodes that wrote
    its outputs (``origins``: a graph output is named ``10``, not by scope). A scope is its path
    components (``[]``: the root); a name without one (ORT's derived names) gives none."""
    found: list[list[str]] = []
    texts = [name, *(_OUTPUT.sub("", o) for o in outputs if _OUTPUT.search(o)), *origins]
    for text in texts:
        if "/" not in text:
            continue
        parts = text[text.index("/") :].split("/")[1:-1]
        if parts not in found:
            found.append(parts)
    return found


@dataclass
class _Eager:
    name: str
    category: str
    row: str | None  # the lowered row that absorbed it (None: dropped by the lowering)


@dataclass
class _Tables:
    """The lookups the mapping needs, built once from the lowered and eager node tables."""

    by_short: dict[str, list[str]]  # short name (:func:`_short`) -> module paths of the table
    leaf: dict[str, list[_Eager]]  # module path -> its call_module nodes, one per call
    scope: dict[str, list[_Eager]]  # container path -> its functional nodes, in order
    row_cats: dict[str, set[str]]  # lowered row -> categories of the eager nodes it stands for
    op_rows: list[str]  # lowered op rows, in order
    row_category: dict[str, str]  # lowered row -> its own category

    @classmethod
    def build(cls, lowered: pd.DataFrame, eager: pd.DataFrame | None) -> _Tables:
        lowered = lowered[~lowered["category"].isin(NON_OP_CATEGORIES)]
        lowered = lowered[lowered["op"].isin(["call_module", "call_function", "call_method"])]
        row_of: dict[str, str] = {}
        for r in lowered.itertuples():
            for s in str(r.sources or r.name).split(","):
                row_of[s] = r.name
        if eager is None:  # no eager table: each lowered row stands for its own node only
            eager = lowered
        eager = eager[eager["op"].isin(["call_module", "call_function", "call_method"])]
        known, leaf, scope = {""}, defaultdict(list), defaultdict(list)
        row_cats: dict[str, set[str]] = defaultdict(set)
        for r in eager.itertuples():
            module = "" if pd.isna(r.module) else str(r.module)
            parts = module.split(".") if module else []
            known.update(".".join(parts[: i + 1]) for i in range(len(parts)))
            e = _Eager(r.name, r.category, row_of.get(r.name))
            (leaf if r.op == "call_module" else scope)[module].append(e)
            if e.row is not None:
                row_cats[e.row].add(r.category)
        for r in lowered.itertuples():
            row_cats[r.name].add(r.category)
        by_short: dict[str, list[str]] = defaultdict(list)
        for p in sorted(known - {""}):
            by_short[_short(p)].append(p)
        return cls(dict(by_short), dict(leaf), dict(scope), dict(row_cats), list(lowered["name"]),
                   dict(zip(lowered["name"], lowered["category"], strict=True)))  # fmt: skip

    def resolve(self, parts: list[str]) -> tuple[str, int]:
        """(deepest module path the scope components name, call index of its last component).

        The exporter names each *called* module (a ModuleList or ModuleDict is never called,
        so it has no component) by its path from its last non-numeric atom (``conv1`` for
        ``layer1.0.conv1``, ``layer1.0`` for ``layer1.0``, ``conv1.2`` for ``...conv1.2``),
        ``_<n>`` appended for the n-th call of a module called before. Components after the
        module path (an op type, ORT's ``MatMulAddFusion``) end the walk."""
        path, call = "", 0
        for part in parts:
            m = _CALL.match(part)
            for name, n in ((part, 0), *(((m.group(1), int(m.group(2))),) if m else ())):
                below = [p for p in self.by_short.get(name, ()) if _under(p, path)]
                if below:
                    path, call = min(below, key=len), n
                    break
            else:
                return path, call
        return path, call


def _short(path: str) -> str:
    """A module path from its last non-numeric atom: ``a.b.0.1`` -> ``b.0.1``."""
    atoms = path.split(".")
    i = len(atoms) - 1
    while i > 0 and atoms[i].isdigit():
        i -= 1
    return ".".join(atoms[i:])


def _under(path: str, parent: str) -> bool:
    return path != parent and (not parent or path.startswith(parent + "."))


class _Mapper:
    """Maps ORT nodes, in execution order, to lowered rows (see the module docstring)."""

    def __init__(self, tables: _Tables) -> None:
        self.t = tables
        self.matched: dict[str, set[int]] = defaultdict(set)
        self.last: dict[str, int] = {}

    def place(
        self, op: str, own: list[list[str]], readers: list[list[str]] = ()
    ) -> tuple[str | None, str]:
        """(lowered row, or None; why) for an ORT node of type ``op`` with scopes ``own`` (its
        name's and outputs') and ``readers`` (those of the nodes reading its outputs, for a
        node with none of its own: taken only where the op type fits the row)."""
        if op in LAYOUT_OPS:
            return None, "layout"
        if op in SCAFFOLD_OPS:
            return None, "scaffolding"
        if not own and not readers:
            return None, "no scope"
        fallback: tuple[str | None, str] | None = None
        for parts, strict in [*((p, False) for p in own), *((p, True) for p in readers)]:
            path, call = self.t.resolve(parts)
            if path in self.t.leaf:
                calls = self.t.leaf[path]
                e = calls[min(call, len(calls) - 1)]
                if e.row is None:
                    if not strict:
                        fallback = fallback or (None, "dropped")
                elif op not in OP_CATEGORIES or OP_CATEGORIES[op] & self.t.row_cats[e.row]:
                    if not strict or op in OP_CATEGORIES:
                        return e.row, "leaf" if not strict else "reader"
                elif not strict:
                    fallback = fallback or (e.row, "leaf")
            elif path in self.t.scope and not strict:
                got = self._align(path, op)
                if got is not None:
                    return got
        return fallback or (None, "no match")

    def _align(self, path: str, op: str) -> tuple[str | None, str] | None:
        nodes, matched = self.t.scope[path], self.matched[path]
        cats = OP_CATEGORIES.get(op, frozenset())

        def take(j: int, why: str) -> tuple[str | None, str]:
            matched.add(j)
            self.last[path] = j
            row = nodes[j].row
            return (row, why) if row is not None else (None, "dropped")

        free = [j for j in range(len(nodes)) if j not in matched and nodes[j].category in cats]
        kept = [j for j in free if nodes[j].row is not None]
        # A node the lowering merged into a row of another kind (an add into the convolution
        # taking it as its Sum) runs inside that row's ORT node: an ORT node of its own op
        # type is one of the nodes that stand as rows of their own (NAS-Bench-201's cells:
        # the first of three adds fused, the second standing).
        standing = [j for j in kept if self.t.row_category.get(nodes[j].row) == nodes[j].category]
        if standing or kept or free:
            return take((standing or kept or free)[0], "scope")
        last = self.last.get(path)
        if last is not None and op in PART_OF.get(nodes[last].category, ()):
            return take(last, "part")
        part = [
            j
            for j in range(len(nodes))
            if j not in matched
            and nodes[j].row is not None
            and op in PART_OF.get(nodes[j].category, ())
        ]
        if part:
            return take(part[0], "part")
        return None


def map_nodes(
    ort: pd.DataFrame,
    lowered: pd.DataFrame,
    eager: pd.DataFrame | None = None,
    graph: list[dict[str, Any]] | None = None,
) -> pd.DataFrame:
    """``ort`` (from :func:`run_profiled`) with ``domain``, ``label`` (op type, ``(nchwc)``
    for ORT's blocked-layout kernels), ``node`` (the lowered row, "" for none) and ``reason``."""
    return _map(ort, _Tables.build(lowered, eager), graph)


def _map(ort: pd.DataFrame, tables: _Tables, graph: list[dict[str, Any]] | None) -> pd.DataFrame:
    of = _graph_nodes(ort, graph or [])
    readers: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for g in graph or []:
        for i in g["inputs"]:
            readers[i].append(g)
    mapper = _Mapper(tables)
    out = ort.copy()
    nodes, reasons, domains, labels = [], [], [], []
    for r in ort.itertuples():
        g = of.get(r.name, {})
        domain = g.get("domain", "")
        own = scopes(r.name, g.get("outputs", []), g.get("origins", []))
        if not own and r.name.startswith(_GEMM_RESHAPE):  # part of the Gemm it feeds
            own = _reader_scopes(g, readers)
        row, why = mapper.place(r.op, own, [] if own else _reader_scopes(g, readers))
        nodes.append(row or "")
        reasons.append(why)
        domains.append(domain)
        labels.append(_label(r.op, domain, g.get("inputs", [])))
    return out.assign(domain=domains, label=labels, node=nodes, reason=reasons)


def _graph_nodes(ort: pd.DataFrame, graph: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Profiled node name -> its node of the optimised graph. A node ORT made without a name
    (the body of an inlined function, e.g. HardSwish as HardSigmoid and Mul) is profiled as
    ``<op>_<node index>``: those are paired with the unnamed graph nodes of that op in order."""
    of = {g["name"]: g for g in graph if g["name"]}
    unnamed: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for g in graph:
        if not g["name"]:
            unnamed[g["op"]].append(g)
    waiting: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for name, op in zip(ort["name"], ort["op"], strict=True):
        m = _CALL.match(name)
        if name not in of and m and m.group(1) == op:
            waiting[op].append((int(m.group(2)), name))
    for op, names in waiting.items():
        if len(names) == len(unnamed[op]):
            of.update(zip((n for _, n in sorted(names)), unnamed[op], strict=True))
    return of


def _reader_scopes(
    g: dict[str, Any], readers: dict[str, list[dict[str, Any]]], depth: int = 3
) -> list[list[str]]:
    """Scopes of the nodes reading ``g``'s outputs, through readers without one (``depth``
    levels): ORT's ``gemm_input_reshape`` feeds its Gemm, an inlined function's inner node
    feeds the node writing the function's output."""
    found: list[list[str]] = []
    todo = [g]
    for _ in range(depth):
        nxt = []
        for node in todo:
            for o in node.get("outputs", []):
                for reader in readers.get(o, []):
                    own = scopes(reader["name"], reader["outputs"], reader.get("origins", []))
                    found += [s for s in own if s not in found]
                    if not own:
                        nxt.append(reader)
        if found or not nxt:
            break
        todo = nxt
    return found


def _label(op: str, domain: str, inputs: list[str]) -> str:
    """The op type as children name it: ``Conv(nchwc)`` for ORT's blocked-layout kernels,
    ``Conv(nchwc+Sum)`` for one that also adds a tensor (an Add ORT fused into it)."""
    if domain != NCHWC:
        return op
    if op == "Conv" and len(inputs) > 3 and inputs[3]:
        return "Conv(nchwc+Sum)"
    return f"{op}(nchwc)"


def profile_onnx(
    path: str | Path,
    x: Any,
    threads: int,
    lowered: pd.DataFrame,
    runs: int = 5,
    eager: pd.DataFrame | None = None,
    whole_us: float | None = None,
    warmup: int = 2,
    overhead_us: float | None = None,
) -> OrtProfile:
    """Per-op timings of the exported model at ``path`` (see the module docstring).

    ``lowered``: the model's node table lowered for onnxruntime; ``eager``: its eager table
    (the modules of the nodes a lowered row absorbed; without it each lowered row stands for
    its own node only); ``whole_us``: the un-profiled whole-model median, for ``coverage`` and
    the between row; ``x``: the input (a tensor or array); ``overhead_us``: what the profiler
    adds to each kernel time, subtracted from every node (default: :func:`measure_overhead`;
    ``raw_us`` keeps the times as profiled)."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    if overhead_us is None:
        overhead_us = measure_overhead(threads)
    ort, graph = run_profiled(path, x, threads, runs=runs, warmup=warmup)
    ort = ort.assign(
        raw_us=ort["latency_us"], latency_us=(ort["latency_us"] - overhead_us).clip(lower=0.0)
    )
    tables = _Tables.build(lowered, eager)
    mapped = _map(ort, tables, graph)
    rows = row_table(mapped, lowered)
    missing = [n for n in tables.op_rows if n not in set(rows["node"])]
    return OrtProfile(
        mapped, rows, runs=runs, whole_us=whole_us, missing=missing, overhead_us=overhead_us
    )


_OVERHEAD: dict[int, float] = {}


def measure_overhead(threads: int = 1, nodes: int = 64) -> float:
    """What ORT's profiler adds to one kernel's measured time on this machine, in
    microseconds (cached per process and thread count).

    A chain of ``nodes`` Relu nodes on 64 floats, whose work is a fraction of a microsecond:
    the per-node cost without the profiler (a chain of ``nodes + 1`` less a chain of 1, timed
    in loops, best of 5) against the mean profiled kernel time. The profiler reads clocks and
    memory and thread statistics inside each kernel's interval: ~2 us a node on the project's
    machine, where a small model's kernels take a few microseconds each."""
    if threads in _OVERHEAD:
        return _OVERHEAD[threads]
    import onnxruntime as ort

    from costmodel.bench.runtimes.onnxruntime import PROVIDERS, session_options

    x = np.zeros((1, 64), np.float32)
    with tempfile.TemporaryDirectory(prefix="costmodel-ort-") as tmp:
        short, long = (
            _relu_chain(Path(tmp) / "short.onnx", 1),
            _relu_chain(Path(tmp) / "long.onnx", nodes + 1),
        )

        def per_run_us(path: Path, calls: int = 500) -> float:
            session = ort.InferenceSession(str(path), session_options(threads), providers=PROVIDERS)
            feed = {session.get_inputs()[0].name: x}
            for _ in range(50):
                session.run(None, feed)
            best = float("inf")
            for _ in range(5):  # the minimum: other load only ever adds time
                t0 = time.perf_counter()
                for _ in range(calls):
                    session.run(None, feed)
                best = min(best, (time.perf_counter() - t0) / calls)
            return 1e6 * best

        true_us = max(per_run_us(long) - per_run_us(short), 0.0) / nodes
        profiled, _ = run_profiled(long, x, threads, runs=20, warmup=5)
    _OVERHEAD[threads] = max(float(profiled["latency_us"].mean()) - true_us, 0.0)
    return _OVERHEAD[threads]


def _relu_chain(path: Path, n: int) -> Path:
    import onnx
    from onnx import TensorProto, helper

    nodes = [
        helper.make_node("Relu", [f"t{i}"], [f"t{i + 1}"], name=f"/c{i}/Relu") for i in range(n)
    ]
    graph = helper.make_graph(
        nodes,
        "relu_chain",
        [helper.make_tensor_value_info("t0", TensorProto.FLOAT, [1, 64])],
        [helper.make_tensor_value_info(f"t{n}", TensorProto.FLOAT, [1, 64])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def node_tables(model: Any, shape: tuple[int, ...]) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """(lowered for onnxruntime, eager) node tables of ``model``
    (:func:`costmodel.bench.kernel_profile.node_tables`)."""
    return kernel_node_tables(model, shape, "onnxruntime")


__all__ = [
    "LAYOUT_OPS",
    "METHOD",
    "OP_CATEGORIES",
    "OrtProfile",
    "map_nodes",
    "node_tables",
    "profile_onnx",
    "run_profiled",
    "scopes",
]
