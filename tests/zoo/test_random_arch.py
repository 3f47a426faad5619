"""Random architectures: determinism per seed, variety, traceability, the MAC bound."""

from __future__ import annotations

import random
from collections import Counter

import pytest
import torch
import torch.fx
from torch.utils.flop_counter import FlopCounterMode

import costmodel.zoo as zoo
from costmodel.zoo.random_arch import PoolDown, build_random

SEEDS = range(50)


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def conv_linear_macs(model: torch.nn.Module, size: int = 32) -> float:
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        out = model(torch.randn(1, 3, size, size))
    return counter.get_total_flops() / 2, out


def test_same_seed_same_architecture():
    a, b = build_random(seed=17), build_random(seed=17)
    assert a.arch_description == b.arch_description
    assert n_params(a) == n_params(b)
    assert [type(m).__name__ for m in a.modules()] == [type(m).__name__ for m in b.modules()]
    assert str(a) == str(b)


def test_same_seed_and_torch_seed_same_parameters():
    torch.manual_seed(3)
    a = build_random(seed=5)
    torch.manual_seed(3)
    b = build_random(seed=5)
    for p, q in zip(a.state_dict().values(), b.state_dict().values(), strict=True):
        assert torch.equal(p, q)


def test_architecture_does_not_depend_on_global_rng():
    state_py, state_torch = random.getstate(), torch.get_rng_state()
    random.seed(1)
    torch.manual_seed(1)
    a = build_random(seed=9)
    random.seed(2)
    torch.manual_seed(2)
    b = build_random(seed=9)
    assert a.arch_description == b.arch_description
    # the generator leaves Python's global RNG alone
    random.seed(4)
    before = random.random()
    random.seed(4)
    build_random(seed=9)
    assert random.random() == before
    random.setstate(state_py)
    torch.set_rng_state(state_torch)


def test_different_seeds_differ():
    descriptions = {build_random(seed=s).arch_description for s in range(10)}
    assert len(descriptions) == 10


def test_fifty_seeds_trace_run_and_stay_under_the_bound():
    kinds: Counter[str] = Counter()
    for seed in SEEDS:
        model = build_random(seed=seed)
        torch.fx.symbolic_trace(model)
        macs, out = conv_linear_macs(model)
        assert out.shape == (1, 100)
        assert macs <= 60e6, seed
        # the generator's running count is exact for conv + linear (biases excluded)
        assert macs == pytest.approx(model.estimated_mmacs * 1e6, abs=1)
        assert len(model.blocks) <= 12 + 4  # blocks plus at most one pooling layer per stage
        kinds.update(line.split()[0] for line in model.arch_description.splitlines())
    # the seeds together cover every block kind and pooling downsampling
    blocks = ("basic", "bottleneck", "mbconv", "separable", "inception", "shuffle_v1", "shuffle_v2")
    for kind in blocks:
        assert kinds[kind], kind
    assert any(k.startswith("conv") for k in kinds)  # plain conv blocks
    assert any(k.endswith(("pool2x2", "pool3x3")) for k in kinds)  # pooling downsampling


def test_ops_mix_over_seeds():
    ops: set[str] = set()
    for seed in range(20):
        model = build_random(seed=seed)
        for m in model.modules():
            ops.add(type(m).__name__)
            if isinstance(m, torch.nn.Conv2d):
                if m.groups == m.in_channels and m.groups > 1:
                    ops.add("depthwise")
                elif m.groups > 1:
                    ops.add("grouped")
                if m.kernel_size == (1, 1):
                    ops.add("pointwise")
        graph = torch.fx.symbolic_trace(model).graph
        ops.update(
            getattr(n.target, "__name__", str(n.target))
            for n in graph.nodes
            if n.op in ("call_function", "call_method")
        )
    for op in ("depthwise", "grouped", "pointwise", "BatchNorm2d", "GroupNorm", "SqueezeExcite"):
        assert op in ops, op
    assert {"ReLU", "ReLU6", "SiLU", "Hardswish"} <= ops
    assert {"cat", "add", "mul", "chunk", "transpose", "contiguous", "view"} <= ops


@pytest.mark.parametrize("max_mmacs", [5.0, 20.0])
def test_smaller_bounds_and_other_input_sizes(max_mmacs):
    for seed in range(5):
        model = build_random(seed=seed, max_mmacs=max_mmacs, num_classes=10)
        macs, out = conv_linear_macs(model)
        assert macs <= max_mmacs * 1e6 and out.shape == (1, 10)
    model = build_random(seed=1, input_size=64, max_mmacs=max_mmacs)
    macs, out = conv_linear_macs(model, size=64)
    assert macs <= max_mmacs * 1e6 and out.shape == (1, 100)


def test_bad_arguments():
    with pytest.raises(ValueError, match="too small"):
        build_random(seed=0, max_mmacs=0.1)
    with pytest.raises(ValueError, match="seed"):
        build_random(seed="x")
    with pytest.raises(ValueError, match="input_size"):
        build_random(seed=0, input_size=4)


def test_spec_builds_random_network():
    spec = "random:seed=17&max_mmacs=30"
    model = zoo.build(spec)
    assert not model.training
    assert model.arch_description == build_random(seed=17, max_mmacs=30).arch_description
    assert zoo.family(spec) == "random"
    assert zoo.input_shape("random:seed=3&input_size=64") == (1, 3, 64, 64)
    with pytest.raises(ValueError, match="seed"):
        zoo.parse("random:max_mmacs=30")
    with pytest.raises(ValueError, match="unknown parameter"):
        zoo.parse("random:seed=1&depth=3")


def test_max_blocks_bounds_depth():
    for seed in range(10):
        model = build_random(seed=seed, max_blocks=2)
        assert sum(not isinstance(m, PoolDown) for m in model.blocks) <= 2
