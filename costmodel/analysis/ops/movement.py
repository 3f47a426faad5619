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
    aten.detach_,
    aten.lift_fresh,
)
ZERO_COPY_PERMUTES = (
    aten.permute,
    aten.transpose,
    aten.t,
    aten.t_,
    aten.transpose_,
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
    aten.unsafe_split,
    aten.unsafe_split_with_sizes,
    aten.unsafe_chunk,
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


@formula(
    aten.clone,
    aten.copy_,
    aten.copy,
    aten._to_copy,
    aten.contiguous,
    # the *_copy variants of views materialise the view
    aten.alias_copy,
    aten.lift_fresh_copy,
    aten.permute_copy,
    aten.view_copy,
    aten.expand_copy,
    aten.squeeze_copy,
    aten.unsqueeze_copy,
    aten.transpose_copy,
    # reordering copies: every output element is one input element moved
    aten.roll,
    aten.flip,
    aten.repeat,
    aten.im2col,
    aten.col2im,
)
def copy(*_, out, **__) -> OpCost:
    return OpCost("copy")


@formula(
    aten.index,
    aten._unsafe_index,
    aten.index_select,
    aten.gather,
    aten.take,
    aten.embedding,
)
def gather(*_, out, **__) -> OpCost:
    # A gather (x[idx], embedding tables, index_select): each output element is one input element
    # fetched through an index; no arithmetic. The engine counts the index tensor's bytes too.
    return OpCost("copy", attrs={"gather": True})


@formula(
    aten.index_put,
    aten.index_put_,
    aten._unsafe_index_put,
    aten.scatter,
    aten.scatter_,
    aten.scatter_add,
    aten.scatter_add_,
    aten.scatter_reduce,
    aten.select_scatter,
    aten.slice_scatter,
    aten.diagonal_scatter,
)
def scatter(x, *_, out, **__) -> OpCost:
    # A scatter writes a copy of x with some elements replaced (or accumulated: at most one add
    # per written element, counted as numel(out) FLOPs for the accumulating forms' upper bound).
    return OpCost("copy", attrs={"scatter": True})


@formula(aten.cat, aten.stack)
def concat(tensors, dim=0, *_, out, **__) -> OpCost:
    return OpCost("concat", attrs={"n_inputs": len(tensors)})


@formula(
    aten.constant_pad_nd,
    aten.reflection_pad1d,
    aten.reflection_pad2d,
    aten.reflection_pad3d,
    aten.replication_pad1d,
    aten.replication_pad2d,
    aten.replication_pad3d,
)
def pad(*_, out, **__) -> OpCost:
    return OpCost("pad")


@formula(
    aten.channel_shuffle, aten.native_channel_shuffle, aten.pixel_shuffle, aten.pixel_unshuffle
)
def shuffle(*_, out, **__) -> OpCost:
    # nn.ChannelShuffle as one ATen op: a permuting copy of the whole tensor.
    return OpCost("shuffle")
