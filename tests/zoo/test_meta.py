"""Meta builds skip initialisation yet give the same model; the patch never outlives its use."""

import pytest
import torch
import torch.nn as nn
from torch.nn import init
from torch.nn.modules.batchnorm import _NormBase

from costmodel.zoo import build
from costmodel.zoo.meta import INIT_FUNCTIONS, skip_meta_init

SPECS = [
    "resnet?depth=18&width=0.25",
    "mobilenetv2?width=0.35",
    "vit",  # trunc_normal_ on its own parameter
    "densenet",
    "nb201:|nor_conv_3x3~0|+|none~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_1x1~1|none~2|",
    "random:seed=3",
]


def _originals():
    return {n: getattr(init, n) for n in INIT_FUNCTIONS} | {
        "reset_running_stats": _NormBase.reset_running_stats
    }


def _layout(model: nn.Module):
    tensors = [*model.named_parameters(), *model.named_buffers()]
    return [(n, tuple(t.shape), t.dtype, isinstance(t, nn.Parameter)) for n, t in tensors]


@pytest.mark.parametrize("spec", SPECS)
def test_meta_build_has_the_real_build_s_tensors(spec):
    meta, real = build(spec, device="meta"), build(spec)
    assert all(t.is_meta for t in [*meta.parameters(), *meta.buffers()])
    assert _layout(meta) == _layout(real)
    assert not meta.training and not real.training


def test_real_builds_are_still_initialised():
    before = _originals()
    torch.manual_seed(0)
    a = build("resnet?depth=18&width=0.25")
    torch.manual_seed(0)
    with skip_meta_init():  # active: a real tensor is initialised as always
        b = build("resnet?depth=18&width=0.25")
        bn = nn.BatchNorm2d(4)
    assert _originals() == before
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.equal(x, y), name
    assert bn.running_var.eq(1).all() and bn.weight.eq(1).all()


def test_the_patch_is_removed_after_an_error_and_when_nested(tmp_path):
    before = _originals()
    (tmp_path / "broken.py").write_text("def build():\n    raise RuntimeError('boom')\n")
    with pytest.raises(ValueError, match="boom"):
        build(f"{tmp_path / 'broken.py'}:build", device="meta")  # raises inside the patch
    assert _originals() == before
    with skip_meta_init():
        with skip_meta_init():
            assert init.kaiming_uniform_ is not before["kaiming_uniform_"]
        assert init.kaiming_uniform_ is not before["kaiming_uniform_"]
    assert _originals() == before
