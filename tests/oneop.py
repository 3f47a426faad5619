"""Test helpers: wrap one op in a module, analyse it, and read its rows."""

from __future__ import annotations

import inspect

import pandas as pd
import torch
import torch.nn as nn
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.utils.flop_counter import FlopCounterMode

import costmodel


class _Fn1(nn.Module):
    def __init__(self, fn, **modules: nn.Module) -> None:
        super().__init__()
        self.fn = fn
        for name, m in modules.items():
            self.add_module(name, m)

    def forward(self, x):
        return self.fn(self, x)


class _Fn2(_Fn1):
    def forward(self, x, y):
        return self.fn(self, x, y)


def Fn(fn, **modules: nn.Module) -> nn.Module:
    """A module whose forward is ``fn(self, x)`` or ``fn(self, x, y)`` (fx cannot trace *args)."""
    n_inputs = len(inspect.signature(fn).parameters) - 1
    return (_Fn1 if n_inputs == 1 else _Fn2)(fn, **modules)


def op_rows(model: nn.Module, *shapes) -> pd.DataFrame:
    """The op rows (no inputs, outputs or constants) of an analysis of ``model``."""
    a = costmodel.analyze(model, list(shapes) if len(shapes) > 1 else shapes[0])
    return a.ops.reset_index(drop=True)


def single(model: nn.Module, *shapes) -> pd.Series:
    """The one op row of an analysis of a one-op model."""
    rows = op_rows(model, *shapes)
    assert len(rows) == 1, rows[["name", "category", "aten_ops"]]
    return rows.iloc[0]


def flop_counter_macs(model: nn.Module, shape) -> int:
    """MACs as torch's own FlopCounterMode counts them (FLOPs / 2), on fake tensors."""
    with torch.no_grad(), FakeTensorMode(allow_non_fake_inputs=True) as mode:
        x = mode.from_tensor(torch.empty(shape))
        with FlopCounterMode(display=False) as counter:
            model.eval()(x)
    return counter.get_total_flops() // 2
