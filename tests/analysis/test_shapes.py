"""Every fast shape rule gives exactly what the real meta kernel gives."""

import pytest
import torch

from costmodel.analysis.shapes import lookup

aten = torch.ops.aten


def meta(*shape, dtype=torch.float32):
    return torch.empty(shape, device="meta", dtype=dtype)


x = meta(2, 8, 5, 5)
xt = meta(2, 5, 5, 8).permute(0, 3, 1, 2)  # channels-last layout
c = meta(8)
CASES = [
    (aten.relu.default, (x,)),
    (aten.relu.default, (xt,)),
    (aten.hardtanh.default, (x, 0.0, 6.0)),
    (aten.hardswish.default, (x,)),
    (aten.gelu.default, (x,)),
    (aten.sigmoid.default, (xt,)),
    (aten.relu_.default, (x,)),
    (aten.hardtanh_.default, (x, 0.0, 6.0)),
    (aten.add.Tensor, (x, x)),
    (aten.add.Tensor, (x, meta(2, 8, 1, 1))),  # SE-style broadcast
    (aten.add.Tensor, (meta(2, 8, 1, 1), x)),
    (aten.mul.Tensor, (x, 0.0)),
    (aten.mul.Tensor, (meta(1, 8), meta(3, 1))),  # both sides broadcast
    (aten.mul.Tensor, (meta(5, dtype=torch.float16), meta(5))),  # type promotion
    (aten.div.Tensor, (xt, xt)),
    (aten.sub.Tensor, (x, meta())),
    (aten.add_.Tensor, (x, x)),
    (aten._native_batch_norm_legit_no_training.default, (x, c, c, c, c, 0.1, 1e-5)),
    (aten.native_batch_norm.default, (x, c, c, c, c, False, 0.1, 1e-5)),
    (aten.native_layer_norm.default, (meta(2, 7, 8), [8], meta(8), meta(8), 1e-5)),
    (aten.native_layer_norm.default, (meta(2, 7, 8), [7, 8], None, None, 1e-5)),
    (aten.addmm.default, (meta(10), meta(3, 8), meta(10, 8).t())),
    (aten.mean.dim, (x, [2, 3], True)),
    (aten.mean.dim, (x, [-1, -2], False)),
    (aten.mean.dim, (x, [1])),
    (aten.mean.default, (x,)),
]


def _layout(t):
    if isinstance(t, (tuple, list)):
        return [_layout(v) for v in t]
    return (tuple(t.shape), t.dtype, tuple(t.stride()) if t.numel() > 1 else None)


@pytest.mark.parametrize("op, args", CASES, ids=[str(op) for op, _ in CASES])
def test_fast_rule_matches_meta_kernel(op, args):
    fast = lookup(op)
    assert fast is not None
    assert _layout(fast(*args)) == _layout(op(*args))


def test_inplace_rule_returns_its_input():
    assert lookup(aten.relu_.default)(x) is x


def test_training_batch_norm_and_unlisted_overloads_use_the_kernel():
    assert lookup(aten.native_batch_norm.default)(x, c, c, c, c, True, 0.1, 1e-5) is NotImplemented
    assert lookup(aten.add.out) is None
    assert lookup(aten.convolution.default) is None
