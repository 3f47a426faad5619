"""``analyze()``: the one entry point of the static analyzer."""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import torch
import torch.nn as nn

from costmodel.analysis.blocks import plan
from costmodel.analysis.capture import eval_mode, module_calls, run_graph
from costmodel.analysis.dispatch import run_dispatch
from costmodel.analysis.errors import AnalysisError
from costmodel.analysis.patterns import mark_channel_shuffles
from costmodel.analysis.result import Analysis
from costmodel.analysis.rewrites import FX_ONLY_RULES, RULES, lower
from costmodel.analysis.structure import structural_keys
from costmodel.analysis.trace import (
    _first_line,
    _Tracer,
    _user_location,
    raise_untraceable,
    trace_with_fallback,
)

METHODS = ("auto", "fx", "dispatch")


class UnknownOpWarning(UserWarning):
    """A model contains ops the analyzer has no formula for (they are listed, not zeroed)."""


def _normalise_shapes(input_shape: Any) -> list[tuple[int, ...]]:
    shapes = [input_shape] if input_shape and isinstance(input_shape[0], int) else input_shape
    out = []
    for s in shapes:
        if not all(isinstance(d, int) and d > 0 for d in s):
            raise ValueError(
                f"input shape {tuple(s)} must be positive integers, e.g. (1, 3, 32, 32)"
            )
        out.append(tuple(s))
    return out


def _inputs(input_shape: Any, example_inputs: Any, dtype: torch.dtype) -> tuple[Any, ...]:
    if example_inputs is not None:
        return (
            tuple(example_inputs)
            if isinstance(example_inputs, (tuple, list))
            else (example_inputs,)
        )
    if input_shape is None:
        raise ValueError("give input_shape=(N, C, H, W) or example_inputs=...")
    # Meta tensors from the start: only shape and dtype matter, so nothing proportional to the
    # input is ever allocated (a 1x3x60000x60000 input costs nothing).
    return tuple(torch.empty(s, dtype=dtype, device="meta") for s in _normalise_shapes(input_shape))


DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16,
          "float64": torch.float64}  # fmt: skip


def resolve_dtype(dtype: torch.dtype | str | None, model: nn.Module) -> torch.dtype:
    """The input dtype: as given (a torch dtype or one of :data:`DTYPES`' names), else the
    dtype of the model's first floating-point parameter or buffer, else float32."""
    if isinstance(dtype, str):
        if dtype not in DTYPES:
            raise ValueError(f"unknown dtype {dtype!r}; use one of {', '.join(DTYPES)}")
        return DTYPES[dtype]
    if dtype is not None:
        return dtype
    for t in itertools.chain(model.parameters(), model.buffers()):
        if t.is_floating_point():
            return t.dtype
    return torch.float32


def _meta_recurrent_weights(model: nn.Module) -> None:
    """Give recurrent layers meta weights for the analysis (``eval_mode`` puts the real ones back).

    ``nn.LSTM``/``GRU``/``RNN`` pass their weights to one fused kernel that checks devices before
    any op is dispatched, so the recorder cannot swap them for meta twins on the way."""
    for m in model.modules():
        if isinstance(m, nn.RNNBase) and any(p.device.type != "meta" for p in m.parameters()):
            for name, p in list(m._parameters.items()):
                if p is not None:
                    twin = torch.empty_strided(p.shape, p.stride(), dtype=p.dtype, device="meta")
                    m._parameters[name] = nn.Parameter(twin, requires_grad=False)
            m._init_flat_weights()


def _checked_dtype(dtype: torch.dtype | str | None, model: nn.Module) -> torch.dtype:
    want, own = resolve_dtype(dtype, model), resolve_dtype(None, model)
    floating = any(
        t.is_floating_point() for t in itertools.chain(model.parameters(), model.buffers())
    )
    if floating and want != own:
        name = str(want).replace("torch.", "")
        raise AnalysisError(
            f"{type(model).__name__} has {str(own).replace('torch.', '')} parameters but the "
            f"inputs were asked in {name}: convert the model first (model.to(torch.{name})) or "
            "leave dtype unset to use the model's own"
        )
    return want


