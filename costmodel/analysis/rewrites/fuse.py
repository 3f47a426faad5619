"""Fusions: an op that a runtime computes inside the op producing its input (batch norm folded
into the convolution's weights, an activation applied as the convolution's output clamp)."""

from __future__ import annotations

from collections.abc import Callable

from costmodel.analysis.capture import NodeRecord
from costmodel.analysis.rewrites.graph import absorb, users
from costmodel.analysis.rewrites.registry import rule
from costmodel.analysis.taxonomy import MAC_CATEGORIES, NON_OP_CATEGORIES

_CONV_LINEAR = MAC_CATEGORIES - {"attention", "matmul"}


def fuse_into_producer(
    records: list[NodeRecord],
    fusable: Callable[[NodeRecord], bool],
    producers: frozenset[str],
) -> int:
    """Merge every node ``fusable`` says a runtime fuses into its producer, when the producer's
    category is in ``producers`` and the node is the producer's only user; return how many."""
    by_name = {r.name: r for r in records}
    readers = users(records)
    merged = 0
    for r in list(records):
        if not fusable(r):
            continue
        data = [i for i in r.inputs if by_name[i].category not in NON_OP_CATEGORIES]
        if len(data) != 1:
            continue
        producer = by_name[data[0]]
        if producer.category not in producers or len(readers[producer.name]) != 1:
            continue
        absorb(records, producer, r)
        readers = users(records)
        by_name.pop(r.name)
        merged += 1
    return merged


@rule("fold_batchnorm")
def fold_batchnorm(records: list[NodeRecord]) -> int:
    """Fold eval-mode batch norm into the convolution or linear layer before it (its scale and
    shift become the layer's weights and bias), when the layer has no other user."""
    return fuse_into_producer(records, lambda r: r.category == "batchnorm", _CONV_LINEAR)


def _aten(r: NodeRecord) -> set[str]:
    return {op.split(".")[1] if op.startswith("aten.") else op for op in r.aten_ops}


def _activation_rule(name: str, ops: frozenset[str], producers: frozenset[str]) -> None:
    def fuse(records: list[NodeRecord]) -> int:
        return fuse_into_producer(
            records,
            lambda r: r.category == "activation" and bool(_aten(r)) and _aten(r) <= ops,
            producers,
        )

    fuse.__doc__ = f"Fuse {', '.join(sorted(ops))} into a {', '.join(sorted(producers))} producer."
    rule(name)(fuse)


_RELU_CLAMP = frozenset({"relu", "relu_", "hardtanh", "hardtanh_", "clamp", "clamp_"})
_ADD = frozenset({"elementwise"})
# XNNPACK (FuseActivationPass): ReLU and hardtanh/clamp become the output range of conv,
# linear and binary element-wise ops.
_activation_rule("fuse_activation_xnnpack", _RELU_CLAMP, _CONV_LINEAR | _ADD)
# ONNX Runtime CPU (ConvActivationFusion, GemmActivationFusion): Relu, Clip, Sigmoid, Tanh,
# LeakyRelu, HardSigmoid into Conv / Gemm (FusedConv, FusedGemm); not into Add. A batch norm
# left standing (no conv before it, e.g. DenseNet's BN-ReLU-conv) runs as an NCHWc op on x86
# and takes the ReLU after it too (its profile shows no Relu of its own). NCHWc convolutions
# also apply HardSwish themselves (MobileNetV3's profile shows no HardSwish node).
_activation_rule(
    "fuse_activation_ort",
    _RELU_CLAMP
    | frozenset({"sigmoid", "sigmoid_", "tanh", "tanh_", "leaky_relu", "leaky_relu_"})
    | frozenset({"hardsigmoid", "hardsigmoid_", "hardswish", "hardswish_"}),
    _CONV_LINEAR | frozenset({"batchnorm"}),
)
# TFLite: fused_activation_function RELU / RELU6 / RELU_N1_TO_1 of conv, fully connected, add.
_activation_rule("fuse_activation_tflite", _RELU_CLAMP, _CONV_LINEAR | _ADD)


# ONNX Runtime's NCHWc layout (x86 with AVX2 / AVX-512): a convolution whose output channels fill
# whole blocks takes the residual add that reads it as its ``Sum`` input and applies the
# activation after it (profiled as ``Conv`` with ``Sum`` and ``activation`` attributes): the add
# and the ReLU run inside the convolution. Blocks are 8 channels (the 2-core x86 board's
# profiles fuse convs of 24 channels).
_NCHWC_BLOCK = 8
_ADD_OPS = frozenset({"add", "add_"})


@rule("fuse_sum_ort")
def fuse_sum_ort(records: list[NodeRecord]) -> int:
    """Merge an element-wise add into the convolution producing one of its two inputs (the one
    computed last, whose only user is the add, with whole NCHWc blocks of output channels); the
    add's other input becomes the convolution's ``Sum`` input."""
    by_name = {r.name: r for r in records}
    order = {r.name: i for i, r in enumerate(records)}
    readers = users(records)
    merged = 0
    for r in list(records):
        if r.category != "elementwise" or not _aten(r) or not _aten(r) <= _ADD_OPS:
            continue
        if len(r.inputs) != 2:  # two tensors (the graph input may be one), not x + 1
            continue
        convs = [
            by_name[i]
            for i in r.inputs
            if by_name[i].category in _CONV_LINEAR - {"linear"}
            and len(readers[i]) == 1
            and by_name[i].attrs.get("out_channels", 0) % _NCHWC_BLOCK == 0
            and by_name[i].attrs.get("out_channels", 0) > 0
        ]
        if not convs:
            continue
        conv = max(convs, key=lambda c: order[c.name])
        other = [i for i in r.inputs if i != conv.name]
        absorb(records, conv, r)
        conv.inputs = list(dict.fromkeys([*conv.inputs, *other]))
        by_name.pop(r.name)
        readers = users(records)
        merged += 1
    return merged
