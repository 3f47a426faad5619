"""Memoised, hierarchical analysis: a block analysed before is neither traced nor run again.

Search spaces and deep networks repeat blocks: NAS-Bench-201's 15 cells are 3 stages x 5 copies
of one cell, a ResNet repeats its bottleneck, and one edge module recurs across thousands of
networks. A *block* is a submodule that torch.fx would trace through (not a leaf). Each block
is traced once per :func:`~costmodel.analysis.structure.structural_key` (its structure,
configuration, parameter shapes and class sources) into a :class:`Fragment`; the model's own
trace then keeps the block as one ``call_module`` node. Running the graph, a block node whose
key and input shapes were seen before (in this model or any earlier analysis in the process)
reuses the fragment's node records, re-prefixed with the block's path; otherwise the fragment
is run on meta tensors and its records are remembered.

The per-node table is identical to the one a full trace gives: fx names nodes in creation
order from one namespace, so :func:`rename` replays exactly that over the flattened records.
A block is kept inline (traced through, as before) whenever reuse could change the table: its
subtree shares a module or parameter with another path, its forward takes keywords, varargs or
fewer arguments than it declares, it is called with non-tensor arguments or keywords, its trace
fails or reads attributes (``get_attr``: tied parameters, constants), or it returns anything but
one computed tensor node (a tuple would index differently in the parent).
"""

from __future__ import annotations

import inspect
import itertools
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import torch.fx as fx
import torch.nn as nn

_PLAIN_KINDS = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
_NAMER = fx.Graph()  # only its (stateless) _target_to_str: fx's own name candidates


@dataclass
class Fragment:
    """A block's standalone trace: its graph, the module calls it makes (itself included,
    nested blocks included), the blocks inside it that are kept as nodes (relative paths), and
    its placeholders (one per argument of its forward)."""

    key: Any
    graph: fx.Graph
    calls: int = 0
    blocks: dict[str, Fragment] = field(default_factory=dict)
    placeholders: tuple[str, ...] = ()

    @property
    def arity(self) -> int:
        return len(self.placeholders)


# Process-wide memos, bounded, least recently used out first: the trace of each block key, and
# the records of each (block key, input shapes).
_TRACES: dict[Any, Fragment | None] = {}
_SEEN: dict[Any, None] = {}  # blocks met once, in one model: traced on their own when met again
_RUNS: dict[Any, tuple[Any, list, list]] = {}
_LIMIT = 2_000  # entries per memo: a few tens of MB of records at most
_MISSING = object()


def clear() -> None:
    """Forget every memoised block trace and run (tests use it to compare with a cold start)."""
    _TRACES.clear()
    _RUNS.clear()
    _SEEN.clear()


