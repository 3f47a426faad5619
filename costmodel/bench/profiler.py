"""In-context per-op timing: the real eager forward pass, timed per module and under the profiler.

The model runs as the user runs it (eager, every nn.Module call included), in two kinds of run,
each ``repeats`` times. For the duration of each, global module forward hooks are registered;
they are removed in a ``finally`` and nothing is attached to the model.

1. Timed run: the hooks read a clock at the start and end of every module call. A leaf module
   (an fx ``call_module`` node) is timed this way, with only the hooks' own measured cost to
   subtract, however many ATen ops it dispatches (a grouped convolution without native kernels
   loops over its groups: thousands of profiler events, which would inflate it).
2. Profiled run: ``torch.profiler`` (CPU events); the hooks open a range per module call named
   by the module's path. Each event is mapped back to the node of the static analysis that
   issued it: everything inside a leaf module's range belongs to that node; the top-level ATen
   ops issued by a container's own code are aligned, in order, with the function/method nodes
   the analysis places in that container (each node's expected ATen names: its recorded ops and
   its target's name) and timed from the events. An ATen op's children (``slice``/``narrow``/
   ``empty``/``cat`` inside a grouped convolution without native kernels) are kept as the
   node's internal breakdown (self time per op name).

Time inside the forward pass but outside every node (module calls, Python between modules) is
the ``between`` row: the timed forward minus the node times, the hooks' cost subtracted. The
instruments' own cost is measured, not guessed (:func:`measure_overhead`): per hooked module
call, and per profiler event nested in another. Comparing the total with the un-profiled
latency (``coverage``) shows how well the correction holds.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import time
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
# ~1 us a range (record_function costs ~20 us from Python); private, hence the fallback
_FastRange = getattr(torch._C._profiler, "_RecordFunctionFast", record_function)
BETWEEN = "(between)"  # the node name of the between-ops row
UNMAPPED = "(unmapped)"  # ATen ops no node could be matched with (reported, never dropped)


@dataclass(frozen=True)
class Overhead:
    """What the instruments add, in microseconds: per profiler event nested in another, to its
    parent's duration (``nested_us``); per module call with the timing hooks, to the forward
    (``hook_us``) and to the call's own measured interval (``hook_inside_us``)."""

    nested_us: float
    hook_us: float
    hook_inside_us: float


@dataclass
class ProfileResult:
    """In-context timings of one model (all times in microseconds, medians over repeats).

    ``nodes``: one row per analysed op node that issued ATen ops (node, module, category,
    latency_us, n_events, children: dict of self time per ATen op name inside the node);
    ``between_us``: time in the forward pass outside every node; ``unmapped_us``: ATen ops no
    node matched; ``aten``: self time per ATen op name over the whole forward pass (profiled
    run); ``forward_us``: the timed forward, hook cost subtracted; ``raw_us``: the timed
    forward as measured; ``overhead``: the instrument costs that were subtracted.
    """

    nodes: pd.DataFrame
    between_us: float
    unmapped_us: float
    aten: pd.Series
    forward_us: float
    raw_us: float
    overhead: Overhead
    repeats: int
    unmapped_ops: list[str] = field(default_factory=list)

    @property
    def total_us(self) -> float:
        """Node times plus the between and unmapped rows."""
        return float(self.nodes["latency_us"].sum()) + self.between_us + self.unmapped_us


@contextlib.contextmanager
def _module_hooks(model: nn.Module, enter, leave) -> Iterator[None]:
    """Call ``enter(path)`` before and ``leave(path)`` after every module call of ``model``
    (global hooks for the duration, removed in a ``finally``; other modules are skipped)."""
    from torch.nn.modules.module import (
        register_module_forward_hook,
        register_module_forward_pre_hook,
    )

    paths = {id(m): p for p, m in model.named_modules()}

    def pre(module: nn.Module, args: Any) -> None:
        path = paths.get(id(module))
        if path is not None:
            enter(path)

    def post(module: nn.Module, args: Any, output: Any) -> None:
        path = paths.get(id(module))
        if path is not None:
            leave(path)

    handles = [register_module_forward_pre_hook(pre), register_module_forward_hook(post)]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


