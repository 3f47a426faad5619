"""In-context per-op timing: the real eager forward pass under torch.profiler, mapped to fx nodes.

The model runs as the user runs it (eager, every nn.Module call included), ``repeats`` times
under ``torch.profiler`` (CPU events). For the duration, global module forward hooks open a
``record_function`` range per module call named by the module's path; they are removed in a
``finally`` and nothing is attached to the model. Each profiler event is then mapped back to the
node of the static analysis that issued it:

- everything inside the range of a leaf module (an fx ``call_module`` node) belongs to that node;
- the top-level ATen ops issued directly by a container's own code are aligned, in order, with
  the function/method nodes the analysis places in that container (each node's expected ATen
  names: its recorded ops and the name of its target);
- an ATen op's children (``slice``/``narrow``/``empty``/``cat`` inside a grouped convolution
  without native kernels) are kept as the node's internal breakdown (self time per op name).

Time inside the forward pass but outside every node (module calls, Python between modules) is
the ``between`` row: measured as the profiled forward minus the node times, minus the
profiler's own cost. That cost is measured, not guessed (:func:`measure_overhead`): a fixed cost
per profiler event and per hooked module call; it is subtracted from each node for every event
nested inside it, and from the forward as a whole. Comparing the corrected total with the
un-profiled latency (``coverage``) shows how well the correction holds.
"""

from __future__ import annotations

import contextlib
import statistics
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import torch
import torch.nn as nn
from torch.profiler import ProfilerActivity, profile, record_function

_RANGE = "cm::"  # prefix of the module ranges the hooks open
_REPEAT = "costmodel::repeat"
_FastRange = torch._C._profiler._RecordFunctionFast
BETWEEN = "(between)"  # the node name of the between-ops row
UNMAPPED = "(unmapped)"  # ATen ops no node could be matched with (reported, never dropped)


@dataclass(frozen=True)
class Overhead:
    """What profiling adds, in microseconds: per ATen event (to its parent's duration and to
    the forward pass) and per hooked module call (hooks + range)."""

    event_us: float
    module_us: float


@dataclass
class ProfileResult:
    """In-context timings of one model (all times in microseconds, medians over repeats).

    ``nodes``: one row per analysed op node that issued ATen ops (node, module, category,
    latency_us, n_events, children: dict of self time per ATen op name inside the node);
    ``between_us``: time in the forward pass outside every node; ``unmapped_us``: ATen ops no
    node matched; ``aten``: self time per ATen op name over the whole forward pass;
    ``profiled_us``: the profiled forward, corrected for profiling overhead; ``raw_us``: the
    profiled forward as measured; ``overhead``: the per-event costs that were subtracted.
    """

    nodes: pd.DataFrame
    between_us: float
    unmapped_us: float
    aten: pd.Series
    profiled_us: float
    raw_us: float
    overhead: Overhead
    repeats: int
    unmapped_ops: list[str] = field(default_factory=list)

    @property
    def total_us(self) -> float:
        """Node times plus the between and unmapped rows."""
        return float(self.nodes["latency_us"].sum()) + self.between_us + self.unmapped_us


@contextlib.contextmanager
def module_ranges(model: nn.Module) -> Iterator[None]:
    """Open a profiler range named ``cm::<path>`` around every module call of ``model``.

    Global hooks, registered for the duration only and removed in a ``finally``: the model
    keeps no hook, attribute or state. Modules outside ``model`` get no range.
    """
    paths = {id(m): p for p, m in model.named_modules()}
    open_ranges: list[Any] = []

    def pre(module: nn.Module, args: Any) -> None:
        path = paths.get(id(module))
        rf = None
        if path is not None:
            rf = _FastRange(_RANGE + path)  # ~1 us; record_function costs ~20 us in Python
            rf.__enter__()
        open_ranges.append(rf)

    def post(module: nn.Module, args: Any, output: Any) -> None:
        rf = open_ranges.pop() if open_ranges else None
        if rf is not None:
            rf.__exit__(None, None, None)

    from torch.nn.modules.module import (
        register_module_forward_hook,
        register_module_forward_pre_hook,
    )

    handles = [register_module_forward_pre_hook(pre), register_module_forward_hook(post)]
    try:
        yield
    finally:
        for h in handles:
            h.remove()
        while open_ranges:  # a forward that raised leaves ranges open
            rf = open_ranges.pop()
            if rf is not None:
                rf.__exit__(None, None, None)


