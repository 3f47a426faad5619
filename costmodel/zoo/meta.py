"""Building models on the meta device without running weight initialisation.

A meta tensor holds no data, so initialising one computes nothing, yet the calls still run:
``nn.init`` functions go through Python decompositions and batch norm resets its running
statistics, about a third of building a NAS-Bench-201 network on meta. The analysis never reads
weights. While :func:`skip_meta_init` is active, those calls return at once for meta tensors
(and behave as always for any other tensor, so a real model built meanwhile, in another thread
say, is initialised as usual); leaving it restores the original functions, also on error.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch.nn import init
from torch.nn.modules.batchnorm import _NormBase

# Every public in-place initialiser of torch.nn.init (each takes the tensor first).
INIT_FUNCTIONS = (
    "uniform_",
    "normal_",
    "trunc_normal_",
    "constant_",
    "ones_",
    "zeros_",
    "eye_",
    "dirac_",
    "xavier_uniform_",
    "xavier_normal_",
    "kaiming_uniform_",
    "kaiming_normal_",
    "orthogonal_",
    "sparse_",
)

_lock = threading.Lock()
_depth = 0
_saved: list[tuple[Any, str, Callable[..., Any]]] = []


def _is_meta(t: Any) -> bool:
    return isinstance(t, torch.Tensor) and t.device.type == "meta"


def _skip_init(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def init_unless_meta(tensor: Any, *args: Any, **kwargs: Any) -> Any:
        return tensor if _is_meta(tensor) else fn(tensor, *args, **kwargs)

    return init_unless_meta


def _skip_reset(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def reset_unless_meta(self: _NormBase) -> None:
        if not _is_meta(getattr(self, "running_mean", None)):
            fn(self)

    return reset_unless_meta


def _targets() -> list[tuple[Any, str, Callable[[Callable[..., Any]], Callable[..., Any]]]]:
    found = [(init, name, _skip_init) for name in INIT_FUNCTIONS if hasattr(init, name)]
    return found + [(_NormBase, "reset_running_stats", _skip_reset)]


@contextmanager
def skip_meta_init() -> Iterator[None]:
    """Within this block, initialising a meta tensor (``nn.init.*``, batch-norm statistics) is a
    no-op; nested and concurrent uses share one patch, removed when the last one leaves."""
    global _depth
    with _lock:
        if _depth == 0:
            for owner, name, wrap in _targets():
                original = getattr(owner, name)
                _saved.append((owner, name, original))
                setattr(owner, name, wrap(original))
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                while _saved:
                    owner, name, original = _saved.pop()
                    setattr(owner, name, original)