@contextlib.contextmanager
def module_ranges(model: nn.Module) -> Iterator[None]:
    """Open a profiler range named ``cm::<path>`` around every module call of ``model``."""
    open_ranges: list[Any] = []

    def enter(path: str) -> None:
        rf = _FastRange(_RANGE + path)
        rf.__enter__()
        open_ranges.append(rf)

    def leave(path: str) -> None:
        if open_ranges:
            open_ranges.pop().__exit__(None, None, None)

    try:
        with _module_hooks(model, enter, leave):
            yield
    finally:
        while open_ranges:  # a forward that raised leaves ranges open
            open_ranges.pop().__exit__(None, None, None)


@dataclass
class _Call:
    path: str
    start: float
    end: float = 0.0
    nested: int = 0  # module calls inside this one


def _timed(fn, model: nn.Module, repeats: int) -> list[tuple[float, list[_Call]]]:
    """Per repeat (one warm-up dropped): forward wall time (us) and every module call, in the
    order they finished, with start/end clock readings (us)."""
    clock = time.perf_counter
    stack: list[_Call] = []
    done: list[_Call] = []

    def enter(path: str) -> None:
        stack.append(_Call(path, 1e6 * clock()))

    def leave(path: str) -> None:
        end = 1e6 * clock()
        call = stack.pop()
        call.end = end
        if stack:
            stack[-1].nested += call.nested + 1
        done.append(call)

    runs = []
    with _module_hooks(model, enter, leave):
        for _ in range(repeats + 1):
            done = []
            t0 = clock()
            fn()
            runs.append((1e6 * (clock() - t0), done))
    return runs[1:]


class _Ev:
    """One profiler event with its nesting (built from the raw Kineto events: building
    torch's FunctionEvent tree takes ~1 ms per thousand events, too slow for per-group loops)."""

    __slots__ = ("name", "start", "end", "children", "parent")

    def __init__(self, name: str, start: float, end: float) -> None:
        self.name, self.start, self.end = name, start, end
        self.children: list[_Ev] = []
        self.parent: _Ev | None = None


def _tree(prof: Any) -> list[_Ev]:
    """The root events of the thread that ran the forward passes, with their children."""
    raw = [
        (e.name(), e.start_ns() / 1e3, e.end_ns() / 1e3, e.start_thread_id())
        for e in prof.profiler.kineto_results.events()
    ]
    if not raw:
        return []
    tids = [t for name, _, _, t in raw if name == _REPEAT] or [raw[0][3]]
    evs = [_Ev(n, s, e) for n, s, e, t in raw if t == tids[0]]
    evs.sort(key=lambda e: (e.start, -e.end))
    roots: list[_Ev] = []
    stack: list[_Ev] = []
    for e in evs:
        while stack and stack[-1].end <= e.start:
            stack.pop()
        if stack:
            e.parent = stack[-1]
            stack[-1].children.append(e)
        else:
            roots.append(e)
        stack.append(e)
    return roots


def _cpu_profile() -> profile:
    """``torch.profiler.profile`` of CPU events, without Kineto's log lines.

    Kineto prints a ``USDT ... profiler_start/stop`` line on stderr per profiled run; its
    threshold (``KINETO_LOG_LEVEL``, read when the profiler first starts) must be above its
    USDT level (5) to hide them, which hides its errors too. A value the user set is kept."""
    os.environ.setdefault("KINETO_LOG_LEVEL", "6")
    return profile(activities=[ProfilerActivity.CPU])


def _profiled(fn, repeats: int, ranges: contextlib.AbstractContextManager) -> list[_Ev]:
    """The ``costmodel::repeat`` range of each repeat (the caller has warmed the model up)."""
    with ranges, _cpu_profile() as prof:
        for _ in range(repeats):
            with record_function(_REPEAT):
                fn()
    return [e for e in _tree(prof) if e.name == _REPEAT]


def _dur(e: _Ev) -> float:
    return e.end - e.start


_OVERHEAD: dict[int, Overhead] = {}


def _per_call_us(fn, calls: int, trials: int = 5) -> float:
    best = float("inf")
    for _ in range(trials):  # the minimum: other load on the machine only ever adds time
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - t0) / calls)
    return 1e6 * best


