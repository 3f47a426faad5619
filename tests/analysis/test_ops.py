"""Per-op formulas, one op at a time, against hand-derived counts."""

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from oneop import Fn, op_rows, single

from costmodel.analysis.ops import formula, lookup

F32 = 4  # bytes per float32 element


@pytest.mark.parametrize(
    "conv, category, macs",
    [
        # dense 3x3: out 8x32x32, each a dot product of 3*3*3
        (nn.Conv2d(3, 8, 3, padding=1, bias=False), "conv_dense", 8 * 32 * 32 * 27),
        # pointwise: out 8x32x32, dot products of length 3
        (nn.Conv2d(3, 8, 1, bias=False), "conv_pointwise", 8 * 32 * 32 * 3),
        # depthwise (groups = in channels = 6): one 3x3 window per output element
        (nn.Conv2d(6, 6, 3, padding=1, groups=6, bias=False), "conv_depthwise", 6 * 32 * 32 * 9),
        # grouped: 6 -> 12 in 3 groups, dot products of length 2 * 9, stride 2 -> 16x16
        (nn.Conv2d(6, 12, 3, 2, 1, groups=3, bias=False), "conv_grouped", 12 * 16 * 16 * 18),
        # depthwise with channel multiplier 2 (groups = in channels) is still depthwise
        (nn.Conv2d(6, 12, 3, padding=1, groups=6, bias=False), "conv_depthwise", 12 * 32 * 32 * 9),
    ],
)
def test_convolution_kinds(conv, category, macs):
    c_in = conv.in_channels
    row = single(conv, (1, c_in, 32, 32))
    assert row["category"] == category
    assert row["macs"] == macs
    assert row["flops"] == 2 * macs
    assert row["groups"] == conv.groups
    assert row["in_channels"] == c_in and row["out_channels"] == conv.out_channels
    assert row["kernel"] == "x".join(map(str, conv.kernel_size))
    assert row["act_bytes_read"] == c_in * 32 * 32 * F32
    assert row["param_bytes_read"] == conv.weight.numel() * F32
    out = conv(torch.zeros(1, c_in, 32, 32))
    assert row["bytes_written"] == out.numel() * F32
    assert row["params"] == conv.weight.numel()


def test_conv_bias_adds_flops_and_param_reads():
    conv = nn.Conv2d(3, 4, 3, padding=1)
    row = single(conv, (1, 3, 8, 8))
    out_elems = 4 * 8 * 8
    assert row["macs"] == out_elems * 27
    assert row["flops"] == 2 * row["macs"] + out_elems
    assert row["param_bytes_read"] == (4 * 27 + 4) * F32


def test_transposed_convolution_scatters_each_input_element():
    conv = nn.ConvTranspose2d(4, 2, 2, stride=2, bias=False)
    row = single(nn.Sequential(conv), (1, 4, 5, 5))
    # every input element (4*5*5) is multiplied into C_out * k*k = 2 * 4 outputs
    assert row["macs"] == 4 * 5 * 5 * 2 * 4
    assert row["category"] == "conv_pointwise" or row["category"] == "conv_dense"


def test_linear_2d_and_3d():
    lin = nn.Linear(16, 10)
    row = single(lin, (2, 16))
    assert row["category"] == "linear"
    assert row["macs"] == 2 * 16 * 10
    assert row["flops"] == 2 * row["macs"] + 2 * 10
    assert row["param_bytes_read"] == (16 * 10 + 10) * F32
    assert row["act_bytes_read"] == 2 * 16 * F32
    rows = op_rows(nn.Linear(16, 10), (2, 5, 16))
    assert rows["macs"].sum() == 2 * 5 * 16 * 10
    assert set(rows["category"]) == {"linear"}


@pytest.mark.parametrize(
    "fn, shapes, macs",
    [
        (lambda s, a, b: a @ b, [(4, 8), (8, 3)], 4 * 8 * 3),
        (lambda s, a, b: torch.bmm(a, b), [(2, 4, 8), (2, 8, 3)], 2 * 4 * 8 * 3),
        (lambda s, a, b: torch.matmul(a, b), [(2, 3, 4, 8), (2, 3, 8, 5)], 6 * 4 * 8 * 5),
        (lambda s, a, b: torch.einsum("bij,bjk->bik", a, b), [(2, 4, 8), (2, 8, 3)], 2 * 4 * 8 * 3),
    ],
)
def test_matmul_family(fn, shapes, macs):
    rows = op_rows(Fn(fn), *shapes)
    assert rows["macs"].sum() == macs
    assert "matmul" in set(rows["category"])


