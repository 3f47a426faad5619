"""Spec strings: the one way every command, suite and timings file names a model.

Grammar (``?k=v&k=v`` parameters are optional everywhere)::

    mobilenetv2                      a registered model or alias, with its defaults
    resnet?depth=34&width=0.75       a registered model with parameters
    nb201:|nor_conv_3x3~0|+|...|     a NAS-Bench-201 cell (``?dataset=cifar100`` for another head)
    random:seed=17                   a seeded random architecture (``&max_mmacs=...`` etc.)
    pkg.module:callable              any importable callable returning an nn.Module

Values are parsed as int, then float, then ``true``/``false``, else kept as strings.
``parse(s).canonical()`` gives one spelling per model (aliases expanded, parameters checked
against their defaults' types and sorted, defaults dropped: ``resnet34``, ``resnet?depth=34``
and ``resnet?depth=34.0`` are all ``resnet?depth=34``), and
``parse(parse(s).canonical()) == parse(s)``.
"""

from __future__ import annotations

import functools
import importlib
import inspect
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn as nn

from costmodel.zoo.meta import skip_meta_init
from costmodel.zoo.registry import resolve_name

SCHEMES = ("nb201", "random")


def _parse_value(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    return text


def _format_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


def _parse_params(text: str, spec: str) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for part in filter(None, text.split("&")):
        key, sep, value = part.partition("=")
        if not sep or not key or not value:
            raise ValueError(f"bad parameter {part!r} in model spec {spec!r}: expected key=value")
        if key in params:
            raise ValueError(f"parameter {key!r} given twice in model spec {spec!r}")
        params[key] = _parse_value(value)
    return params


def _format_params(params: dict[str, Any]) -> str:
    return "&".join(f"{k}={_format_value(params[k])}" for k in sorted(params))


@dataclass(frozen=True)
class ModelSpec:
    """A parsed spec string. ``kind`` is ``zoo``, ``nb201``, ``random`` or ``import``."""

    kind: str
    name: str
    params: dict[str, Any] = field(default_factory=dict)

    def canonical(self) -> str:
        """The one spelling of this spec: parameters sorted (those equal to their default were
        dropped by :func:`parse`: ``resnet?depth=50`` is ``resnet``)."""
        query = _format_params(self.params)
        if self.kind == "random":
            return f"random:{query}"
        head = f"nb201:{self.name}" if self.kind == "nb201" else self.name
        return f"{head}?{query}" if query else head

    def __str__(self) -> str:
        return self.canonical()


def parse(spec: str) -> ModelSpec:
    """Parse a spec string; raises ValueError (malformed) or KeyError (unknown model name).

    Parameters equal to their default are dropped, so equal models compare equal
    (``parse("resnet?depth=50") == parse("resnet")``)."""
    s = _parse(spec)
    if s.kind == "zoo":  # an alias is its target with fixed parameters: one spelling for both
        entry, fixed = resolve_name(s.name)
        s = ModelSpec("zoo", entry.name, {**fixed, **s.params})
    defaults = _defaults(s)
    checked = {k: _checked_value(spec, k, v, defaults.get(k)) for k, v in s.params.items()}
    params = {k: v for k, v in checked.items() if k not in defaults or defaults[k] != v}
    return ModelSpec(s.kind, s.name, params)


# Parameters whose default is positive but for which 0 means "none" (no dropout, no SE block).
MAY_BE_ZERO = frozenset({"dropout", "se_ratio", "se_reduction"})


def _checked_value(spec: str, key: str, value: Any, default: Any) -> Any:
    """``value`` in the type of the parameter's default (``depth=34.0`` is ``34``; ``width=1``
    is ``1.0``), and within what a builder can build (positive sizes and multipliers)."""
    if default is None or isinstance(default, str):
        return value
    what = f"parameter {key}={_format_value(value)} in model spec {spec!r}"
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ValueError(f"{what}: must be true or false")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{what}: must be a number like its default {_format_value(default)}")
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"{what}: must be a finite number")
    if isinstance(default, int):
        if value != int(value):
            raise ValueError(f"{what}: must be an integer")
        value = int(value)
    else:
        value = float(value)
    if key in MAY_BE_ZERO:
        if value < 0 or (key == "dropout" and value >= 1):
            raise ValueError(f"{what}: must be >= 0" + (" and < 1" if key == "dropout" else ""))
    elif default > 0 and value <= 0:
        raise ValueError(f"{what}: must be > 0")
    return value


def _parse(spec: str) -> ModelSpec:
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"a model spec must be a non-empty string, got {spec!r}")
    spec = spec.strip()
    scheme, colon, rest = spec.partition(":")
    if colon and scheme == "random":
        from costmodel.zoo.random_arch import build_random

        params = _parse_params(rest, spec)
        _check_keywords(spec, params, build_random)
        return ModelSpec("random", "random", params)
    if colon and scheme == "nb201":
        arch, _, query = rest.partition("?")
        from costmodel.zoo.nb201 import build_nb201, input_size, parse_arch

        parse_arch(arch)  # validates, raising a clear error
        params = _parse_params(query, spec)
        _check_keywords(spec, params, build_nb201)
        input_size(params.get("dataset", "cifar10"))  # validates the dataset name
        return ModelSpec("nb201", arch, params)
    head, _, query = spec.partition("?")
    params = _parse_params(query, spec)
    if ":" in head:  # not `colon`: a parameter value may contain ':'
        module, _, attr = head.partition(":")
        if not module or not attr:
            raise ValueError(f"import spec {spec!r} must look like 'package.module:callable'")
        return ModelSpec("import", head, params)
    entry, fixed = resolve_name(head)
    clash = set(fixed) & set(params)
    if clash:
        raise ValueError(f"{head!r} fixes {sorted(clash)}; use {entry.name!r} to set them")
    unknown = set(params) - set(entry.defaults)
    if unknown:
        raise ValueError(
            f"model {head!r} has no parameter(s) {sorted(unknown)}; "
            f"known: {sorted(entry.defaults) or 'none'}"
        )
    return ModelSpec("zoo", head, params)