def _probe_ops() -> dict[str, Any]:
    """Small ops of the kinds models are made of: one dispatches one event, others nest."""
    x, w = torch.randn(1, 4, 8, 8), torch.randn(4, 4, 3, 3)
    mean, var = torch.zeros(4), torch.ones(4)
    return {
        "conv2d": lambda: torch.nn.functional.conv2d(x, w, padding=1),
        "batch_norm": lambda: torch.nn.functional.batch_norm(x, mean, var),
        "contiguous": lambda: x.transpose(1, 2).contiguous(),
        "add": lambda: x + x,
        "view": lambda: x.view(-1),
    }


def measure_overhead(calls: int = 150) -> Overhead:
    """The instruments' cost on this machine, measured (and cached per process and threads).

    ``nested_us``: each probe op (:func:`_probe_ops`) is timed in a loop without the profiler,
    then profiled; how much longer its top-level event lasts than the un-profiled call, per
    event nested in it (median over the probes). ``hook_us``, ``hook_inside_us``: a chain of
    ``nn.Identity`` modules (which do nothing) timed without and with the timing hooks.
    """
    key = torch.get_num_threads()
    if key in _OVERHEAD:
        return _OVERHEAD[key]
    nested = []
    chain = nn.Sequential(*[nn.Identity() for _ in range(calls)])
    x = torch.zeros(1)
    with torch.inference_mode():
        for fn in _probe_ops().values():
            _per_call_us(fn, calls, trials=1)  # warm-up
            u = _per_call_us(fn, calls)
            with _cpu_profile() as prof:
                _per_call_us(fn, calls, trials=2)
            tops = _tree(prof)
            per_call = sum(1 + sum(1 for _ in _subtree(e)) for e in tops) / max(len(tops), 1)
            if per_call > 1.5:
                top = statistics.median(_dur(e) for e in tops)
                nested.append((top - u) / (per_call - 1))
        plain = _per_call_us(lambda: chain(x), 3)
        runs = [_timed(lambda: chain(x), chain, 1)[0] for _ in range(5)]
    best = min(runs, key=lambda r: r[0])
    inside = statistics.median(c.end - c.start for c in best[1] if c.path != "")
    result = Overhead(
        nested_us=max(0.0, statistics.median(nested)),
        hook_us=max(0.0, (best[0] - plain) / (calls + 1)),
        hook_inside_us=max(0.0, inside),
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
            (j for j in range(pos, len(nodes)) if j not in matched and name in nodes[j][1]),
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
    for c in e.children:
        yield c
        yield from _subtree(c)


class _Repeat:
    """One repeat's events mapped to nodes (see the module docstring)."""

    def __init__(self, top: Any, plan: _Plan, overhead: Overhead) -> None:
        self.node_us: dict[str, float] = defaultdict(float)
        self.node_events: dict[str, int] = defaultdict(int)
        self.children: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        self.aten: dict[str, float] = defaultdict(float)
        self.unmapped_us = 0.0
        self.unmapped: list[str] = []
        self.n_events = 0
        self.nested_us = overhead.nested_us
        leaf_calls: dict[str, int] = defaultdict(int)
        scope_events: dict[str, list[Any]] = defaultdict(list)
        self._walk(top, "", plan, leaf_calls, scope_events)
        for path, evs in scope_events.items():
            nodes = plan.scope_nodes.get(path, [])
            owners = _align(evs, nodes) if nodes else [None] * len(evs)
            for e, owner in zip(evs, owners, strict=True):
                self._assign(owner, e)

    def _walk(self, e, scope, plan, leaf_calls, scope_events) -> None:
        for c in e.children:
            if c.name.startswith(_RANGE):
                path = c.name[len(_RANGE) :]
                calls = plan.leaf_nodes.get(path)
                if calls is not None:  # a leaf module: everything inside is its node's
                    i = leaf_calls[path]
                    leaf_calls[path] += 1
                    node = calls[min(i, len(calls) - 1)]
                    for d in _subtree(c):
                        if not d.name.startswith(_RANGE) and not _is_aten(d.parent):
                            self._assign(node, d)
                else:
                    self._walk(c, path, plan, leaf_calls, scope_events)
            else:
                scope_events[scope].append(c)

    def _assign(self, node: str | None, e: Any) -> None:
        """Add a top-level ATen event (and its subtree) to ``node`` (None: unmapped)."""
        events = [e, *_subtree(e)]
        self.n_events += len(events)
        corrected = _dur(e) - (len(events) - 1) * self.nested_us
        selfs: dict[str, float] = defaultdict(float)
        for d in events:
            own = _dur(d) - sum(_dur(c) + self.nested_us for c in d.children)
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


def _leaf_times(calls: list[_Call], plan: _Plan, overhead: Overhead) -> dict[str, float]:
    """Leaf nodes' times from one timed run: each call's interval less the hooks' cost (its
    own, and the full cost of every module call nested in it)."""
    times: dict[str, float] = defaultdict(float)
    seen: dict[str, int] = defaultdict(int)
    inside_until = float("-inf")  # a module called inside a leaf is part of that leaf
    for c in sorted(calls, key=lambda c: c.start):
        nodes = plan.leaf_nodes.get(c.path)
        if nodes is None or c.start < inside_until:
            continue
        inside_until = c.end
        node = nodes[min(seen[c.path], len(nodes) - 1)]
        seen[c.path] += 1
        took = c.end - c.start - overhead.hook_inside_us - c.nested * overhead.hook_us
        times[node] += max(took, 0.0)
    return times


def profile_model(
    model: nn.Module,
    example_inputs: tuple[Any, ...],
    analysis: Any = None,
    repeats: int = 7,
    overhead: Overhead | None = None,
    profiled_repeats: int = 2,
) -> ProfileResult:
    """In-context timing of every node of ``model`` (see the module docstring): ``repeats``
    timed runs, ``profiled_repeats`` profiled runs (medians over each).

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

    def forward() -> None:
        model(*example_inputs)

    with torch.inference_mode():
        timed = _timed(forward, model, repeats)
        tops = _profiled(forward, profiled_repeats, module_ranges(model))
    reps = [_Repeat(t, plan, overhead) for t in tops]
    leaf = [_leaf_times(calls, plan, overhead) for _, calls in timed]
    n_calls = len(timed[0][1])
    is_leaf = {n for names in plan.leaf_nodes.values() for n in names}
    rows = []
    for n in plan.info.index:
        source = leaf if n in is_leaf else [r.node_us for r in reps]
        if not any(n in r for r in source):
            continue
        lat = max(statistics.median(r.get(n, 0.0) for r in source), 0.0)
        parts: dict[str, float] = defaultdict(float)
        for r in reps:
            for k, v in r.children.get(n, {}).items():
                parts[k] += v / len(reps)
        rows.append(
            {
                "node": n,
                "module": plan.info.at[n, "module"],
                "category": plan.info.at[n, "category"],
                "latency_us": lat,
                "n_events": reps[0].node_events.get(n, 0),
                "children": dict(parts),
            }
        )
    table = pd.DataFrame(
        rows, columns=["node", "module", "category", "latency_us", "n_events", "children"]
    )
    unmapped = statistics.median(r.unmapped_us for r in reps)
    functions = float(table.loc[~table["node"].isin(is_leaf), "latency_us"].sum())
    # per timed run, so that run-to-run drift does not land in the between row
    forward_us = [wall - n_calls * overhead.hook_us for wall, _ in timed]
    between_us = [
        f - sum(times.values()) - functions - unmapped
        for f, times in zip(forward_us, leaf, strict=True)
    ]
    aten_names = sorted({k for r in reps for k in r.aten})
    aten = pd.Series(
        {k: statistics.median(r.aten.get(k, 0.0) for r in reps) for k in aten_names},
        dtype=float,
        name="self_us",
    ).sort_values(ascending=False)
    return ProfileResult(
        nodes=table,
        between_us=statistics.median(between_us),
        unmapped_us=unmapped,
        aten=aten,
        forward_us=statistics.median(forward_us),
        raw_us=statistics.median(w for w, _ in timed),
        overhead=overhead,
        repeats=len(reps),
        unmapped_ops=sorted(set(reps[0].unmapped)) if reps else [],
    )


def unprofiled_us(model: nn.Module, example_inputs: tuple[Any, ...]) -> float:
    """Median whole-model latency without the profiler, in microseconds (for coverage)."""
    from costmodel.bench.per_op import time_call

    with torch.inference_mode():
        return 1e6 * time_call(lambda: model(*example_inputs), min_block_s=0.0, blocks=7)