def test_scaled_dot_product_attention():
    b, h, s, d = 1, 2, 16, 8
    row = single(Fn(lambda m, q: F.scaled_dot_product_attention(q, q, q)), (b, h, s, d))
    assert row["category"] == "attention"
    assert row["macs"] == b * h * s * s * (d + d)


@pytest.mark.parametrize(
    "module, category, flops_per_elem",
    [
        (nn.BatchNorm2d(4), "batchnorm", 2),
        (nn.GroupNorm(2, 4), "groupnorm", 5),
        (nn.ReLU(), "activation", 1),
        (nn.ReLU(inplace=True), "activation", 1),
        (nn.ReLU6(), "activation", 1),
        (nn.Hardtanh(), "activation", 1),
        (nn.SiLU(), "activation", 1),
        (nn.GELU(), "activation", 1),
        (nn.Sigmoid(), "activation", 1),
        (nn.Hardswish(), "activation", 1),
        (nn.Hardsigmoid(), "activation", 1),
        (nn.Tanh(), "activation", 1),
        (nn.Softmax(dim=1), "softmax", 4),
    ],
)
def test_norms_and_activations_are_elementwise(module, category, flops_per_elem):
    shape = (1, 4, 6, 6)
    row = single(nn.Sequential(module), shape)
    n = 4 * 6 * 6
    assert row["category"] == category
    assert row["macs"] == 0
    assert row["flops"] == flops_per_elem * n
    assert row["act_bytes_read"] == n * F32
    # norms also return statistics (mean and 1/std): per group for group norm (2 groups), per
    # channel for batch norm (4 channels; the meta kernel's save_mean and save_invstd)
    stats = {"groupnorm": 2 * 2, "batchnorm": 2 * 4}.get(category, 0)
    assert row["bytes_written"] == (n + stats) * F32


def test_layer_norm():
    row = single(nn.LayerNorm(8), (2, 5, 8))
    assert row["category"] == "layernorm" and row["flops"] == 5 * 2 * 5 * 8
    assert row["param_bytes_read"] == 16 * F32


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div"])
def test_arithmetic_with_broadcasting(op):
    fn = {
        "add": lambda m, x, s: x + s,
        "sub": lambda m, x, s: x - s,
        "mul": lambda m, x, s: x * s,  # SE scaling: (N, C, H, W) * (N, C, 1, 1)
        "div": lambda m, x, s: x / s,
    }[op]
    row = single(Fn(fn), (1, 8, 4, 4), (1, 8, 1, 1))
    assert row["category"] == "elementwise"
    assert row["flops"] == 8 * 4 * 4
    assert row["act_bytes_read"] == (8 * 16 + 8) * F32
    assert row["bytes_written"] == 8 * 16 * F32


def test_residual_add_reads_both_operands():
    row = single(Fn(lambda m, a, b: a + b), (1, 4, 8, 8), (1, 4, 8, 8))
    assert row["act_bytes_read"] == 2 * 256 * F32 and row["bytes_written"] == 256 * F32


@pytest.mark.parametrize(
    "module, flops",
    [
        (nn.MaxPool2d(2), 4 * 4 * 4 * 4),  # 4x4x4 outputs, 2x2 window each
        (nn.AvgPool2d(3, 1, 1), 4 * 8 * 8 * 9),
        (nn.AdaptiveAvgPool2d(1), 4 * 8 * 8),
    ],
)
def test_pooling(module, flops):
    row = single(nn.Sequential(module), (1, 4, 8, 8))
    assert row["category"] == "pooling"
    assert row["flops"] == flops


def test_global_pool_written_as_mean_is_a_reduction():
    row = single(Fn(lambda m, x: x.mean((2, 3))), (1, 4, 8, 8))
    assert row["category"] == "reduction" and row["flops"] == 256


