"""Memoised block analysis: the same table as a full trace, and blocks seen before are reused."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn as nn

import costmodel
from costmodel.analysis import blocks, trace
from costmodel.analysis.capture import _GraphRunner, eval_mode
from costmodel.analysis.structure import structural_keys
from costmodel.zoo import build, input_shape
from costmodel.zoo.catalog import zoo_specs

NB201 = [
    "nb201:|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_1x1~1|none~2|",
    "nb201:|skip_connect~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|none~0|none~1|avg_pool_3x3~2|",
    "nb201:|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
]
RANDOM = [f"random:seed={i}" for i in range(8)]


def _same(model: nn.Module, shape, cold: bool = True, **kw) -> None:
    """No memo, a cold memo (when ``cold``) and a warm one give one table, totals and notes."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = costmodel.analyze(model, shape, reuse_blocks=False, **kw)
        runs = []
        if cold:
            blocks.clear()
            runs.append(costmodel.analyze(model, shape, **kw))
        runs.append(costmodel.analyze(model, shape, **kw))
    for got in runs:
        assert got.nodes.equals(full.nodes)
        assert got.totals == full.totals
        assert got.notes == full.notes


@pytest.mark.parametrize("spec", [*zoo_specs(), *NB201, *RANDOM])
def test_reuse_gives_the_full_trace_table(spec):
    # the memo holds whatever the models before left: blocks of this one may or may not be there
    _same(build(spec, device="meta"), input_shape(spec), cold=False)


@pytest.mark.parametrize("spec", ["resnet?depth=18", "shufflenetv2", "inceptionv3", *NB201[:1]])
def test_reuse_gives_the_full_trace_table_from_a_cold_memo(spec):
    _same(build(spec, device="meta"), input_shape(spec))


@pytest.mark.parametrize("runtime", ["executorch", "tflite"])
def test_reuse_gives_the_full_trace_table_after_lowering(runtime):
    for spec in NB201[:2] + ["mobilenetv2", "resnet?depth=18"]:
        _same(build(spec, device="meta"), input_shape(spec), runtime=runtime)


class _Pair(nn.Module):  # returns a tuple: indexing it must stay Python, not a getitem node
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Conv2d(4, 4, 1), nn.Conv2d(4, 4, 1)

    def forward(self, x):
        return self.a(x), self.b(x)


class _Scaled(nn.Module):  # reads its own parameter (a get_attr node)
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)
        self.scale = nn.Parameter(torch.ones(1, 4, 1, 1))

    def forward(self, x):
        return self.conv(x) * self.scale


class _Gated(nn.Module):  # called with a constant and with a keyword
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 1)

    def forward(self, x, k=1):
        return torch.relu(self.conv(x)) * k


class _Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)

    def forward(self, x):
        return torch.relu(self.bn(self.conv(x))) + x


class _Awkward(nn.Module):
    """Every reason a block must stay inline, beside plain repeated blocks."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU())
        self.pair = _Pair()
        self.scaled = _Scaled()
        self.gated = _Gated()
        self.repeat = nn.ModuleList([_Block() for _ in range(3)])
        self.tied = _Block()
        self.tied_again = nn.Sequential(self.tied)  # the same module at two paths

    def forward(self, x):
        x = self.stem(x)
        a, b = self.pair(x)
        x = self.scaled(a + b)
        x = self.gated(x, 2) + self.gated(x, k=3) + self.gated(x)
        for block in self.repeat:
            x = block(x)
        x = self.tied_again(self.tied(x))
        return self.repeat[0](x)  # a block called twice


def blocks_of(model: nn.Module) -> dict:
    """The blocks the analysis of ``model`` would keep as nodes now (it plans in eval mode)."""
    tracer = trace._Tracer(set(), ())
    with eval_mode(model):
        return blocks.plan(model, structural_keys(model), tracer.is_leaf_module, (), ())


def test_blocks_that_reuse_could_change_are_kept_inline():
    model = _Awkward()
    _same(model, (1, 3, 8, 8))  # analysed twice with reuse: every block has been met before
    planned = blocks_of(model)
    assert {"stem", "gated", "repeat.0", "repeat.1", "repeat.2"} <= set(planned)
    assert not {"pair", "scaled", "tied", "tied_again"} & set(planned)


def test_a_model_whose_blocks_were_seen_is_not_traced_again(monkeypatch):
    spec = "resnet?depth=18"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        blocks.clear()
        # from a cold memo only blocks repeated in the model are kept as nodes: a one-off
        # analysis pays nothing for reuse; blocks met once are blocks when met again
        planned = blocks_of(build(spec, device="meta"))
        assert "stem" not in planned and {"stages.0.0", "stages.0.1"} <= set(planned)
        blocks.clear()
        first = costmodel.analyze(build(spec, device="meta"), input_shape(spec))
        costmodel.analyze(build(spec, device="meta"), input_shape(spec))
        traced, runs = [], []
        real_trace, real_init = trace.fx_trace, _GraphRunner.__init__
        monkeypatch.setattr(
            trace, "fx_trace", lambda m, *a, **k: traced.append(type(m)) or real_trace(m, *a, **k)
        )

        def counting_init(self, root, *a, **k):
            runs.append(type(root).__name__)
            real_init(self, root, *a, **k)

        monkeypatch.setattr(_GraphRunner, "__init__", counting_init)
        again = costmodel.analyze(build(spec, device="meta"), input_shape(spec))  # new instance
    assert again.nodes.equals(first.nodes)
    assert len(traced) == 1  # the root's own forward only: every block came from the memo
    assert runs == [type(build(spec, device="meta")).__name__]


def test_the_memo_is_bounded(monkeypatch):
    monkeypatch.setattr(blocks, "_LIMIT", 3)
    blocks.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        costmodel.analyze(build("resnet?depth=18", device="meta"), (1, 3, 32, 32))
    assert len(blocks._TRACES) <= 3 and len(blocks._RUNS) <= 3


def test_a_failure_of_reuse_itself_never_fails_the_analysis(monkeypatch):
    model = build("resnet?depth=18", device="meta")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = costmodel.analyze(model, (1, 3, 32, 32), reuse_blocks=False)

        def broken(*_a, **_k):
            raise KeyError("a bug in splicing")

        monkeypatch.setattr(costmodel.analysis.api, "plan", broken)
        got = costmodel.analyze(model, (1, 3, 32, 32))  # planning fails: no reuse
    assert got.nodes.equals(full.nodes)
    monkeypatch.undo()
    blocks.clear()
    costmodel.analyze(model, (1, 3, 32, 32))  # meet the blocks once
    monkeypatch.setattr(blocks, "splice", broken)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = costmodel.analyze(model, (1, 3, 32, 32))  # running fails: traced again in full
    assert got.nodes.equals(full.nodes)
