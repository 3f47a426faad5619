"""Convolutions: dense kxk, pointwise 1x1, depthwise and grouped, told apart by kernel and groups.

The kind matters for latency far beyond MACs: a depthwise or grouped convolution runs one small
kernel per group on builds without native grouped kernels (see the study, paper.md).
"""

from __future__ import annotations

from costmodel.analysis.ops.registry import OpCost, aten, formula, numel


def conv_kind(in_channels: int, out_channels: int, groups: int, kernel: tuple[int, ...]) -> str:
    """The category: depthwise (one input channel per group), grouped, pointwise or dense."""
    if groups > 1:
        return "conv_depthwise" if groups == in_channels else "conv_grouped"
    return "conv_pointwise" if all(k == 1 for k in kernel) else "conv_dense"


@formula(aten.convolution, aten._convolution)
def convolution(
    x, w, bias, stride, padding, dilation, transposed, output_padding, groups, *_, out, **__
) -> OpCost:
    # w = (C_out, C_in / groups, *kernel). Each output element of a forward conv is a dot product
    # of length C_in / groups * prod(kernel): MACs = numel(out) * prod(w[1:]). For a transposed
    # conv every *input* element is scattered through the kernel: MACs = numel(x) * C_out/groups
    # * prod(kernel) = numel(x) * prod(w) / C_in (same as torch.utils.flop_counter).
    kernel = tuple(int(k) for k in w[2:])
    if transposed:
        in_channels, out_channels = int(w[0]), int(w[1]) * groups
        macs = numel(x) * numel(w[1:])
    else:
        in_channels, out_channels = int(w[1]) * groups, int(w[0])
        macs = numel(out) * numel(w[1:])
    bias_flops = numel(out) if bias is not None else 0
    return OpCost(
        conv_kind(in_channels, out_channels, groups, kernel),
        macs=macs,
        flops=2 * macs + bias_flops,
        attrs={
            "kernel": kernel,
            "stride": tuple(stride),
            "padding": tuple(padding),
            "dilation": tuple(dilation),
            "groups": int(groups),
            "in_channels": in_channels,
            "out_channels": out_channels,
            "transposed": bool(transposed),
        },
    )
