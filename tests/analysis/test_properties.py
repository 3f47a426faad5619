"""Property-based tests: random layer stacks on random shapes (hypothesis).

For any stack, analysis either raises the documented error (AnalysisError, exactly where the
model's own forward fails) or returns MAC totals equal to FlopCounterMode's; the model is left
unchanged; features read back from the cache equal freshly computed ones. The default run tries
a few dozen stacks; ``-m slow`` tries many more.
"""

import copy
import json

import pytest
import torch
import torch.nn as nn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oneop import flop_counter_macs

import costmodel
from costmodel.analysis import AnalysisError
from costmodel.predict.cache import _decode, _encode
from costmodel.predict.features import _node_table

FAST = settings(
    max_examples=25,
    deadline=None,
    database=None,  # hermetic: no .hypothesis folder
    suppress_health_check=[HealthCheck.too_slow],
)
MANY = settings(FAST, max_examples=400)


@st.composite
def stacks(draw):
    """(model, input shape): convolutions, norms, activations, pools, resampling and an
    optional linear head, with channel counts that chain and sizes that may not fit."""
    channels = draw(st.integers(1, 6))
    shape = (draw(st.integers(1, 2)), channels, draw(st.integers(1, 12)), draw(st.integers(1, 12)))
    layers = []
    for _ in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(["conv", "dwconv", "bn", "act", "maxpool", "avgpool", "up"]))
        if kind in ("conv", "dwconv"):
            out = (
                channels * draw(st.integers(1, 2)) if kind == "dwconv" else draw(st.integers(1, 8))
            )
            layers.append(
                nn.Conv2d(
                    channels,
                    out,
                    draw(st.integers(1, 4)),
                    stride=draw(st.integers(1, 2)),
                    padding=draw(st.integers(0, 2)),
                    groups=channels if kind == "dwconv" else 1,
                    bias=draw(st.booleans()),
                )
            )
            channels = out
        elif kind == "bn":
            layers.append(nn.BatchNorm2d(channels))
        elif kind == "act":
            layers.append(draw(st.sampled_from([nn.ReLU, nn.GELU, nn.Hardswish, nn.SiLU]))())
        elif kind == "maxpool":
            layers.append(nn.MaxPool2d(draw(st.integers(1, 3)), ceil_mode=draw(st.booleans())))
        elif kind == "avgpool":
            layers.append(nn.AvgPool2d(draw(st.integers(1, 3))))
        else:
            layers.append(
                nn.Upsample(scale_factor=2, mode=draw(st.sampled_from(["nearest", "bilinear"])))
            )
    if draw(st.booleans()):  # a head whose input size may or may not match what reaches it
        layers += [nn.Flatten(), nn.Linear(draw(st.integers(1, 300)), draw(st.integers(1, 10)))]
    return nn.Sequential(*layers), shape


def _snapshot(model):
    return (
        {k: v.clone() for k, v in model.state_dict().items()},
        [sorted(vars(m)) for m in model.modules()],
        [m.training for m in model.modules()],
    )


def _forward_fails(model, shape) -> bool:
    twin = copy.deepcopy(model).to("meta").eval()
    try:
        with torch.no_grad():
            twin(torch.empty(shape, device="meta"))
    except Exception:
        return True
    return False


def check_stack(case) -> None:
    model, shape = case
    before = _snapshot(model)
    try:
        a = costmodel.analyze(model, shape)
    except AnalysisError:
        assert _forward_fails(model, shape), "analysis failed where the model's forward works"
    else:
        assert not _forward_fails(model, shape), "analysis gave counts for a failing forward"
        assert a.totals["unknown"] == 0
        assert a.totals["macs"] == flop_counter_macs(copy.deepcopy(model), shape)
        fresh = _node_table(a.records)
        cached = _decode(json.loads(json.dumps(_encode(fresh))))
        assert cached.equals(fresh), (cached.dtypes, fresh.dtypes)
    after = _snapshot(model)
    assert before[1:] == after[1:]
    assert all(torch.equal(v, after[0][k]) for k, v in before[0].items())


@FAST
@given(stacks())
def test_random_stacks_count_exactly_or_fail_where_the_forward_fails(case):
    check_stack(case)


@pytest.mark.slow
@MANY
@given(stacks())
def test_many_random_stacks(case):
    check_stack(case)


@settings(FAST, max_examples=3)
@given(st.integers(0, 10_000))
def test_cached_and_uncached_features_agree(seed):
    from costmodel.predict.features import featurize

    spec = f"random:max_mmacs=3&seed={seed}"
    fresh = featurize([spec], cache=False)
    featurize([spec])  # fills the (test session's) cache
    again = featurize([spec])
    assert fresh.X.equals(again.X)
    assert fresh.nodes[spec].equals(again.nodes[spec])
