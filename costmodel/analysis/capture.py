"""Execute a traced graph on meta tensors and build one record per node.

Shapes are propagated by running every node on meta tensors: no activation is computed or
allocated. Each node's ATen ops are recorded and costed (:mod:`costmodel.analysis.recorder`); a
node's counts are the sum over its ops and its category is the highest-priority category among
them. Deep networks repeat identical blocks, so a node whose module configuration and input
shapes were already seen reuses that result instead of running again.
"""

from __future__ import annotations

import contextlib
import operator
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.fx as fx
import torch.nn as nn
from torch.utils._python_dispatch import _disable_current_modes

from costmodel.analysis import blocks as blocks_
from costmodel.analysis.errors import AnalysisError
from costmodel.analysis.recorder import META, OpEvent, OpRecorder, _map, _tensors
from costmodel.analysis.structure import structural_key
from costmodel.analysis.taxonomy import CATEGORIES, COPY_CATEGORIES

_PRIORITY = {c: i for i, c in enumerate(CATEGORIES)}
_COUNT_FIELDS = (
    "macs",
    "flops",
    "act_elems_read",
    "param_elems_read",
    "elems_written",
    "act_bytes_read",
    "param_bytes_read",
    "bytes_written",
)
# Modules and functions whose intent the ATen decomposition hides: the node keeps the category its
# source names. Adaptive pooling to 1x1 is dispatched as aten.mean; on meta tensors
# scaled_dot_product_attention decomposes into its math (bmm, softmax, bmm), with the same MACs.
CATEGORY_BY_TARGET: dict[Any, str] = {
    torch.nn.functional.scaled_dot_product_attention: "attention",
    nn.AdaptiveAvgPool2d: "pooling",
    nn.AdaptiveMaxPool2d: "pooling",
    nn.AdaptiveAvgPool1d: "pooling",
    nn.AdaptiveAvgPool3d: "pooling",
    nn.AdaptiveMaxPool1d: "pooling",
    nn.AdaptiveMaxPool3d: "pooling",
    torch.nn.functional.adaptive_avg_pool1d: "pooling",
    torch.nn.functional.adaptive_avg_pool2d: "pooling",
    torch.nn.functional.adaptive_avg_pool3d: "pooling",
    torch.nn.functional.adaptive_max_pool1d: "pooling",
    torch.nn.functional.adaptive_max_pool2d: "pooling",
    torch.nn.functional.adaptive_max_pool3d: "pooling",
}


@dataclass
class NodeRecord:
    """One row of the per-node table (see :class:`costmodel.analysis.result.Analysis`)."""

    name: str
    op: str
    target: str
    module: str
    module_type: str
    category: str = "free"
    macs: int = 0
    flops: int = 0
    act_elems_read: int = 0
    param_elems_read: int = 0
    elems_written: int = 0
    act_bytes_read: int = 0
    param_bytes_read: int = 0
    bytes_written: int = 0
    params: int = 0
    input_shapes: list = field(default_factory=list)
    output_shapes: list = field(default_factory=list)
    dtype: str = ""
    aten_ops: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    is_copy: bool = False
    attrs: dict[str, Any] = field(default_factory=dict)
    inputs: list[str] = field(default_factory=list)
    pattern: str = ""
    zero_output: bool = False  # multiplies by a literal 0: a runtime may fold it to a constant
    sources: list[str] = field(default_factory=list)  # eager nodes a lowered row stands for


def tensor_meta(value: Any) -> tuple[list, str]:
    """(shapes, dtype) of the tensors in a value (a tensor, tuple of tensors, or other)."""
    tensors = _tensors(value)
    shapes = [tuple(int(d) for d in t.shape) for t in tensors]
    return shapes, (str(tensors[0].dtype).replace("torch.", "") if tensors else "")


def apply_events(rec: NodeRecord, events: list[OpEvent]) -> None:
    """Fold a node's recorded ATen events into its record."""
    best = None
    for ev in events:
        rec.aten_ops.append(ev.op)
        for f in _COUNT_FIELDS[2:]:  # what an op with no formula moves is still known
            setattr(rec, f, getattr(rec, f) + getattr(ev, f))
        if ev.cost is None:
            rec.unknown.append(f"{ev.op} ({ev.error})")
            best = "unknown"
            continue
        rec.macs += ev.cost.macs
        rec.flops += ev.cost.flops
        if ev.cost.category in COPY_CATEGORIES:
            rec.is_copy = True
        cat = ev.cost.category
        if best is None or _PRIORITY[cat] < _PRIORITY[best]:
            best = cat
            if ev.cost.attrs:
                rec.attrs = dict(ev.cost.attrs)
    if best is not None:
        rec.category = best