def test_concat_and_stack_copy_their_inputs():
    row = single(Fn(lambda m, a, b: torch.cat([a, b], 1)), (1, 2, 4, 4), (1, 3, 4, 4))
    assert row["category"] == "concat" and row["is_copy"]
    assert row["act_bytes_read"] == 5 * 16 * F32 and row["bytes_written"] == 5 * 16 * F32
    assert row["flops"] == 0
    row = single(Fn(lambda m, a, b: torch.stack([a, b])), (2, 3), (2, 3))
    assert row["category"] == "concat"


@pytest.mark.parametrize(
    "fn, category",
    [
        (lambda m, x: x.view(1, -1), "reshape"),
        (lambda m, x: x.flatten(1), "reshape"),
        (lambda m, x: x.reshape(1, 4, 64), "reshape"),
        (lambda m, x: x.unsqueeze(0).squeeze(0), "reshape"),
        (lambda m, x: x.permute(0, 2, 3, 1), "permute"),
        (lambda m, x: x.transpose(1, 2), "permute"),
        (lambda m, x: x[:, :2], "split"),
        (lambda m, x: x.narrow(1, 0, 2), "split"),
    ],
)
def test_views_are_zero_copy(fn, category):
    rows = op_rows(Fn(fn), (1, 4, 8, 8))
    assert set(rows["category"]) == {category}
    assert rows["bytes_written"].sum() == 0 and rows["act_bytes_read"].sum() == 0
    assert not rows["is_copy"].any()


def test_split_and_chunk_with_getitem():
    rows = op_rows(Fn(lambda m, x: x.chunk(2, 1)[1] + x.split(2, 1)[0]), (1, 4, 8, 8))
    cats = list(rows["category"])
    assert cats.count("split") == 4  # chunk, getitem, split, getitem
    assert rows[rows["category"] == "split"]["bytes_written"].sum() == 0


def test_contiguous_and_strided_reshape_are_real_copies():
    row = op_rows(Fn(lambda m, x: x.transpose(1, 2).contiguous()), (1, 4, 8, 8)).iloc[1]
    assert row["category"] == "copy" and row["is_copy"]
    assert row["act_bytes_read"] == 256 * F32 and row["bytes_written"] == 256 * F32
    # reshape of a non-contiguous tensor must copy; the node records it
    rows = op_rows(Fn(lambda m, x: x.transpose(1, 2).reshape(1, -1)), (1, 4, 8, 8))
    assert rows.iloc[1]["category"] == "copy" and rows.iloc[1]["is_copy"]
    # reshape of a contiguous tensor does not
    assert single(Fn(lambda m, x: x.reshape(1, -1)), (1, 4, 8, 8))["is_copy"] == False  # noqa: E712