@functools.cache
def _signature(builder: Any) -> inspect.Signature:
    """The signature of one of costmodel's own builders (parsed once: specs come by the
    thousand in a search space)."""
    return inspect.signature(builder)


def _defaults(spec: ModelSpec) -> dict[str, Any]:
    """Default parameter values of the builder a spec names (none for import specs)."""
    if spec.kind == "zoo":
        return dict(resolve_name(spec.name)[0].defaults)
    if spec.kind in ("random", "nb201"):
        if spec.kind == "random":
            from costmodel.zoo.random_arch import build_random as builder
        else:
            from costmodel.zoo.nb201 import build_nb201 as builder
        return {
            n: p.default
            for n, p in _signature(builder).parameters.items()
            if p.default is not inspect.Parameter.empty
        }
    return {}


def _check_keywords(spec: str, params: dict[str, Any], builder: Any) -> None:
    """Unknown or missing keyword-only arguments of ``builder`` are spec errors (ValueError)."""
    sig = _signature(builder)
    keywords = {n: p for n, p in sig.parameters.items() if p.kind is p.KEYWORD_ONLY}
    unknown = set(params) - set(keywords)
    if unknown:
        raise ValueError(
            f"model spec {spec!r} has unknown parameter(s) {sorted(unknown)}; "
            f"known: {sorted(keywords)}"
        )
    missing = [n for n, p in keywords.items() if p.default is p.empty and n not in params]
    if missing:
        raise ValueError(f"model spec {spec!r} lacks required parameter(s) {missing}")


def family(spec: str | ModelSpec) -> str:
    """The family a spec belongs to (the unit held out by leave-one-family-out)."""
    s = parse(spec) if isinstance(spec, str) else spec
    if s.kind == "zoo":
        return resolve_name(s.name)[0].family
    if s.kind == "import":
        return s.name.partition(":")[0]
    return s.kind


def input_shape(spec: str | ModelSpec, batch: int = 1) -> tuple[int, int, int, int]:
    """The default input shape (N, C, H, W) for a spec."""
    s = parse(spec) if isinstance(spec, str) else spec
    if s.kind == "zoo":
        size = resolve_name(s.name)[0].input_size
    elif s.kind == "nb201":
        from costmodel.zoo.nb201 import input_size

        size = input_size(s.params.get("dataset", "cifar10"))
    else:
        size = int(s.params.get("input_size", 32))
    return (batch, 3, size, size)


def _load_file(filename: str, spec: str) -> Any:
    """Import a Python file by path (``path/to/nets.py:build``) as a module of its own."""
    import importlib.util
    import os

    if not os.path.isfile(filename):
        raise ImportError(f"no such file {filename!r} (spec {spec!r})")
    name = f"costmodel_user_{os.path.splitext(os.path.basename(filename))[0]}"
    loader_spec = importlib.util.spec_from_file_location(name, filename)
    module = importlib.util.module_from_spec(loader_spec)
    try:
        loader_spec.loader.exec_module(module)
    except SyntaxError as exc:
        raise ImportError(
            f"{filename} line {exc.lineno}: {type(exc).__name__}: {exc.msg} (spec {spec!r}); "
            "fix the file and run again"
        ) from exc
    except Exception as exc:
        raise ImportError(
            f"running {filename} failed: {type(exc).__name__}: {_first_line(exc)} (spec {spec!r})"
        ) from exc
    return module


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else ""


def _import_callable(path: str):
    module_name, _, attr = path.rpartition(":")
    try:
        if module_name.endswith(".py"):
            module = _load_file(module_name, path)
        else:
            module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ImportError(
            f"cannot import module {module_name!r} from spec {path!r}: {exc}. "
            "Is the package installed, or its folder on PYTHONPATH?"
        ) from exc
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise AttributeError(
                f"module {module_name!r} has no attribute {attr!r} (spec {path!r})"
            )
        obj = getattr(obj, part)
    return obj


def build(spec: str | ModelSpec, device: str | None = None) -> nn.Module:
    """Build the model a spec names, in evaluation mode.

    ``device="meta"`` builds it without allocating or initialising weights (the ``nn.init``
    calls and batch-norm resets are skipped, see :mod:`costmodel.zoo.meta`): enough for static
    analysis, and much faster for bulk featurising (e.g. all NAS-Bench-201 networks).
    """
    if device is not None:
        with torch.device(device), skip_meta_init():
            return build(spec)
    s = parse(spec) if isinstance(spec, str) else spec
    if s.kind == "zoo":
        entry, fixed = resolve_name(s.name)
        model = entry.build(**fixed, **s.params)
    elif s.kind == "nb201":
        from costmodel.zoo.nb201 import build_nb201

        model = build_nb201(s.name, **s.params)
    elif s.kind == "random":
        from costmodel.zoo.random_arch import build_random

        model = build_random(**s.params)
    else:
        obj = _import_callable(s.name)
        if callable(obj) and not isinstance(obj, nn.Module):
            try:
                model = obj(**s.params)
            except Exception as exc:
                raise ValueError(
                    f"the builder {s.name!r} raised {type(exc).__name__}: {_first_line(exc)}; "
                    "fix the builder or the parameters of the spec"
                ) from exc
        else:
            model = obj
    if not isinstance(model, nn.Module):
        raise TypeError(f"spec {s.canonical()!r} produced {type(model).__name__}, not an nn.Module")
    return model.eval()
