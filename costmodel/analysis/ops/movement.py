"""Data movement: concatenation, splitting, views, permutes, copies and padding.

Zero-copy ops (views, permutes, slices, splits, expand) move no data (``moves_data=False``); what
they cost is framework overhead per call, which the engine counts as one op. Copies (``clone``:
what ``contiguous()`` and ``reshape`` of a strided tensor do), concatenation and padding read
their inputs and write their outputs; they do no arithmetic (FLOPs 0).
"""

from __future__ import annotations

from costmodel.analysis.ops.registry import OpCost, aten, formula

ZERO_COPY_VIEWS = (
    aten.view,
    aten._unsafe_view,
    aten.reshape,
    aten.flatten,
    aten.squeeze,
    aten.squeeze_,
    aten.unsqueeze,
    aten.unsqueeze_,
    aten.alias,
    aten.view_as,
    aten.unflatten,
    aten.detach,
    aten.lift_fresh,
)
ZERO_COPY_PERMUTES = (
    aten.permute,
    aten.transpose,
    aten.t,
    aten.expand,
    aten.as_strided,
    aten.as_strided_,
    aten.unfold,
    aten.diagonal,
)
ZERO_COPY_SPLITS = (
    aten.slice,
    aten.select,
    aten.split,
    aten.split_with_sizes,
    aten.chunk,
    aten.unbind,
    aten.narrow,
)


@formula(*ZERO_COPY_VIEWS)
def view(*_, out, **__) -> OpCost:
    return OpCost("reshape", moves_data=False)


@formula(*ZERO_COPY_PERMUTES)
def permute(*_, out, **__) -> OpCost:
    return OpCost("permute", moves_data=False)


@formula(*ZERO_COPY_SPLITS)
def split(*_, out, **__) -> OpCost:
    return OpCost("split", moves_data=False)


@formula(aten.clone, aten.copy_, aten.copy, aten._to_copy, aten.contiguous)
def copy(*_, out, **__) -> OpCost:
    return OpCost("copy")


@formula(aten.cat, aten.stack)
def concat(tensors, dim=0, *_, out, **__) -> OpCost:
    return OpCost("concat", attrs={"n_inputs": len(tensors)})


@formula(aten.constant_pad_nd, aten.reflection_pad2d, aten.replication_pad2d)
def pad(*_, out, **__) -> OpCost:
    return OpCost("pad")


@formula(aten.channel_shuffle, aten.native_channel_shuffle, aten.pixel_shuffle)
def shuffle(*_, out, **__) -> OpCost:
    # nn.ChannelShuffle as one ATen op: a permuting copy of the whole tensor.
    return OpCost("shuffle")