def _no_event_category(node_target: Any, value: Any) -> str:
    """Category of a node that dispatched no ATen op at all."""
    if not _tensors(value):
        return "shape"  # Python-level size/shape arithmetic
    if node_target is operator.getitem:
        return "split"  # picking one output of split/chunk (a Python tuple index)
    return "free"  # identity, dropout in eval mode


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[None]:
    """Evaluation mode for the duration; afterwards every submodule is exactly as it was.

    Training flags are restored, and so is each module's attribute dictionary and its
    parameter, buffer and submodule tables: whatever tracing or a forward run on meta tensors
    attached (torch.fx's ``_tensor_constantN``) or reassigned (``self.state = x.mean()``) is put
    back. In-place updates never reach real tensors: the recorder runs them on meta twins.
    """
    saved = [
        (m, dict(vars(m)), dict(m._parameters), dict(m._buffers), dict(m._modules))
        for m in model.modules()
    ]
    try:
        model.eval()
        yield
    finally:
        for m, attrs, params, buffers, modules in saved:
            tables = ((m._parameters, params), (m._buffers, buffers), (m._modules, modules))
            for table, old in tables:
                table.clear()
                table.update(old)
            state = vars(m)
            for k in [k for k in state if k not in attrs]:
                del state[k]
            state.update(attrs)


def make_meta_inputs(example_inputs: tuple[Any, ...]) -> tuple[Any, ...]:
    """Meta twins of the example inputs (tensors only; other values pass through)."""
    return tuple(
        torch.empty_strided(x.shape, x.stride(), dtype=x.dtype, device=META)
        if isinstance(x, torch.Tensor)
        else x
        for x in example_inputs
    )


@dataclass(frozen=True)
class _TensorSpec:
    shape: tuple[int, ...]
    stride: tuple[int, ...]
    dtype: torch.dtype

    def make(self) -> torch.Tensor:
        return torch.empty_strided(self.shape, self.stride, dtype=self.dtype, device=META)


def _spec(x: Any) -> Any:
    if isinstance(x, torch.Tensor):
        return _TensorSpec(tuple(x.shape), tuple(x.stride()), x.dtype)
    return x


def _make(x: Any) -> Any:
    return x.make() if isinstance(x, _TensorSpec) else x


def _module_signature(m: nn.Module, keys: dict[int, str] | None = None) -> tuple:
    """What determines a module's work besides its inputs: its full structural key (class,
    every configuration attribute, parameter shapes; see
    :func:`costmodel.analysis.structure.structural_key`).

    A module defined outside torch.nn (a user's leaf) may read state the key cannot see, so it is
    keyed by identity: two instances never share a result.
    """
    if not type(m).__module__.startswith("torch.nn."):
        return ("instance", id(m))
    key = keys.get(id(m)) if keys else None
    return ("module", key or structural_key(m))


# Node results keyed by what fully determines them (torch.nn module settings and parameter
# shapes, or function and argument shapes) are shared by every analysis in the process: the same
# convolution or BN configuration recurs across models (a NAS search space, a width sweep).
# Results of a user's own leaf modules are keyed by instance and stay within one analysis.
_SHARED_CACHE: dict[Any, tuple[Any, list[OpEvent]]] = {}
_SHARED_CACHE_LIMIT = 200_000


def _cache_for(key: Any, local: dict) -> dict:
    if key is not None and isinstance(key[0], tuple) and key[0][:1] == ("instance",):
        return local
    return _SHARED_CACHE


