"""What a measurement runtime provides, and the one-line error when it is not installed."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch


class RuntimeMissingError(ImportError):
    """A runtime whose Python packages are not installed; the message names the extra."""


@dataclass(frozen=True)
class Runtime:
    """One way of running a model: how to export it (untimed, cacheable) and how to load the
    export into a zero-argument ``run()`` for the measurement protocol.

    ``export(model, x, path)`` writes the artifact (None: nothing to export, ``load`` gets the
    model itself); ``load(source, x, threads)`` returns ``run``, executing one forward pass with
    the runtime's own API at ``threads`` threads; ``info(threads)`` describes the runtime for
    board.json (name, version, delegate or provider).
    """

    name: str
    extra: str
    packages: tuple[str, ...]
    suffix: str
    export: Callable[[torch.nn.Module, torch.Tensor, Path], None] | None
    load: Callable[[Any, torch.Tensor, int], Callable[[], object]]
    info: Callable[[int], dict[str, Any]]

    def require(self) -> None:
        """Raise :class:`RuntimeMissingError` when the runtime's packages are missing."""
        for pkg in self.packages:
            try:
                importlib.import_module(pkg)
            except ImportError as exc:
                raise RuntimeMissingError(
                    f"runtime {self.name!r} needs the {pkg!r} package ({exc}): install it with "
                    f"pip install 'costmodel[{self.extra}]'"
                ) from None