def _remember(memo: dict, key: Any, value: Any) -> None:
    """Store, evicting the least recently used tenth when full (a hit re-inserts its key, see
    :func:`_recall`), so a sweep keeps its hot blocks and the memory stays bounded."""
    if len(memo) >= _LIMIT:
        for old in list(itertools.islice(memo, max(1, _LIMIT // 10))):
            del memo[old]
    memo[key] = value


def _recall(memo: dict, key: Any) -> Any:
    """The memo's value for ``key`` (``_MISSING`` when absent), marked as recently used."""
    value = memo.pop(key, _MISSING)
    if value is not _MISSING:
        memo[key] = value
    return value


def _plain_arity(m: nn.Module) -> int | None:
    """Number of positional parameters of ``m.forward``, or None when it takes anything else."""
    try:
        params = inspect.signature(m.forward).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind not in _PLAIN_KINDS for p in params):
        return None
    return len(params)


def _shared_paths(root: nn.Module) -> set[str]:
    """Paths that must stay inline: every module path on the way to a module, parameter or
    buffer that the model holds at more than one path (tied weights, a reused layer)."""
    first: dict[int, str] = {}
    tainted: set[str] = set()

    def taint(path: str) -> None:
        parts = path.split(".") if path else []
        for i in range(1, len(parts) + 1):
            tainted.add(".".join(parts[:i]))

    for path, m in root.named_modules(remove_duplicate=False):
        owners = [(path, m)] + [
            (f"{path}.{n}" if path else n, t)
            for n, t in [*m._parameters.items(), *m._buffers.items()]
            if t is not None
        ]
        for p, obj in owners:
            seen = first.setdefault(id(obj), p)
            if seen != p:
                taint(p.rpartition(".")[0] if obj is not m else p)
                taint(seen.rpartition(".")[0] if obj is not m else seen)
    return tainted


def plan(
    root: nn.Module,
    keys: dict[int, str],
    is_leaf: Any,
    leaf_paths: Iterable[str],
    leaf_types: tuple[type, ...],
) -> dict[str, Fragment]:
    """The blocks of ``root`` (by path) that its trace keeps as nodes, each with its fragment.

    ``keys`` are the structural keys of ``root``'s modules by id; ``is_leaf(m, path)`` is the
    tracer's leaf rule. Blocks are traced bottom-up, so a block's own trace keeps the blocks
    inside it as nodes; a fragment seen before under the same key is not traced again. A block
    that occurs once in the model and was never met before stays inline (a one-off analysis
    pays nothing for reuse); met again, in any model, it becomes a block.
    """
    from costmodel.analysis.trace import fx_trace

    leaf_paths = tuple(leaf_paths)
    tainted = _shared_paths(root)
    repeats = Counter(keys[id(m)] for m in root.modules())

    def fragment(m: nn.Module, path: str, inner: dict[str, Fragment]) -> Fragment | None:
        if is_leaf(m, path) or path in tainted:
            return None
        inside = path + "."
        rel_leaves = tuple(sorted(p[len(inside) :] for p in leaf_paths if p.startswith(inside)))
        key = (keys[id(m)], rel_leaves, leaf_types)
        known = _recall(_TRACES, key)
        if known is not _MISSING:
            return known
        if repeats[keys[id(m)]] < 2 and key not in _SEEN:
            # met once so far: inline (tracing it alone would only cost); met again, a block
            _remember(_SEEN, key, None)
            return None
        found = None
        arity = _plain_arity(m)
        if arity is not None:
            graph = fx_trace(m, rel_leaves, leaf_types, None, blocks=inner)
            if isinstance(graph, fx.Graph):
                found = _checked(key, graph, arity, inner)
        _remember(_TRACES, key, found)
        return found

    def visit(m: nn.Module, path: str) -> dict[str, Fragment]:
        inside: dict[str, Fragment] = {}
        for name, child in m._modules.items():
            if child is None:
                continue
            child_path = f"{path}.{name}" if path else name
            sub = visit(child, child_path)
            inside.update({f"{name}.{rel}": f for rel, f in sub.items()})
            found = fragment(child, child_path, sub)
            if found is not None:
                inside[name] = found
        return inside

    return visit(root, "")


def _checked(key: Any, graph: fx.Graph, arity: int, inner: dict[str, Fragment]) -> Fragment | None:
    """The fragment of a block's trace, or None when reusing it could change the table."""
    from costmodel.analysis.capture import module_calls

    placeholders = tuple(n.name for n in graph.nodes if n.op == "placeholder")
    if len(placeholders) != arity or any(n.op == "get_attr" for n in graph.nodes):
        return None
    out = next(n for n in reversed(graph.nodes) if n.op == "output")
    result = out.args[0] if out.args else None
    if not isinstance(result, fx.Node) or result.op == "placeholder":
        return None
    used = {n.target for n in graph.nodes if n.op == "call_module" and n.target in inner}
    blocks = {p: f for p, f in inner.items() if p in used}
    return Fragment(key, graph, module_calls(graph, blocks), blocks, placeholders)


def copy_record(rec: Any) -> Any:
    """A copy of a node record whose mutable fields are its own."""
    new = object.__new__(type(rec))
    new.__dict__.update(rec.__dict__)
    new.inputs = list(rec.inputs)
    new.sources = list(rec.sources)
    new.attrs = dict(rec.attrs)
    new.aten_ops = list(rec.aten_ops)
    new.unknown = list(rec.unknown)
    return new


def splice(
    records: list,
    candidates: list,
    node: fx.Node,
    module: nn.Module,
    fragment: Fragment,
    inner_records: list,
    inner_candidates: list,
    alias: dict[str, str],
) -> str:
    """Append a block's records under its node's path; returns the name its output now has.

    Inner names are prefixed with the node's name (unique in the parent), the block's
    placeholders become the node's arguments (``alias``: names of spliced block outputs), and
    module paths and path-like name candidates
    get the block's path in front.
    """
    prefix, tag = str(node.target), node.name
    args = {
        p: alias.get(a.name, a.name) for p, a in zip(fragment.placeholders, node.args, strict=True)
    }
    kind = type(module).__name__
    output = ""
    for rec, (is_path, text) in zip(inner_records, inner_candidates, strict=True):
        if rec.op == "output":
            output = args.get(rec.inputs[0]) or f"{tag}/{rec.inputs[0]}"
            continue
        if rec.op == "placeholder":
            continue
        new = copy_record(rec)
        new.name = f"{tag}/{rec.name}"
        new.inputs = [args.get(i) or f"{tag}/{i}" for i in rec.inputs]
        if rec.module:
            new.module = f"{prefix}.{rec.module}"
        else:
            new.module, new.module_type = prefix, kind
        records.append(new)
        candidates.append((is_path, f"{prefix}.{text}" if is_path else text))
    return output


def candidate(n: fx.Node) -> tuple[bool, str]:
    """fx's name candidate for a node: ``(True, qualified path)`` for module and attribute
    nodes (prefixed when the node is spliced into a parent), ``(False, text)`` otherwise."""
    if n.op in ("call_module", "get_attr"):
        return True, str(n.target)
    return False, _NAMER._target_to_str(n.target)


def rename(records: list, candidates: list) -> None:
    """Give the flattened records the names a full fx trace gives: one namespace, creation
    order (= graph order), fx's own candidates; inputs follow."""
    namespace = fx.graph._Namespace()
    names: dict[str, str] = {}
    for rec, (is_path, text) in zip(records, candidates, strict=True):
        text = _NAMER._target_to_str(text) if is_path else text
        names[rec.name] = namespace.create_name(text, None)
    for rec in records:
        rec.name = names[rec.name]
        rec.inputs = [names.get(i, i) for i in rec.inputs]