def _shuffle(m, x):
    n, c, h, w = x.shape
    return x.view(n, 3, c // 3, h, w).transpose(1, 2).contiguous().view(n, c, h, w)


def _shuffle_reshape(m, x):
    n, c, h, w = x.size()
    return x.reshape(n, 2, c // 2, h, w).permute(0, 2, 1, 3, 4).reshape(n, c, h, w)


@pytest.mark.parametrize("fn, groups", [(_shuffle, 3), (_shuffle_reshape, 2)])
def test_channel_shuffle_is_one_logical_op(fn, groups):
    a = __import__("costmodel").analyze(Fn(fn), (1, 12, 4, 4))
    shuffle = a.ops[a.ops["category"] == "shuffle"]
    assert len(shuffle) >= 3 and shuffle["pattern"].nunique() == 1
    assert (shuffle["groups"] == groups).all()
    assert a.by_category.loc["shuffle", "ops"] == 1
    assert shuffle["bytes_written"].sum() == 12 * 16 * F32  # exactly one real copy


def test_view_transpose_without_copy_back_is_not_a_shuffle():
    rows = op_rows(Fn(lambda m, x: x.view(1, 3, 4, 4, 4).transpose(1, 2)), (1, 12, 4, 4))
    assert "shuffle" not in set(rows["category"])


def test_pad_and_interpolate():
    row = single(Fn(lambda m, x: F.pad(x, (1, 1, 1, 1))), (1, 2, 4, 4))
    assert row["category"] == "pad" and row["bytes_written"] == 2 * 36 * F32
    row = single(Fn(lambda m, x: F.interpolate(x, scale_factor=2.0)), (1, 2, 4, 4))
    assert row["category"] == "interpolate" and row["flops"] == 2 * 64
    row = single(Fn(lambda m, x: F.interpolate(x, scale_factor=2.0, mode="bilinear")), (1, 2, 4, 4))
    assert row["flops"] == 4 * 2 * 64


def test_dropout_and_identity_are_free_in_eval_mode():
    for module in (nn.Dropout(0.5), nn.Identity(), nn.Dropout2d(0.1)):
        row = single(nn.Sequential(module), (1, 4, 2, 2))
        assert row["category"] == "free" and row["flops"] == 0 and row["n_aten_ops"] == 0


def test_unknown_op_is_reported_and_warned_never_zeroed():
    fn = Fn(lambda m, x: torch.special.bessel_j0(x) + 1)  # an op with no formula
    with pytest.warns(UserWarning, match="bessel_j0"):
        a = __import__("costmodel").analyze(fn, (2, 8))
    assert list(a.unknown_ops["unknown"]) == ["aten.special_bessel_j0 (no formula)"]
    assert a.totals["unknown"] == 1
    assert "UNKNOWN" in repr(a)
    row = a.nodes.set_index("name").loc["special_bessel_j0"]
    assert row["category"] == "unknown"
    assert row["bytes_written"] == 2 * 8 * F32  # what it moves is known and counted


def test_registry_rejects_duplicates():
    assert lookup(torch.ops.aten.convolution.default) is not None
    with pytest.raises(ValueError, match="already registered"):
        formula(torch.ops.aten.relu)(lambda *a, **k: None)


# Ops common in today's architectures (issue 12, "coverage of real models"): each must get a
# formula, never an 'unknown' row. (fn, input shapes, expected category of the row doing it)
_IDX = torch.tensor([0, 2, 1])
COVERAGE = [
    ("index", lambda s, x: x[:, _IDX], [(2, 4, 5)], "copy"),
    ("index_select", lambda s, x: torch.index_select(x, 1, _IDX), [(2, 4, 5)], "copy"),
    ("gather", lambda s, x: torch.gather(x, 1, torch.zeros(2, 3, 5, dtype=torch.long)),
     [(2, 4, 5)], "copy"),
    ("embedding", lambda s, x: s.emb(x.long()), [(2, 7)], "copy"),
    ("vector_norm", lambda s, x: torch.linalg.vector_norm(x, dim=-1), [(2, 4, 5)], "reduction"),
    ("normalize", lambda s, x: F.normalize(x, dim=-1), [(2, 4, 5)], "elementwise"),
    ("roll", lambda s, x: torch.roll(x, shifts=(1, 2), dims=(1, 2)), [(1, 8, 8, 4)], "copy"),
    ("sin_cos", lambda s, x: torch.sin(x) + torch.cos(x), [(2, 6)], "elementwise"),
    ("repeat", lambda s, x: x.repeat(1, 2, 1), [(2, 3, 4)], "copy"),
    ("tile", lambda s, x: torch.tile(x, (2, 1)), [(2, 3)], "copy"),
    ("expand_as", lambda s, x, y: x.expand_as(y) + y, [(1, 3), (4, 3)], "elementwise"),
    ("cumsum", lambda s, x: torch.cumsum(x, 1), [(2, 6)], "reduction"),
    ("topk", lambda s, x: torch.topk(x, 2, dim=1).values, [(2, 6)], "reduction"),
    ("sort", lambda s, x: torch.sort(x, dim=1).values, [(2, 6)], "reduction"),
    ("argmax", lambda s, x: torch.argmax(x, 1), [(2, 6)], "reduction"),
    ("masked_fill", lambda s, x: x.masked_fill(x > 0, 0.0), [(2, 6)], "elementwise"),
    ("gelu_tanh", lambda s, x: F.gelu(x, approximate="tanh"), [(2, 6)], "activation"),
    ("erf", lambda s, x: torch.erf(x), [(2, 6)], "elementwise"),
    ("glu", lambda s, x: F.glu(x, -1), [(2, 6)], "activation"),
    ("bmm", lambda s, x, y: torch.bmm(x, y), [(2, 3, 4), (2, 4, 5)], "matmul"),
    ("baddbmm", lambda s, x, y: torch.baddbmm(x[:, :, :1], x, y), [(2, 3, 4), (2, 4, 5)],
     "matmul"),
    ("sdpa_causal", lambda s, x: F.scaled_dot_product_attention(x, x, x, is_causal=True),
     [(1, 2, 8, 4)], "attention"),
    ("group_norm", lambda s, x: s.gn(x), [(2, 4, 5, 5)], "groupnorm"),
    ("instance_norm", lambda s, x: s.inorm(x), [(2, 4, 5, 5)], "batchnorm"),
    ("upsample_nearest1d", lambda s, x: F.interpolate(x, scale_factor=2), [(1, 2, 5)],
     "interpolate"),
    ("upsample_linear1d", lambda s, x: F.interpolate(x, scale_factor=2, mode="linear"),
     [(1, 2, 5)], "interpolate"),
    ("upsample_trilinear3d", lambda s, x: F.interpolate(x, scale_factor=2, mode="trilinear"),
     [(1, 2, 3, 3, 3)], "interpolate"),
    ("avg_pool1d", lambda s, x: F.avg_pool1d(x, 2), [(1, 2, 8)], "pooling"),
    ("avg_pool3d", lambda s, x: F.avg_pool3d(x, 2), [(1, 2, 4, 4, 4)], "pooling"),
    ("max_pool3d", lambda s, x: F.max_pool3d(x, 2), [(1, 2, 4, 4, 4)], "pooling"),
    ("max_pool_indices", lambda s, x: F.max_pool2d(x, 2, return_indices=True)[0],
     [(1, 2, 4, 4)], "pooling"),
    ("adaptive_avg_pool3d", lambda s, x: F.adaptive_avg_pool3d(x, 1), [(1, 2, 4, 4, 4)],
     "pooling"),
    ("flip", lambda s, x: torch.flip(x, (1,)), [(2, 6)], "copy"),
    ("pixel_unshuffle", lambda s, x: F.pixel_unshuffle(x, 2), [(1, 2, 4, 4)], "shuffle"),
    ("pad_reflect1d", lambda s, x: F.pad(x, (1, 1), mode="reflect"), [(1, 2, 6)], "pad"),
    ("lstm", lambda s, x: s.lstm(x)[0], [(5, 1, 4)], "linear"),
]  # fmt: skip


@pytest.mark.parametrize("name, fn, shapes, category", COVERAGE, ids=[c[0] for c in COVERAGE])
def test_common_ops_have_formulas(name, fn, shapes, category):
    model = Fn(
        fn,
        emb=nn.Embedding(10, 4),
        gn=nn.GroupNorm(2, 4),
        inorm=nn.InstanceNorm2d(4),
        lstm=nn.LSTM(4, 8),
    )
    rows = op_rows(model, *shapes)
    assert (rows["category"] != "unknown").all(), rows.loc[rows["category"] == "unknown", "unknown"]
    assert category in set(rows["category"])


def test_new_formulas_count_what_they_derive():
    # cumsum: one add per element; vector norm: |x|^2 and a sum per element, a root per output
    assert single(Fn(lambda s, x: torch.cumsum(x, 1)), (2, 6))["flops"] == 12
    norm = single(Fn(lambda s, x: torch.linalg.vector_norm(x, dim=-1)), (2, 4, 5))
    assert norm["flops"] == 2 * 40 + 8
    # sort of rows of 8: 8 * log2(8) comparisons per row
    rows = op_rows(Fn(lambda s, x: torch.sort(x, 1).values), (2, 8))
    assert rows.loc[rows["category"] == "reduction", "flops"].sum() == 2 * 8 * 3
    # an index gather moves what it reads (the input, the index) and writes its output
    row = single(Fn(lambda s, x: torch.index_select(x, 1, _IDX)), (2, 4, 5))
    assert row["bytes_written"] == 2 * 3 * 5 * F32
    # 1-d and 3-d pooling: one read per window element and output
    assert single(Fn(lambda s, x: F.avg_pool1d(x, 2)), (1, 2, 8))["flops"] == 8 * 2
    assert single(Fn(lambda s, x: F.avg_pool3d(x, 2)), (1, 2, 4, 4, 4))["flops"] == 16 * 8