class _GraphRunner(fx.Interpreter):
    """Runs a traced graph node by node under the recorder, keeping one record per node."""

    def __init__(
        self,
        root: nn.Module,
        graph: fx.Graph,
        recorder: OpRecorder,
        blocks: dict[str, blocks_.Fragment] | None = None,
        keys: dict[int, str] | None = None,
    ) -> None:
        super().__init__(root, garbage_collect_values=True, graph=graph)
        self.extra_traceback = False  # our errors already name the node; keep them one line
        self.recorder = recorder
        self.blocks = blocks or {}
        self.keys = keys if keys is not None else {}
        self.records: list[NodeRecord] = []
        self.candidates: list[tuple[bool, str]] = []  # fx's name candidate of each record
        self.alias: dict[str, str] = {}  # block node -> the spliced record that is its output
        self.metas: dict[str, list] = {}
        self.attr_params: dict[str, int] = {}
        self.local_cache: dict[Any, tuple[Any, list[OpEvent]]] = {}
        self._signatures: dict[str, tuple] = {}
        self._param_counts: dict[str, int] = {}

    def param_count(self, target: str) -> int:
        if target not in self._param_counts:
            m = self.submodules[target]
            self._param_counts[target] = sum(p.numel() for p in m.parameters())
        return self._param_counts[target]

    def signature(self, target: str) -> tuple:
        if target not in self._signatures:
            self._signatures[target] = _module_signature(self.submodules[target], self.keys)
        return self._signatures[target]

    def _cache_key(self, n: fx.Node, args: Any, kwargs: Any, target: Any = None) -> Any:
        """A hashable key for a node's work, or None when the node must run for real."""
        if n.op not in ("call_module", "call_function", "call_method"):
            return None
        leaves: list[Any] = []

        def leaf(x: Any) -> None:
            if isinstance(x, torch.Tensor):
                if x.device != META or self.recorder.is_param(x):
                    raise LookupError  # parameters passed around as values: run it
                leaves.append((tuple(x.shape), x.stride(), x.dtype))
            elif x is None or isinstance(x, (int, float, bool, str, torch.dtype)):
                leaves.append(x)
            else:
                raise LookupError

        try:
            _map(leaf, (args, kwargs))
        except LookupError:
            return None
        if target is None:
            target = self.signature(n.target) if n.op == "call_module" else (n.op, n.target)
        return (target, tuple(leaves), len(args), tuple(kwargs))

    def run_block(self, n: fx.Node) -> Any:
        """Run a block node: reuse the records of an equal block on equal inputs, or run its
        fragment; either way its records join this graph's under the block's path."""
        fragment, module = self.blocks[n.target], self.submodules[n.target]
        with self._set_current_node(n):
            args, kwargs = self.fetch_args_kwargs_from_env(n)
        key = self._cache_key(n, args, kwargs, target=("block", fragment.key))
        hit = blocks_._recall(blocks_._RUNS, key) if key is not None else blocks_._MISSING
        if hit is not blocks_._MISSING:
            with _disable_current_modes():  # rebuild outputs without the recorder
                value = _map(_make, hit[0])
            records, candidates = hit[1], hit[2]
        else:
            inner = _GraphRunner(module, fragment.graph, self.recorder, fragment.blocks, self.keys)
            value = inner.run(*args)
            records, candidates = inner.records, inner.candidates
            if key is not None and not any(self.recorder.is_param(t) for t in _tensors(value)):
                blocks_._remember(blocks_._RUNS, key, (_map(_spec, value), records, candidates))
        out = blocks_.splice(
            self.records, self.candidates, n, module, fragment, records,
            candidates, self.alias,
        )  # fmt: skip
        self.alias[n.name] = out
        self.metas[n.name] = tensor_meta(value)[0]
        return value

    def run_node(self, n: fx.Node) -> Any:
        if n.op == "call_module" and n.target in self.blocks:
            return self.run_block(n)
        self.recorder.take()
        try:
            with self._set_current_node(n):
                args, kwargs = self.fetch_args_kwargs_from_env(n)
                key = self._cache_key(n, args, kwargs)
                cache = _cache_for(key, self.local_cache)
                hit = cache.get(key) if key is not None else None
                if hit is not None:
                    with _disable_current_modes():  # rebuild outputs without the recorder
                        value = _map(_make, hit[0])
                    events = hit[1]
                else:
                    value = getattr(self, n.op)(n.target, args, kwargs)
                    events = self.recorder.take()
                    if key is not None and not any(
                        self.recorder.is_param(t) for t in _tensors(value)
                    ):
                        if len(cache) > _SHARED_CACHE_LIMIT:
                            cache.clear()
                        cache[key] = (_map(_spec, value), events)
        except Exception as exc:
            stack = list((n.meta.get("nn_module_stack") or {}).values())
            where = f" in module '{stack[-1][0]}'" if stack else ""
            shapes = [self.metas.get(a.name) for a in n.all_input_nodes]
            raise AnalysisError(
                f"node '{n.name}' ({n.op} {_target_name(self.module, n)}){where} failed on input "
                f"shapes {shapes}: {type(exc).__name__}: {str(exc).splitlines()[0]}. "
                "Check that the input shape matches what the model expects."
            ) from exc
        self.records.append(self._record(n, value, events))
        self.candidates.append(blocks_.candidate(n))
        return value

    def _record(self, n: fx.Node, value: Any, events: list[OpEvent]) -> NodeRecord:
        stack = n.meta.get("nn_module_stack") or {}
        if n.op == "call_module":
            path, mtype = str(n.target), type(self.submodules[n.target]).__name__
        elif stack:
            path, mtype = list(stack.values())[-1][0], list(stack.values())[-1][1].__name__
        else:
            path, mtype = "", ""
        out_shapes, dtype = tensor_meta(value)
        self.metas[n.name] = out_shapes
        rec = NodeRecord(
            name=n.name,
            op=n.op,
            target=mtype if n.op == "call_module" else _target_name(self.module, n),
            module=path,
            module_type=mtype,
            input_shapes=[s for a in n.all_input_nodes for s in self.metas.get(a.name, [])],
            output_shapes=out_shapes,
            dtype=dtype,
            inputs=[self.alias.get(a.name, a.name) for a in n.all_input_nodes],
        )
        if n.op in ("placeholder", "output"):
            rec.category = "io"
            return rec
        if n.op == "get_attr":
            rec.category = "constant"
            if isinstance(value, nn.Parameter):
                self.attr_params[n.name] = value.numel()
            return rec
        if n.op == "call_module":
            rec.params = self.param_count(n.target)
        # A parameter fetched by get_attr counts towards the first op that uses it.
        rec.params += sum(self.attr_params.pop(a.name, 0) for a in n.all_input_nodes)
        apply_events(rec, events)
        rec.zero_output = _is_zero_mul(n)
        if not events:
            rec.category = _no_event_category(n.target, value)
        override = CATEGORY_BY_TARGET.get(
            type(self.submodules[n.target]) if n.op == "call_module" else n.target
        )
        if override and rec.category != "unknown":
            rec.category = override
        return rec