def _profiled(fn, repeats: int, ranges: contextlib.AbstractContextManager) -> list[Any]:
    """The events of each repeat's ``costmodel::repeat`` range (one warm-up repeat dropped)."""
    with ranges, profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        for _ in range(repeats + 1):
            with record_function(_REPEAT):
                fn()
    tops = [e for e in prof.events() if e.name == _REPEAT and e.cpu_parent is None]
    tops.sort(key=lambda e: e.time_range.start)
    return tops[1:]


def _dur(e: Any) -> float:
    return float(e.time_range.elapsed_us())


_OVERHEAD: dict[tuple, Overhead] = {}


def measure_overhead(calls: int = 2000) -> Overhead:
    """Profiling's cost on this machine, measured (and cached per process and thread count).

    Per event: a loop of ``calls`` cheap ATen ops (``view``) timed with and without the
    profiler. Per module call: a chain of ``nn.Identity`` modules timed with and without the
    profiler and the module ranges (the hooks' own Python work included).
    """
    key = (torch.get_num_threads(), calls)
    if key in _OVERHEAD:
        return _OVERHEAD[key]
    x = torch.zeros(4)

    def views() -> None:
        for _ in range(calls):
            x.view(-1)

    chain = nn.Sequential(*[nn.Identity() for _ in range(calls // 10)])

    def modules() -> None:
        chain(x)

    def unprofiled(fn) -> float:
        from costmodel.bench.per_op import time_call

        return min(1e6 * time_call(fn, min_block_s=0.0, blocks=3, warmup=1) for _ in range(5))

    def profiled(fn, ranges) -> float:
        return min(_dur(r) for r in _profiled(fn, 7, ranges))

    # Minima: other load on the machine only ever adds time, to either side.
    with torch.inference_mode():
        u_ev = unprofiled(views)
        p_ev = profiled(views, contextlib.nullcontext())
        u_mod = unprofiled(modules)
        p_mod = profiled(modules, module_ranges(chain))
    n_mod = calls // 10 + 1  # the Sequential itself is a module call too
    result = Overhead(
        event_us=max(0.0, (p_ev - u_ev) / calls), module_us=max(0.0, (p_mod - u_mod) / n_mod)
    )
    _OVERHEAD[key] = result
    return result


def _base(name: str) -> str:
    """``aten::add_`` / ``aten.add.Tensor`` / ``_operator.iadd`` -> ``add``."""
    name = name.split("::")[-1]
    if name.startswith("aten."):
        name = name.split(".")[1]
    else:
        name = name.split(".")[-1]
    name = {"iadd": "add", "imul": "mul", "truediv": "div", "floordiv": "floor_divide"}.get(
        name, name
    )
    return name.strip("_")


def _expected(row: pd.Series) -> set[str]:
    ops = row["aten_ops"] if isinstance(row["aten_ops"], str) else ""
    names = {_base(o) for o in ops.split(",") if o}
    names.add(_base(str(row["target"])))
    return names


@dataclass
class _Plan:
    """Where each node's events come from: leaf module ranges, or a container's own ops."""

    leaf_nodes: dict[str, list[str]]  # module path -> node names, one per call, in order
    scope_nodes: dict[str, list[tuple[str, set[str]]]]  # container path -> (node, names)
    info: pd.DataFrame  # node name -> module, category


def _plan(nodes: pd.DataFrame) -> _Plan:
    ops = nodes[nodes["op"].isin(["call_module", "call_function", "call_method"])]
    leaf: dict[str, list[str]] = defaultdict(list)
    scope: dict[str, list[tuple[str, set[str]]]] = defaultdict(list)
    for _, r in ops.iterrows():
        if r["op"] == "call_module":
            leaf[r["module"]].append(r["name"])
        else:
            scope[r["module"]].append((r["name"], _expected(r)))
    return _Plan(dict(leaf), dict(scope), ops.set_index("name")[["module", "category"]])


def _align(events: list[Any], nodes: list[tuple[str, set[str]]]) -> list[str | None]:
    """The node of each top-level event of one container, in order.

    Walks both sequences forward: an event goes to the first not-yet-matched node at or after
    the current one whose expected ATen names include it; an event that matches none stays with
    the current node (extra work of the op that issued it), or is unmapped before any match.
    """
    owner: list[str | None] = []
    pos, matched = 0, set()
    for e in events:
        name = _base(e.name)
        hit = next(
            (
                j
                for j in range(pos, len(nodes))
                if j not in matched and name in nodes[j][1]
            ),
            None,
        )
        if hit is not None:
            pos = hit
            matched.add(hit)
            owner.append(nodes[hit][0])
        else:
            owner.append(nodes[pos][0] if matched and pos < len(nodes) else None)
    return owner


def _subtree(e: Any) -> Iterator[Any]:
    for c in e.cpu_children:
        yield c
        yield from _subtree(c)


class _Repeat:
    """One repeat's events mapped to nodes (see the module docstring)."""

    def __init__(self, top: Any, plan: _Plan, event_us: float, module_us: float) -> None:
        self.node_us: dict[str, float] = defaultdict(float)
        self.node_events: dict[str, int] = defaultdict(int)
        self.children: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        self.aten: dict[str, float] = defaultdict(float)
        self.unmapped_us = 0.0
        self.unmapped: list[str] = []
        self.n_events = self.n_modules = 0
        self.event_us = event_us
        leaf_calls: dict[str, int] = defaultdict(int)
        scope_events: dict[str, list[Any]] = defaultdict(list)
        self._walk(top, "", plan, leaf_calls, scope_events)
        for path, evs in scope_events.items():
            nodes = plan.scope_nodes.get(path, [])
            owners = _align(evs, nodes) if nodes else [None] * len(evs)
            for e, owner in zip(evs, owners, strict=True):
                self._assign(owner, e)
        self.raw_us = _dur(top)
        self.profiled_us = self.raw_us - self.n_events * event_us - self.n_modules * module_us
        self.between_us = self.profiled_us - sum(self.node_us.values()) - self.unmapped_us

    def _walk(self, e, scope, plan, leaf_calls, scope_events) -> None:
        for c in e.cpu_children:
            if c.name.startswith(_RANGE):
                path = c.name[len(_RANGE) :]
                self.n_modules += 1
                calls = plan.leaf_nodes.get(path)
                if calls is not None:  # a leaf module: everything inside is its node's
                    i = leaf_calls[path]
                    leaf_calls[path] += 1
                    node = calls[min(i, len(calls) - 1)]
                    for d in _subtree(c):
                        if d.name.startswith(_RANGE):
                            self.n_modules += 1
                        elif d.cpu_parent is None or not _is_aten(d.cpu_parent):
                            self._assign(node, d)
                else:
                    self._walk(c, path, plan, leaf_calls, scope_events)
            else:
                scope_events[scope].append(c)

    def _assign(self, node: str | None, e: Any) -> None:
        """Add a top-level ATen event (and its subtree) to ``node`` (None: unmapped)."""
        events = [e, *_subtree(e)]
        self.n_events += len(events)
        corrected = _dur(e) - (len(events) - 1) * self.event_us
        selfs: dict[str, float] = defaultdict(float)
        for d in events:
            own = _dur(d) - sum(_dur(c) + self.event_us for c in d.cpu_children)
            selfs[d.name.removeprefix("aten::")] += max(own, 0.0)
        for k, v in selfs.items():
            self.aten[k] += v
        if node is None:
            self.unmapped_us += corrected
            self.unmapped.append(e.name)
            return
        self.node_us[node] += corrected
        self.node_events[node] += len(events)
        for k, v in selfs.items():
            self.children[node][k] += v


def _is_aten(e: Any) -> bool:
    return not e.name.startswith(_RANGE) and e.name != _REPEAT


def children_text(parts: dict[str, float], min_share: float = 0.02) -> str:
    """A node's breakdown, compact for ops.csv: ``name=us;name=us`` (largest first, parts under
    ``min_share`` of the node dropped); empty when the node is a single ATen op."""
    if len(parts) < 2:
        return ""
    total = sum(parts.values())
    keep = sorted(((v, k) for k, v in parts.items() if v >= min_share * total), reverse=True)
    return ";".join(f"{k}={v:.1f}" for v, k in keep)


def profile_model(
    model: nn.Module,
    example_inputs: tuple[Any, ...],
    analysis: Any = None,
    repeats: int = 5,
    overhead: Overhead | None = None,
) -> ProfileResult:
    """In-context timing of every node of ``model`` (see the module docstring).

    ``analysis`` is the static analysis of ``model`` on these inputs (computed when None). A
    model captured at dispatch level (no fx graph) yields no node rows: all its ops are
    ``unmapped`` (the per-ATen-op breakdown still holds).
    """
    if analysis is None:
        from costmodel.analysis import analyze

        analysis = analyze(model, example_inputs=example_inputs)
    nodes = analysis.nodes if analysis.method == "fx" else analysis.nodes.iloc[0:0]
    plan = _plan(nodes)
    overhead = overhead or measure_overhead()
    with torch.inference_mode():
        tops = _profiled(lambda: model(*example_inputs), repeats, module_ranges(model))
    reps = [_Repeat(t, plan, overhead.event_us, overhead.module_us) for t in tops]
    names = [n for n in plan.info.index if any(n in r.node_us for r in reps)]
    rows = []
    for n in names:
        lat = statistics.median(r.node_us.get(n, 0.0) for r in reps)
        parts = defaultdict(float)
        for r in reps:
            for k, v in r.children.get(n, {}).items():
                parts[k] += v / len(reps)
        rows.append(
            {
                "node": n,
                "module": plan.info.at[n, "module"],
                "category": plan.info.at[n, "category"],
                "latency_us": max(lat, 0.0),
                "n_events": reps[0].node_events.get(n, 0),
                "children": dict(parts),
            }
        )
    aten_names = sorted({k for r in reps for k in r.aten})
    aten = pd.Series(
        {k: statistics.median(r.aten.get(k, 0.0) for r in reps) for k in aten_names},
        dtype=float,
        name="self_us",
    ).sort_values(ascending=False)
    return ProfileResult(
        nodes=pd.DataFrame(
            rows, columns=["node", "module", "category", "latency_us", "n_events", "children"]
        ),
        between_us=statistics.median(r.between_us for r in reps),
        unmapped_us=statistics.median(r.unmapped_us for r in reps),
        aten=aten,
        profiled_us=statistics.median(r.profiled_us for r in reps),
        raw_us=statistics.median(r.raw_us for r in reps),
        overhead=overhead,
        repeats=len(reps),
        unmapped_ops=sorted(set(reps[0].unmapped)) if reps else [],
    )


def unprofiled_us(model: nn.Module, example_inputs: tuple[Any, ...]) -> float:
    """Median whole-model latency without the profiler, in microseconds (for coverage)."""
    from costmodel.bench.per_op import time_call

    with torch.inference_mode():
        return 1e6 * time_call(lambda: model(*example_inputs), min_block_s=0.0, blocks=7)

