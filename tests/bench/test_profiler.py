"""In-context per-op timing: the profiler's real events on tiny tensors mapped to fx nodes.

Structure is asserted (which node got which ATen ops), never timing.
"""

import copy

import pytest
import torch
import torch.nn as nn
from fixtures_models import Concat, Residual

from costmodel.analysis import analyze
from costmodel.bench.profiler import Overhead, module_ranges, profile_model

NO_OVERHEAD = Overhead(nested_us=0.0, hook_us=0.0, hook_inside_us=0.0)


class Shuffle(nn.Module):
    def __init__(self, groups: int = 2) -> None:
        super().__init__()
        self.groups = groups
        self.conv = nn.Conv2d(4, 4, 1, groups=2)

    def forward(self, x):
        x = self.conv(x)
        n, c, h, w = x.size()
        x = x.view(n, self.groups, c // self.groups, h, w)
        x = torch.transpose(x, 1, 2).contiguous()
        return x.view(n, c, h, w)


def _profile(model, shape=(1, 4, 8, 8)):
    model.eval()
    x = torch.randn(shape)
    a = analyze(model, shape)
    return profile_model(model, (x,), a, repeats=2, overhead=NO_OVERHEAD, profiled_repeats=2), a


def _children(result, node):
    return set(result.nodes.set_index("node").at[node, "children"])


def test_conv_bn_relu_block_maps_each_leaf_module():
    model = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU())
    r, a = _profile(model)
    assert list(r.nodes["node"]) == ["_0", "_1", "_2"]
    assert list(r.nodes["category"]) == ["conv_dense", "batchnorm", "activation"]
    assert (r.nodes["n_events"] >= 1).all() and r.unmapped_us == 0
    assert "convolution" in _children(r, "_0") and "native_batch_norm" in _children(r, "_1")
    assert set(r.aten.index) >= {"conv2d", "batch_norm", "relu"}


def test_residual_add_is_the_containers_own_op():
    r, _ = _profile(Residual())
    by = r.nodes.set_index("node")
    assert {"block_0", "block_1", "block_2", "add", "relu"} <= set(by.index)
    assert by.at["add", "category"] == "elementwise" and by.at["add", "n_events"] == 1
    assert r.unmapped_us == 0


def test_concat_maps_to_the_cat_node():
    r, _ = _profile(Concat())
    by = r.nodes.set_index("node")
    assert by.at["cat", "category"] == "concat" and by.at["cat", "n_events"] >= 1
    assert set(by.index) == {"a", "b", "cat"}


def test_channel_shuffle_chain_aligned_node_by_node():
    r, a = _profile(Shuffle())
    by = r.nodes.set_index("node")
    assert {"view", "transpose", "contiguous", "view_1"} <= set(by.index)
    assert "clone" in _children(r, "contiguous") or "copy_" in _children(r, "contiguous")
    assert (by.loc[["view", "transpose", "view_1"], "n_events"] >= 1).all()
    assert r.unmapped_us == 0
    shape_nodes = set(a.nodes.loc[a.nodes["category"] == "shape", "name"])
    assert not shape_nodes & set(by.index)  # size() and getitem dispatch nothing


def test_grouped_conv_without_onednn_shows_the_per_group_loop():
    model = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1, groups=4))
    with torch.backends.mkldnn.flags(enabled=False):
        r, _ = _profile(model, (1, 8, 8, 8))
    parts = _children(r, "_0")
    assert {"slice", "narrow"} <= parts
    assert r.aten.get("narrow", 0) > 0


def test_profiling_leaves_the_model_unchanged():
    model = Residual().eval()
    before = copy.deepcopy(model.state_dict())
    attrs = {k: set(vars(m)) for k, m in model.named_modules()}
    _profile(model)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert {k: set(vars(m)) for k, m in model.named_modules()} == attrs
    for m in model.modules():
        assert not m._forward_hooks and not m._forward_pre_hooks
    from torch.nn.modules import module as M

    assert not M._global_forward_hooks and not M._global_forward_pre_hooks


def test_hooks_are_removed_when_the_forward_raises():
    from torch.nn.modules import module as M

    class Boom(nn.Module):
        def forward(self, x):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError), module_ranges(Boom()):
        Boom()(torch.zeros(1))
    assert not M._global_forward_hooks and not M._global_forward_pre_hooks


def test_totals_add_up():
    r, _ = _profile(Residual())
    assert r.total_us == pytest.approx(r.nodes["latency_us"].sum() + r.between_us + r.unmapped_us)
    assert r.repeats == 2 and r.raw_us > 0


def test_profiling_prints_no_kineto_log_lines(tmp_path):
    """Kineto's ``USDT ... profiler_start/stop`` lines stay off the user's terminal."""
    import os
    import subprocess
    import sys

    code = (
        "import torch, torch.nn as nn\n"
        "from costmodel.bench.profiler import profile_model\n"
        "profile_model(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()), (torch.zeros(1, 3, 8, 8),),"
        " repeats=2)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "KINETO_LOG_LEVEL"}
    env["COSTMODEL_CACHE"] = str(tmp_path)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "USDT" not in out.stderr + out.stdout