_MULS = (operator.mul, torch.mul, "mul", operator.imul, "mul_")


def _is_zero_mul(n: fx.Node) -> bool:
    """``x * 0`` (NAS-Bench-201's ``none`` edge): its result is a constant zero tensor."""
    if n.op not in ("call_function", "call_method") or n.target not in _MULS:
        return False
    return any(isinstance(a, (int, float)) and not isinstance(a, bool) and a == 0 for a in n.args)


def _target_name(root: nn.Module, n: fx.Node) -> str:
    if n.op == "call_module":
        return type(root.get_submodule(n.target)).__name__
    if n.op == "call_function":
        mod = getattr(n.target, "__module__", "") or ""
        name = getattr(n.target, "__name__", str(n.target))
        return f"{mod.replace('torch.nn.functional', 'F')}.{name}" if mod else name
    return str(n.target)


def run_graph(
    root: nn.Module,
    graph: fx.Graph,
    example_inputs: tuple[Any, ...],
    blocks: dict[str, blocks_.Fragment] | None = None,
    keys: dict[int, str] | None = None,
) -> list[NodeRecord]:
    """Execute ``graph`` (traced from ``root``) on meta twins of ``example_inputs``; return one
    record per node of the full graph (``blocks``' nodes expanded into their records, named
    as a full trace names them; see :mod:`costmodel.analysis.blocks`)."""
    recorder = OpRecorder()
    recorder.mark_params(root)
    runner = _GraphRunner(root, graph, recorder, blocks, keys)
    # Outside inference mode, composite ops (conv2d, linear) decompose to the ATen ops the
    # formulas know; inference mode would hand them over undecomposed.
    with torch.inference_mode(False), torch.no_grad(), recorder:
        runner.run(*make_meta_inputs(example_inputs))
    if runner.alias:  # some block was spliced in: the names are fx's for the full graph
        blocks_.rename(runner.records, runner.candidates)
    return runner.records


def module_calls(graph: fx.Graph, blocks: dict[str, blocks_.Fragment] | None = None) -> int:
    """How many nn.Module forward calls the eager model makes, containers included.

    torch.fx inlines containers (nn.Sequential, blocks) that eager PyTorch still calls, at a
    measurable cost per call on small boards; each node's ``nn_module_stack`` says which modules
    it runs inside. A module call starts wherever that stack gains an entry it did not have on
    the previous node; every leaf ``call_module`` node is one call of its own, and a block kept
    as one node makes the calls its fragment counted.
    """
    calls, prev = 1, []  # the root module's forward
    blocks = blocks or {}
    for n in graph.nodes:
        if n.op == "call_module" and n.target in blocks:
            calls += blocks[n.target].calls - 1  # counted once below, like any leaf call
        stack = list((n.meta.get("nn_module_stack") or {}).keys())
        if n.op == "call_module":
            calls += 1
            stack = stack[:-1]  # the leaf itself is the stack's last entry
        common = 0
        for a, b in zip(prev, stack, strict=False):
            if a != b:
                break
            common += 1
        calls += len(stack) - common
        prev = stack
    return calls