def analyze(
    model: nn.Module | str,
    input_shape: Sequence[int] | Sequence[Sequence[int]] | None = None,
    *,
    example_inputs: Any = None,
    dtype: torch.dtype | str | None = None,
    leaf_modules: Iterable[str | type] = (),
    concrete_args: dict[str, Any] | None = None,
    method: str = "auto",
    name: str | None = None,
    prune_dead: bool = False,
    runtime: str = "eager",
    reuse_blocks: bool = True,
) -> Analysis:
    """Count MACs, FLOPs, bytes and parameters of every node of ``model`` on one input shape.

    ``model`` is an nn.Module or a zoo spec string (``"mobilenetv2?width=0.5"``; its default input
    shape is used when ``input_shape`` is None). Nothing is computed on real data: shapes are
    propagated on meta tensors. ``dtype`` is the input dtype (default: the model's own, e.g.
    float16 for a ``model.half()``). ``method``: ``auto`` traces with torch.fx, makes any
    submodule fx cannot trace a leaf, and falls back to dispatch-level capture when the model's
    own forward cannot be traced; ``fx`` raises instead of falling back; ``dispatch`` skips fx.
    The model is left exactly as it was (training flags are restored; nothing is attached to it).
    ``runtime`` lowers the table to the graph that runtime executes (``eager``: as traced;
    ``executorch``, ``onnxruntime``, ``tflite``: batch norm folded, activations fused, dead work,
    identities and views removed, layout copies added; see :mod:`costmodel.analysis.rewrites`);
    each lowered row lists the eager nodes it came from in ``sources``. ``prune_dead`` applies
    only the dead-work rule (``x * 0`` and what only feeds it), on top of ``runtime``'s rules.
    ``reuse_blocks`` reuses the records of blocks analysed before (in this model or an earlier
    analysis) instead of tracing them again; the table is the same either way (see
    :mod:`costmodel.analysis.blocks`).
    """
    if isinstance(model, str):
        from costmodel.zoo import build
        from costmodel.zoo import input_shape as spec_shape

        name = name or model
        input_shape = input_shape or (None if example_inputs is not None else spec_shape(model))
        model = build(model, device="meta")  # no weights are allocated or initialised
        if dtype is not None:  # our own model: analyse it in the dtype asked for
            model = model.to(resolve_dtype(dtype, model))
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"analyze() needs a torch.nn.Module (or a zoo spec string), got {type(model).__name__}"
            "; if you have a function that builds the model, call it first"
        )
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    inputs = _inputs(input_shape, example_inputs, _checked_dtype(dtype, model))
    leaf_list = list(leaf_modules)
    leaf_paths = [m for m in leaf_list if isinstance(m, str)]
    leaf_types = tuple(m for m in leaf_list if isinstance(m, type))
    for p in leaf_paths:
        try:
            model.get_submodule(p)
        except AttributeError:
            raise ValueError(
                f"leaf module {p!r} is not a submodule of {type(model).__name__}"
            ) from None
    notes: list[str] = []
    with eval_mode(model):  # restores everything below on exit
        _meta_recurrent_weights(model)
        graph, failures, blocks, keys = None, [], {}, None
        if method != "dispatch":
            try:
                keys = structural_keys(model)
            except Exception:  # an attribute that cannot even be described: no reuse
                keys, reuse_blocks = None, False
            if reuse_blocks:
                rules = _Tracer(set(leaf_paths), leaf_types)
                try:
                    blocks = plan(model, keys, rules.is_leaf_module, leaf_paths, leaf_types)
                except Exception:  # reuse is an optimisation: never the reason an analysis fails
                    blocks = {}
            graph, failures = trace_with_fallback(
                model, leaf_paths, leaf_types, concrete_args, method == "auto", blocks=blocks
            )
        for f in failures[: len(failures) - (graph is None)]:
            notes.append(f"fx could not trace '{f.module_path}' ({f.message}); it is one leaf node")
        if graph is not None:
            try:
                records = run_graph(model, graph, inputs, blocks, keys)
            except Exception:
                if not blocks:
                    raise
                # name a failing node as the full graph does (and never fail for reuse itself):
                # trace again without blocks
                blocks = {}
                graph, _ = trace_with_fallback(
                    model, leaf_paths, leaf_types, concrete_args, method == "auto"
                )
                records = run_graph(model, graph, inputs, blocks, keys)
            calls, used = module_calls(graph, blocks), "fx"
        elif method == "fx":
            raise_untraceable(model, failures)
        else:
            try:
                records, calls = run_dispatch(model, inputs)
            except AnalysisError:
                raise
            except Exception as exc:
                if not failures:
                    raise AnalysisError(
                        f"running {type(model).__name__} on meta tensors failed: "
                        f"{_first_line(exc)} at {_user_location(exc)}"
                    ) from exc
                raise_untraceable(model, failures, f"{_first_line(exc)} at {_user_location(exc)}")
            used = "dispatch"
            if failures:
                notes.append(
                    f"fx could not trace the model's forward ({failures[-1].message} at "
                    f"{failures[-1].location}); captured at dispatch level, one row per ATen op"
                )
    mark_channel_shuffles(records)
    if prune_dead:
        if used != "fx":
            raise AnalysisError(
                "prune_dead needs the fx graph; this model was captured by the dispatch fallback"
            )
        removed = RULES["dead_work"](records)
        notes.append(
            f"prune_dead: {removed} op node(s) a graph-optimising runtime folds away were removed"
        )
    # the dead-work rules need the graph's output node, which dispatch capture has not
    notes += lower(records, runtime, skip=() if used == "fx" else FX_ONLY_RULES)
    result = Analysis(
        records,
        model_name=name or type(model).__name__,
        input_shapes=[tuple(x.shape) for x in inputs if isinstance(x, torch.Tensor)],
        method=used,
        module_calls=calls,
        params=sum(p.numel() for p in model.parameters()),
        notes=notes,
    )
    unknown = result.unknown_ops
    if len(unknown):
        ops = sorted(set(",".join(unknown["unknown"]).split(",")))
        warnings.warn(
            f"{result.model_name}: {len(unknown)} node(s) use ops costmodel has no formula for "
            f"({'; '.join(ops)}); they are listed in .unknown_ops and marked 'unknown', not "
            "counted as zero",
            UnknownOpWarning,
            stacklevel=2,
        )
    return result
