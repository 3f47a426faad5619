"""The model registry: every model the project can build, keyed by name, with its family.

A family module (``resnet.py``, ``vgg.py`` ...) calls :func:`register` once per builder at import
time. Each entry carries the family name (used by leave-one-family-out evaluation), default keyword
arguments, and the named variants that make up the family's scalable members (used by
``costmodel models`` and the calibration suites). Duplicate names are rejected.

Spec strings (see :mod:`costmodel.zoo.specs`) are how every command names a model.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch.nn as nn

Builder = Callable[..., nn.Module]


@dataclass(frozen=True)
class ModelEntry:
    """One registered builder.

    name: the spec name (``"resnet"``); family: the family it belongs to (``"resnet"``);
    builder: ``builder(**kwargs) -> nn.Module``; defaults: keyword arguments applied when a spec
    does not set them; variants: the members of the family that suites enumerate, each a dict of
    keyword arguments overriding ``defaults`` (``{}`` means the defaults themselves);
    input_size: the default spatial input size (H = W); study: True for the paper's ten models.
    """

    name: str
    family: str
    builder: Builder
    defaults: Mapping[str, Any] = field(default_factory=dict)
    variants: tuple[Mapping[str, Any], ...] = ({},)
    description: str = ""
    input_size: int = 32
    study: bool = False

    def build(self, **kwargs: Any) -> nn.Module:
        unknown = set(kwargs) - set(self.defaults)
        if unknown:
            raise ValueError(
                f"model {self.name!r} has no parameter(s) {sorted(unknown)}; "
                f"known: {sorted(self.defaults) or 'none'}"
            )
        return self.builder(**{**self.defaults, **kwargs})


_REGISTRY: dict[str, ModelEntry] = {}
_ALIASES: dict[str, tuple[str, dict[str, Any]]] = {}


def register(
    name: str,
    family: str,
    builder: Builder,
    *,
    defaults: Mapping[str, Any] | None = None,
    variants: list[Mapping[str, Any]] | tuple[Mapping[str, Any], ...] = ({},),
    description: str = "",
    input_size: int = 32,
    study: bool = False,
) -> ModelEntry:
    """Register ``builder`` under ``name``; a second registration of a name is an error."""
    if name in _REGISTRY or name in _ALIASES:
        raise ValueError(f"model name {name!r} is already registered")
    entry = ModelEntry(
        name=name,
        family=family,
        builder=builder,
        defaults=dict(defaults or {}),
        variants=tuple(dict(v) for v in variants),
        description=description,
        input_size=input_size,
        study=study,
    )
    for v in entry.variants:
        unknown = set(v) - set(entry.defaults)
        if unknown:
            raise ValueError(f"variant {v} of {name!r} sets unknown parameter(s) {sorted(unknown)}")
    _REGISTRY[name] = entry
    return entry


def register_alias(alias: str, target: str, **kwargs: Any) -> None:
    """Make ``alias`` (e.g. ``"resnet50"``) stand for ``target`` with fixed ``kwargs``."""
    if alias in _REGISTRY or alias in _ALIASES:
        raise ValueError(f"model name {alias!r} is already registered")
    if target not in _REGISTRY:
        raise ValueError(f"alias {alias!r} points at unknown model {target!r}")
    _ALIASES[alias] = (target, dict(kwargs))


def resolve_name(name: str) -> tuple[ModelEntry, dict[str, Any]]:
    """Return the entry and the fixed keyword arguments for a registered name or alias."""
    if name in _REGISTRY:
        return _REGISTRY[name], {}
    if name in _ALIASES:
        target, kwargs = _ALIASES[name]
        return _REGISTRY[target], dict(kwargs)
    close = difflib.get_close_matches(name, list(_REGISTRY) + list(_ALIASES), n=5, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise KeyError(f"unknown model {name!r}{hint} (run `costmodel models` for the list)")


def entries() -> list[ModelEntry]:
    """All registered entries, in registration order."""
    return list(_REGISTRY.values())


def aliases() -> dict[str, tuple[str, dict[str, Any]]]:
    """Alias name -> (target name, fixed keyword arguments)."""
    return {k: (t, dict(kw)) for k, (t, kw) in _ALIASES.items()}
