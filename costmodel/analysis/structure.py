"""Content keys of models: what an analysis depends on, so that a changed model never hits a cache.

:func:`structural_key` digests a module's structure (its tree, each module's class and full
configuration, parameter and buffer shapes and dtypes, the source of user-defined classes). Two
modules with equal keys give equal analyses on equal inputs; any change the analysis can see
(another head count, kernel size, width, an edited ``forward``) changes the key. It is a small
pure function of the module (the module is not changed) and is used by the feature cache and by
the sharing of node results across analyses (:mod:`costmodel.analysis.capture`).
"""

from __future__ import annotations

import enum
import functools
import hashlib
import inspect
import re
from typing import Any

import torch
import torch.nn as nn

# Packages whose classes are versioned with the installed code, not edited by users: their source
# is not hashed (the feature cache keys built-in specs by costmodel's own source hash).
_LIBRARY_PREFIXES = ("torch", "costmodel", "builtins", "typing", "collections", "abc")
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
_PLAIN = (type(None), bool, int, float, str, complex)
_PLAIN_TYPES = frozenset(_PLAIN)
_TABLES = frozenset({"_parameters", "_buffers", "_modules"})


def _is_library(obj: Any) -> bool:
    module = getattr(obj, "__module__", "") or ""
    return module.split(".")[0] in _LIBRARY_PREFIXES


@functools.lru_cache(maxsize=4096)
def _source(obj: Any) -> str:
    """Source text of a user-defined class (its whole MRO) or function; '' for library code."""
    if isinstance(obj, type) and len(obj.__mro__) > 1:
        return "".join(_source(k) for k in obj.__mro__[1:] if not _is_library(k)) + _source1(obj)
    return _source1(obj)


def _source1(obj: Any) -> str:
    if _is_library(obj):
        return ""
    try:
        return inspect.getsource(obj)
    except (OSError, TypeError):  # defined interactively: its name is all there is
        return f"<no source: {getattr(obj, '__qualname__', repr(obj))}>"


def _describe(value: Any, depth: int = 0) -> Any:
    """A plain, printable stand-in for one attribute value (no memory addresses)."""
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, (torch.dtype, torch.device, torch.Size, enum.Enum)):
        return str(value)
    if isinstance(value, torch.Tensor):
        return ("tensor", tuple(value.shape), str(value.dtype))
    if isinstance(value, nn.Module):  # a module held outside _modules (e.g. in a plain list)
        return ("module", type(value).__qualname__)
    if depth > 4:
        return type(value).__qualname__
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [_describe(v, depth + 1) for v in value]
        return (type(value).__name__, sorted(items, key=repr) if isinstance(value, set) else items)
    if isinstance(value, dict):
        return ("dict", sorted((repr(k), _describe(v, depth + 1)) for k, v in value.items()))
    if callable(value) and hasattr(value, "__qualname__"):  # a function or class (activation)
        try:
            source = _source(value)
        except TypeError:  # unhashable callable
            source = ""
        return ("callable", getattr(value, "__module__", ""), value.__qualname__, source)
    state = getattr(value, "__dict__", None)
    if isinstance(state, dict):
        return (type(value).__qualname__, _describe(state, depth + 1))
    return _ADDRESS.sub("", repr(value))


def _configuration(m: nn.Module) -> list[tuple[str, Any]]:
    """Public attributes (any type but tensors held as parameters/buffers/submodules) and
    private ones with plain values: everything a forward can read besides its inputs."""
    out = []
    for name, value in vars(m).items():
        if name in _TABLES:
            continue
        if type(value) in _PLAIN_TYPES:
            out.append((name, value))
        elif name[0] != "_":  # private non-plain values are hooks, caches and other machinery
            out.append((name, _describe(value)))
    out.sort(key=_first)
    return out


def _first(item: tuple[str, Any]) -> str:
    return item[0]


def _own_entry(m: nn.Module) -> bytes:
    kind = type(m)
    tensors = [
        (n, None if t is None else (tuple(t.shape), str(t.dtype)))
        for n, t in [*m._parameters.items(), *m._buffers.items()]
    ]
    entry = (kind.__module__, kind.__qualname__, _configuration(m), tensors)
    return repr(entry).encode() + _source(kind).encode()


def structural_keys(module: nn.Module) -> dict[int, str]:
    """:func:`structural_key` of ``module`` and of every submodule, by ``id``, computed once
    each (a Merkle tree: a module's key hashes its own entry and its children's names and
    keys), so keying every block of a deep network costs one pass over its modules."""
    keys: dict[int, str] = {}

    def visit(m: nn.Module) -> str:
        key = keys.get(id(m))
        if key is None:
            h = hashlib.sha256(_own_entry(m))
            for name, child in m._modules.items():
                h.update(f"|{name}=".encode())
                h.update(b"None" if child is None else visit(child).encode())
            key = keys[id(m)] = h.hexdigest()
        return key

    visit(module)
    return keys


def structural_key(module: nn.Module) -> str:
    """A hex digest of what determines ``module``'s analysis on a given input.

    It covers the module tree (child names at every level, shared modules at every path), each
    module's class, its full configuration (public non-tensor attributes, not ``extra_repr``,
    which is empty for some modules), the shape and dtype of every parameter and buffer (values
    do not change counts), and the source of every class defined outside torch and costmodel (an
    edited ``forward`` changes the key). It does not depend on where the module sits in a larger
    model. Pure: the module is only read.
    """
    return structural_keys(module)[id(module)]
