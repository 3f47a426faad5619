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
    (aten.convolution.default, (x, meta(16, 8, 3, 3), meta(16), [1], [1], [1], False, [0], 1)),
    (
        aten.convolution.default,
        (x, meta(8, 1, 3, 3), None, [2, 2], [0, 0], [1, 1], False, [0, 0], 8),
    ),
    (
        aten.convolution.default,
        (x, meta(4, 2, 3, 1), None, [1, 2], [2, 0], [2, 1], False, [0, 0], 4),
    ),
    (aten.convolution.default, (meta(2, 4, 9), meta(6, 4, 3), None, [1], [1], [1], False, [0], 1)),
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
    assert lookup(aten.convolution_backward.default) is None
    conv = lookup(aten.convolution.default)  # transposed, channels-last: the kernel decides
    assert conv(x, meta(8, 4, 3, 3), None, [1], [0], [1], True, [0], 1) is NotImplemented
    last = x.to(memory_format=torch.channels_last)
    assert conv(last, meta(8, 8, 1, 1), None, [1], [0], [1], False, [0], 1) is NotImplemented


# Arguments the real meta kernels reject: a fast rule must reject them too (issue 12, item 2:
# Linear(10, 5) on a (1, 7) input used to get 35 MACs).
BAD_CASES = [
    (aten.add.Tensor, (meta(2, 3), meta(2, 4))),
    (aten.mul.Tensor, (meta(2, 8, 5, 5), meta(3, 1, 1))),
    (aten.add_.Tensor, (meta(2, 1), meta(2, 4))),  # broadcasts beyond its destination
    (aten.addmm.default, (meta(5), meta(1, 7), meta(10, 5))),
    (aten.addmm.default, (meta(6), meta(1, 10), meta(10, 5))),  # bias of the wrong size
    (aten.addmm.default, (meta(5), meta(1, 10, 1), meta(10, 5))),
    (aten.native_layer_norm.default, (meta(2, 7, 8), [7], meta(7), meta(7), 1e-5)),
    (aten.native_layer_norm.default, (meta(2, 7, 8), [8], meta(7), meta(7), 1e-5)),
    (aten._native_batch_norm_legit_no_training.default, (x, meta(4), c, c, c, 0.1, 1e-5)),
    (aten.native_batch_norm.default, (x, c, c, meta(3), c, False, 0.1, 1e-5)),
    (aten.mean.dim, (x, [4])),
    (aten.mean.dim, (x, [-5], True)),
    (aten.mean.dim, (x, [1, -3])),
]


@pytest.mark.parametrize("op, args", BAD_CASES, ids=[str(op) for op, _ in BAD_CASES])
def test_fast_rule_raises_where_the_meta_kernel_raises(op, args):
    with pytest.raises((RuntimeError, IndexError, ValueError)):
        op(*args)  # the premise: the real kernel rejects these arguments
    fast = lookup(op)
    assert fast is not None
    with pytest.raises((RuntimeError, IndexError, ValueError)):
        fast(*args)


def test_integer_tensors_are_left_to_the_kernel():
    ints = meta(2, 3, dtype=torch.int64)
    assert lookup(aten.div.Tensor)(ints, ints) is NotImplemented  # true division gives floats
    assert lookup(aten.mean.dim)(ints, [1]) is NotImplemented


def test_invalid_shapes_fail_the_analysis():
    import torch.nn as nn

    import costmodel
    from costmodel.analysis import AnalysisError

    with pytest.raises(AnalysisError, match="cannot be multiplied"):
        costmodel.analyze(nn.Linear(10, 5), input_shape=(1, 7))
    with pytest.raises(AnalysisError, match="classifier"):
        costmodel.analyze("vgg16", input_shape=(1, 3, 64, 64))  # its forward fails there too
