"""Seeded random CIFAR architectures, for calibrating and stress-testing the cost model.

Not a published architecture: a generator that mixes the building blocks of the zoo's families
(dense, pointwise, depthwise, grouped and asymmetric convs; residual adds; Inception-style
concatenation branches; ShuffleNet v1/v2 units with channel split and shuffle; MobileNetV2/
EfficientNet inverted residuals with squeeze-excitation; separable convs; max/avg pooling;
batch and group norm; ReLU, ReLU6, SiLU, GELU, hardswish and tanh activations). With
``attention=True`` it may also emit pre-norm transformer encoder blocks on the feature map's
spatial positions as tokens (layer norm, q/k/v linears, matmul or ``scaled_dot_product_attention``
attention, GELU MLP, residual adds; Swin-style patch merging when they downsample), the op
categories otherwise only found in the ViT family. ``attention=False`` (the default) draws exactly
the same random numbers, and so builds exactly the same networks, as before the option existed.

The architecture is a pure function of ``seed`` (a local ``random.Random``; the global RNGs are
only used by PyTorch's weight initialisation). While generating, the multiply-accumulates of every
conv and linear layer (and of the two attention matmuls) are counted exactly (as
``FlopCounterMode`` counts them, biases excluded), and blocks that would take the total over
``max_mmacs`` are not added, so each model runs in bounded time; ``max_blocks`` bounds the depth.
Spec: ``random:seed=17&max_mmacs=30``, or ``random:attention=true&seed=17``.
"""

from __future__ import annotations

import math
import random

import torch
import torch.nn as nn
import torch.nn.functional as F

from costmodel.zoo.layers import Classifier, SqueezeExcite, channel_shuffle

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "relu6": nn.ReLU6,
    "silu": nn.SiLU,
    "gelu": nn.GELU,
    "hardswish": nn.Hardswish,
    "tanh": nn.Tanh,
}
# Common activations are drawn more often than exotic ones.
_ACT_WEIGHTS = {"relu": 5, "relu6": 2, "silu": 2, "gelu": 1, "hardswish": 2, "tanh": 1}
_BLOCK_WEIGHTS = {
    "conv": 2,
    "basic": 3,
    "bottleneck": 3,
    "mbconv": 4,
    "separable": 2,
    "inception": 2,
    "shuffle_v2": 2,
    "shuffle_v1": 2,
}
# With attention=True, transformer blocks join the draw (stride-1 blocks, or patch merging).
_ATTN_BLOCK_WEIGHTS = {**_BLOCK_WEIGHTS, "transformer": 6}
_MAX_CHANNELS = 384
_HEAD_RESERVE_CHANNELS = 512  # the head linear never has more inputs than this


def _out_size(hw: int, k: int, stride: int) -> int:
    # "same" padding (k // 2) for odd kernels
    return (hw + 2 * (k // 2) - k) // stride + 1


class _Maker:
    """Creates conv layers and tallies their multiply-accumulates (bias not counted)."""

    def __init__(self) -> None:
        self.macs = 0

    def conv(
        self,
        cin: int,
        cout: int,
        k: int | tuple[int, int],
        stride: int,
        hw: int,
        groups: int = 1,
    ) -> tuple[nn.Conv2d, int]:
        kh, kw = (k, k) if isinstance(k, int) else k
        out = _out_size(hw, max(kh, kw), stride) if kh == kw else hw
        self.macs += cout * out * out * (cin // groups) * kh * kw
        conv = nn.Conv2d(cin, cout, (kh, kw), stride, (kh // 2, kw // 2), groups=groups, bias=False)
        return conv, out

    def cna(
        self,
        cin: int,
        cout: int,
        k: int | tuple[int, int],
        stride: int,
        hw: int,
        norm: str,
        act: str | None,
        groups: int = 1,
    ) -> tuple[nn.Sequential, int]:
        """Conv -> norm -> activation (``act=None``: no activation)."""
        conv, out = self.conv(cin, cout, k, stride, hw, groups)
        layers: list[nn.Module] = [conv, _norm(norm, cout)]
        if act is not None:
            layers.append(ACTIVATIONS[act]())
        return nn.Sequential(*layers), out

    def linear(self, cin: int, cout: int, tokens: int) -> nn.Linear:
        """A linear layer applied to ``tokens`` tokens (per sample)."""
        self.macs += tokens * cin * cout
        return nn.Linear(cin, cout)

    def attention_matmuls(self, tokens: int, dim: int) -> None:
        """q @ k^T and attn @ v: heads * S * S * head_dim each, i.e. S * S * dim each."""
        self.macs += 2 * tokens * tokens * dim

    def se(self, channels: int, reduced: int, act: str, hard_gate: bool) -> SqueezeExcite:
        self.macs += 2 * channels * reduced  # two 1x1 convs on a 1x1 map
        gate = nn.Hardsigmoid if hard_gate else nn.Sigmoid
        return SqueezeExcite(channels, reduced, act=ACTIVATIONS[act], gate=gate)


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "bn":
        return nn.BatchNorm2d(channels)
    if kind == "gn":
        groups = math.gcd(channels, 8)
        return nn.GroupNorm(groups, channels)
    raise ValueError(f"unknown norm {kind!r}")


def _round8(value: float) -> int:
    return max(8, int(round(value / 8)) * 8)


# --- blocks -------------------------------------------------------------------------------------
# Each block takes a _Maker, (cin, cout, stride, hw) and its drawn options; it sets ``hw_out``
# and a one-line ``desc``.


class ConvBlock(nn.Module):
    """A dense k x k conv-norm-act, with a residual add when shapes allow and ``residual``."""

    def __init__(self, mk, cin, cout, stride, hw, *, k, norm, act, residual) -> None:
        super().__init__()
        self.body, self.hw_out = mk.cna(cin, cout, k, stride, hw, norm, act)
        self.residual = residual and stride == 1 and cin == cout
        add = " +res" if self.residual else ""
        self.desc = f"conv{k}x{k} {cin}->{cout} s{stride} {norm}/{act}{add}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return x + y if self.residual else y


def _shortcut(mk, cin, cout, stride, hw, norm) -> nn.Module:
    """Identity, or a 1x1 conv + norm when the shape changes."""
    if stride == 1 and cin == cout:
        return nn.Identity()
    return mk.cna(cin, cout, 1, stride, hw, norm, None)[0]


class BasicBlock(nn.Module):
    """ResNet basic block: two k x k convs, residual add, activation."""

    def __init__(self, mk, cin, cout, stride, hw, *, k, norm, act) -> None:
        super().__init__()
        self.conv1, mid_hw = mk.cna(cin, cout, k, stride, hw, norm, act)
        self.conv2, self.hw_out = mk.cna(cout, cout, k, 1, mid_hw, norm, None)
        self.shortcut = _shortcut(mk, cin, cout, stride, hw, norm)
        self.act = ACTIVATIONS[act]()
        self.desc = f"basic k{k} {cin}->{cout} s{stride} {norm}/{act}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv2(self.conv1(x)) + self.shortcut(x))


class Bottleneck(nn.Module):
    """ResNeXt/RegNet-style bottleneck: 1x1 -> grouped k x k -> (SE) -> 1x1, residual add."""

    def __init__(self, mk, cin, cout, stride, hw, *, mid, groups, k, se, norm, act) -> None:
        super().__init__()
        self.reduce, _ = mk.cna(cin, mid, 1, 1, hw, norm, act)
        self.conv, self.hw_out = mk.cna(mid, mid, k, stride, hw, norm, act, groups=groups)
        self.se = mk.se(mid, max(8, mid // 4), "relu", False) if se else nn.Identity()
        self.expand, _ = mk.cna(mid, cout, 1, 1, self.hw_out, norm, None)
        self.shortcut = _shortcut(mk, cin, cout, stride, hw, norm)
        self.act = ACTIVATIONS[act]()
        tag = " se" if se else ""
        self.desc = f"bottleneck k{k} {cin}->{mid}(g{groups})->{cout} s{stride} {norm}/{act}{tag}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.expand(self.se(self.conv(self.reduce(x))))
        return self.act(y + self.shortcut(x))


class MBConv(nn.Module):
    """Inverted residual: (1x1 expand) -> depthwise k x k -> (SE) -> 1x1 linear projection."""

    def __init__(self, mk, cin, cout, stride, hw, *, expand, k, se, hard_gate, norm, act) -> None:
        super().__init__()
        mid = cin * expand
        self.expand = mk.cna(cin, mid, 1, 1, hw, norm, act)[0] if expand > 1 else nn.Identity()
        self.dw, self.hw_out = mk.cna(mid, mid, k, stride, hw, norm, act, groups=mid)
        self.se = mk.se(mid, max(8, cin // 4), act, hard_gate) if se else nn.Identity()
        self.project, _ = mk.cna(mid, cout, 1, 1, self.hw_out, norm, None)
        self.residual = stride == 1 and cin == cout
        tag = (" se-hard" if hard_gate else " se") if se else ""
        add = " +res" if self.residual else ""
        self.desc = f"mbconv k{k} t{expand} {cin}->{cout} s{stride} {norm}/{act}{tag}{add}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.se(self.dw(self.expand(x))))
        return x + y if self.residual else y


class Separable(nn.Module):
    """Xception-style separable conv: depthwise k x k -> norm -> pointwise 1x1 -> norm -> act."""

    def __init__(self, mk, cin, cout, stride, hw, *, k, norm, act, residual) -> None:
        super().__init__()
        self.dw, self.hw_out = mk.cna(cin, cin, k, stride, hw, norm, None, groups=cin)
        self.pw, _ = mk.cna(cin, cout, 1, 1, self.hw_out, norm, act)
        self.residual = residual and stride == 1 and cin == cout
        add = " +res" if self.residual else ""
        self.desc = f"separable k{k} {cin}->{cout} s{stride} {norm}/{act}{add}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.pw(self.dw(x))
        return x + y if self.residual else y


class Inception(nn.Module):
    """Parallel branches concatenated on channels (stride 1). Branch kinds: ``1x1``, ``3x3``
    (1x1 reduce -> 3x3), ``dbl3x3`` (1x1 -> 3x3 -> 3x3), ``1x7`` (1x1 -> 1x7 -> 7x1),
    ``pool`` (3x3 max or avg pool -> 1x1)."""

    def __init__(self, mk, cin, cout, stride, hw, *, branches, pool, norm, act) -> None:
        super().__init__()
        assert stride == 1
        self.hw_out = hw
        mods = []
        for kind, bo in branches:
            r = _round8(bo / 2)
            if kind == "1x1":
                layers = [mk.cna(cin, bo, 1, 1, hw, norm, act)[0]]
            elif kind == "3x3":
                layers = [mk.cna(cin, r, 1, 1, hw, norm, act)[0]]
                layers.append(mk.cna(r, bo, 3, 1, hw, norm, act)[0])
            elif kind == "dbl3x3":
                layers = [mk.cna(cin, r, 1, 1, hw, norm, act)[0]]
                layers.append(mk.cna(r, r, 3, 1, hw, norm, act)[0])
                layers.append(mk.cna(r, bo, 3, 1, hw, norm, act)[0])
            elif kind == "1x7":
                layers = [mk.cna(cin, r, 1, 1, hw, norm, act)[0]]
                layers.append(mk.cna(r, r, (1, 7), 1, hw, norm, act)[0])
                layers.append(mk.cna(r, bo, (7, 1), 1, hw, norm, act)[0])
            else:  # pool
                p = (
                    nn.MaxPool2d(3, 1, 1)
                    if pool == "max"
                    else nn.AvgPool2d(3, 1, 1, count_include_pad=False)
                )
                layers = [p, mk.cna(cin, bo, 1, 1, hw, norm, act)[0]]
            mods.append(nn.Sequential(*layers))
        self.branches = nn.ModuleList(mods)
        parts = "+".join(f"{kind}:{bo}" for kind, bo in branches)
        self.desc = f"inception [{parts}] {cin}->{cout} {norm}/{act} pool={pool}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([b(x) for b in self.branches], dim=1)


class ShuffleV2(nn.Module):
    """ShuffleNetV2 unit: channel split (stride 1) or two branches (stride 2), concat, shuffle."""

    def __init__(self, mk, cin, cout, stride, hw, *, norm, act) -> None:
        super().__init__()
        self.stride = stride
        half = cout // 2
        if stride == 1:
            assert cin == cout and cout % 2 == 0
            b_in = half
            self.left = nn.Identity()
        else:
            b_in = cin
            dw, _ = mk.cna(cin, cin, 3, 2, hw, norm, None, groups=cin)
            self.left = nn.Sequential(
                dw, mk.cna(cin, half, 1, 1, _out_size(hw, 3, 2), norm, act)[0]
            )
        pw1, _ = mk.cna(b_in, half, 1, 1, hw, norm, act)
        dw, self.hw_out = mk.cna(half, half, 3, stride, hw, norm, None, groups=half)
        pw2, _ = mk.cna(half, cout - half, 1, 1, self.hw_out, norm, act)
        self.right = nn.Sequential(pw1, dw, pw2)
        self.desc = f"shuffle_v2 {cin}->{cout} s{stride} {norm}/{act}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            x1, x2 = x.chunk(2, dim=1)
            out = torch.cat([x1, self.right(x2)], dim=1)
        else:
            out = torch.cat([self.left(x), self.right(x)], dim=1)
        return channel_shuffle(out, 2)


class ShuffleV1(nn.Module):
    """ShuffleNet unit: grouped 1x1 -> shuffle -> depthwise 3x3 -> grouped 1x1; add (stride 1)
    or concat with a 3x3 avg-pooled shortcut (stride 2); activation."""

    def __init__(self, mk, cin, cout, stride, hw, *, groups, mid, norm, act) -> None:
        super().__init__()
        self.groups = groups
        self.stride = stride
        branch_out = cout if stride == 1 else cout - cin
        self.gconv1, _ = mk.cna(cin, mid, 1, 1, hw, norm, act, groups=groups)
        self.dw, self.hw_out = mk.cna(mid, mid, 3, stride, hw, norm, None, groups=mid)
        self.gconv2, _ = mk.cna(mid, branch_out, 1, 1, self.hw_out, norm, None, groups=groups)
        self.pool = nn.AvgPool2d(3, 2, 1) if stride == 2 else nn.Identity()
        self.act = ACTIVATIONS[act]()
        self.desc = f"shuffle_v1 g{groups} {cin}->{mid}->{cout} s{stride} {norm}/{act}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = channel_shuffle(self.gconv1(x), self.groups)
        y = self.gconv2(self.dw(y))
        if self.stride == 1:
            return self.act(x + y)
        return self.act(torch.cat([self.pool(x), y], dim=1))


def _to_tokens(x: torch.Tensor, layout: str) -> torch.Tensor:
    """(N, C, H, W) -> (N, H*W, C)."""
    if layout == "flatten":
        return x.flatten(2).transpose(1, 2)
    n, c, h, w = x.shape
    return x.permute(0, 2, 3, 1).reshape(n, h * w, c)


def _to_map(t: torch.Tensor, hw: int, layout: str) -> torch.Tensor:
    """(N, H*W, C) -> (N, C, H, W)."""
    n, _, c = t.shape
    if layout == "flatten":
        return t.transpose(1, 2).reshape(n, c, hw, hw)
    return t.reshape(n, hw, hw, c).permute(0, 3, 1, 2)


class TokenAttention(nn.Module):
    """Multi-head self-attention on tokens: q/k/v linears (or one fused qkv linear), then
    ``softmax(q @ k^T * scale) @ v`` written out, or ``F.scaled_dot_product_attention``;
    output linear."""

    def __init__(self, mk, dim, tokens, *, heads, sdpa, fused_qkv) -> None:
        super().__init__()
        self.heads = heads
        self.head_dim = dim // heads
        self.scale = self.head_dim**-0.5
        self.sdpa = sdpa
        self.fused_qkv = fused_qkv
        if fused_qkv:
            self.qkv = mk.linear(dim, 3 * dim, tokens)
        else:
            self.q = mk.linear(dim, dim, tokens)
            self.k = mk.linear(dim, dim, tokens)
            self.v = mk.linear(dim, dim, tokens)
        mk.attention_matmuls(tokens, dim)
        self.proj = mk.linear(dim, dim, tokens)

    def _split_heads(self, t: torch.Tensor) -> torch.Tensor:
        # (N, S, D) -> (N, heads, S, head_dim)
        return t.reshape(t.size(0), t.size(1), self.heads, self.head_dim).permute(0, 2, 1, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fused_qkv:
            # (N, S, 3D) -> (3, N, heads, S, head_dim)
            qkv = self.qkv(x).reshape(x.size(0), x.size(1), 3, self.heads, self.head_dim)
            q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        else:
            q = self._split_heads(self.q(x))
            k = self._split_heads(self.k(x))
            v = self._split_heads(self.v(x))
        if self.sdpa:
            out = F.scaled_dot_product_attention(q, k, v)
        else:
            attn = (q @ k.transpose(-2, -1)) * self.scale
            out = attn.softmax(dim=-1) @ v
        out = out.transpose(1, 2).reshape(x.size(0), x.size(1), -1)
        return self.proj(out)


class Transformer(nn.Module):
    """A pre-norm transformer encoder block on the feature map's positions as tokens: the
    (N, C, H, W) map becomes (N, H*W, C) tokens, goes through ``t + attn(ln(t))`` and
    ``t + mlp(ln(t))`` (Linear -> GELU -> Linear), and is put back as an (N, C', H', W') map.
    A stride-2 block first merges each 2x2 patch (Swin-style: gather 4C features, layer norm,
    linear to C'); a stride-1 block with C != C' first projects the tokens with a linear."""

    def __init__(
        self, mk, cin, cout, stride, hw, *, heads, mlp_ratio, sdpa, fused_qkv, layout
    ) -> None:
        super().__init__()
        assert cout % heads == 0 and (stride == 1 or hw % 2 == 0)
        self.stride = stride
        self.layout = layout
        self.hw_out = hw // stride
        tokens = self.hw_out * self.hw_out
        if stride == 2:
            self.merge_norm = nn.LayerNorm(4 * cin)
            self.embed = mk.linear(4 * cin, cout, tokens)
        elif cin != cout:
            self.embed = mk.linear(cin, cout, tokens)
        else:
            self.embed = nn.Identity()
        self.norm1 = nn.LayerNorm(cout)
        self.attn = TokenAttention(mk, cout, tokens, heads=heads, sdpa=sdpa, fused_qkv=fused_qkv)
        self.norm2 = nn.LayerNorm(cout)
        hidden = cout * mlp_ratio
        self.mlp = nn.Sequential(
            mk.linear(cout, hidden, tokens), nn.GELU(), mk.linear(hidden, cout, tokens)
        )
        form = "sdpa" if sdpa else "matmul"
        qkv = " qkv" if fused_qkv else ""
        self.desc = (
            f"transformer h{heads} {cin}->{cout} s{stride} mlp{mlp_ratio} {form}{qkv} {layout}"
        )

    def _merge(self, x: torch.Tensor) -> torch.Tensor:
        # (N, C, H, W) -> (N, H/2 * W/2, 4C): the four pixels of each 2x2 patch side by side
        n, c, h, w = x.shape
        x = x.reshape(n, c, h // 2, 2, w // 2, 2).permute(0, 2, 4, 3, 5, 1)
        return self.merge_norm(x.reshape(n, (h // 2) * (w // 2), 4 * c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self._merge(x) if self.stride == 2 else _to_tokens(x, self.layout)
        t = self.embed(t)
        t = t + self.attn(self.norm1(t))
        t = t + self.mlp(self.norm2(t))
        return _to_map(t, self.hw_out, self.layout)


class PoolDown(nn.Module):
    """Stride-2 max or average pooling between stages (no MACs)."""

    def __init__(self, kind: str, kernel: int, hw: int) -> None:
        super().__init__()
        self.kind = kind
        self.kernel = kernel
        self.padding = kernel // 2 if kernel == 3 else 0
        self.hw_out = (hw + 2 * self.padding - kernel) // 2 + 1
        self.desc = f"{kind}pool{kernel}x{kernel} s2"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "max":
            return F.max_pool2d(x, self.kernel, 2, self.padding)
        return F.avg_pool2d(x, self.kernel, 2, self.padding)


# --- generator ----------------------------------------------------------------------------------


def _weighted(rng: random.Random, weights: dict[str, int]) -> str:
    keys = list(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys])[0]


def _draw_block(
    rng: random.Random, cin: int, cout: int, stride: int, hw: int, attention: bool = False
) -> tuple[str, dict] | None:
    """Draw a block kind and its options valid for (cin, cout, stride, hw); None if none fits.

    ``attention=False`` must keep drawing exactly the same numbers as before the option existed
    (measured timings name ``random:seed=N`` networks): only the transformer kind, drawn only
    with ``attention=True``, may draw more."""
    kind = _weighted(rng, _ATTN_BLOCK_WEIGHTS if attention else _BLOCK_WEIGHTS)
    norm = "gn" if rng.random() < 0.15 else "bn"
    act = _weighted(rng, _ACT_WEIGHTS)
    if kind == "conv":
        return kind, dict(
            k=rng.choice([1, 3, 3, 5]), norm=norm, act=act, residual=rng.random() < 0.5
        )
    if kind == "basic":
        return kind, dict(k=3, norm=norm, act=act)
    if kind == "bottleneck":
        mid = _round8(cout * rng.choice([0.25, 0.5, 1.0]))
        groups = rng.choice([g for g in (1, 2, 4, 8, mid // 8, mid) if g >= 1 and mid % g == 0])
        return kind, dict(
            mid=mid,
            groups=groups,
            k=rng.choice([3, 3, 5]),
            se=rng.random() < 0.3,
            norm=norm,
            act=act,
        )
    if kind == "mbconv":
        return kind, dict(
            expand=rng.choice([1, 3, 4, 6]),
            k=rng.choice([3, 3, 5, 7]),
            se=rng.random() < 0.4,
            hard_gate=rng.random() < 0.4,
            norm=norm,
            act=act,
        )
    if kind == "separable":
        return kind, dict(k=rng.choice([3, 5]), norm=norm, act=act, residual=rng.random() < 0.5)
    if kind == "inception":
        if stride != 1:
            return None
        n = min(rng.randint(2, 4), cout // 8)
        if n < 2:
            return None
        base = max(8, (cout // n) // 8 * 8)
        sizes = [base] * (n - 1) + [cout - base * (n - 1)]
        others = [rng.choice(["3x3", "dbl3x3", "1x7", "pool"]) for _ in range(n - 1)]
        return kind, dict(
            branches=list(zip(["1x1"] + others, sizes, strict=True)),
            pool=rng.choice(["max", "avg"]),
            norm=norm,
            act=act,
        )
    if kind == "transformer":
        if stride == 2 and hw % 2:
            return None
        heads = rng.choice([h for h in (1, 2, 3, 4, 6, 8) if cout % h == 0 and cout // h >= 8])
        return kind, dict(
            heads=heads,
            mlp_ratio=rng.choice([1, 2, 2, 4]),
            sdpa=rng.random() < 0.4,
            fused_qkv=rng.random() < 0.3,
            layout=rng.choice(["flatten", "permute"]),
        )
    if kind == "shuffle_v2":
        if cout % 2 or (stride == 1 and cin != cout):
            return None
        return kind, dict(norm=norm, act=act)
    # shuffle_v1
    branch_out = cout if stride == 1 else cout - cin
    if (stride == 1 and cin != cout) or branch_out <= 0:
        return None
    choices = [g for g in (2, 3, 4, 8) if cin % g == 0 and branch_out % g == 0]
    if not choices:
        return None
    g = rng.choice(choices)
    mid = max(g, int(round(cout / 4 / g)) * g)
    return kind, dict(groups=g, mid=mid, norm=norm, act=act)


_BLOCKS = {
    "conv": ConvBlock,
    "basic": BasicBlock,
    "bottleneck": Bottleneck,
    "mbconv": MBConv,
    "separable": Separable,
    "inception": Inception,
    "shuffle_v2": ShuffleV2,
    "shuffle_v1": ShuffleV1,
    "transformer": Transformer,
}


class RandomNet(nn.Module):
    """Stem -> generated blocks -> (1x1 conv) -> pool + linear head."""

    def __init__(self, stem: nn.Module, blocks: list[nn.Module], head: nn.Module) -> None:
        super().__init__()
        self.stem = stem
        self.blocks = nn.Sequential(*blocks)
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)))


def build_random(
    *,
    seed: int,
    max_mmacs: float = 60.0,
    input_size: int = 32,
    num_classes: int = 100,
    max_blocks: int = 12,
    attention: bool = False,
) -> nn.Module:
    """A random CIFAR-style network, a pure function of ``seed``.

    Conv + linear (+ attention matmul) MACs stay at or under ``max_mmacs`` million; at most
    ``max_blocks`` blocks (plus pooling layers). The model has ``arch_description`` (one line per
    block), ``seed``, ``attention`` and ``estimated_mmacs`` (the exact conv + linear +
    attention-matmul MAC count, in millions, biases excluded). ``attention=True`` adds transformer
    encoder blocks to the draw (a different network per seed); the default builds exactly the
    networks built before that option existed.
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an int, got {seed!r}")
    if input_size < 8:
        raise ValueError(f"input_size must be at least 8, got {input_size}")
    if max_blocks < 1:
        raise ValueError(f"max_blocks must be at least 1, got {max_blocks}")
    if not isinstance(attention, bool):
        raise ValueError(f"attention must be true or false, got {attention!r}")
    rng = random.Random(seed)
    budget = int(max_mmacs * 1e6) - _HEAD_RESERVE_CHANNELS * num_classes
    mk = _Maker()
    lines: list[str] = []

    # Stem: 3x3 conv, stride 1 (stride 2 on large inputs); the widest stem that fits 20% of budget.
    stem_stride = 2 if input_size >= 64 else 1
    hw = _out_size(input_size, 3, stem_stride)
    width_options = [c for c in (16, 24, 32) if 27 * c * hw * hw <= 0.2 * budget]
    if not width_options:
        need = (27 * 16 * hw * hw / 0.2 + _HEAD_RESERVE_CHANNELS * num_classes) / 1e6
        raise ValueError(
            f"max_mmacs={max_mmacs} is too small for input {input_size}; need {need:.2f}"
        )
    c = rng.choice(width_options)
    stem_act = _weighted(rng, _ACT_WEIGHTS)
    stem, hw = mk.cna(3, c, 3, stem_stride, input_size, "bn", stem_act)
    lines.append(f"stem conv3x3 3->{c} s{stem_stride} bn/{stem_act}")

    max_down = int(math.log2(hw)) - 2  # keep the last stage at 4x4 or more
    n_stages = rng.randint(2, max(2, min(4, max_down + 1)))
    per_stage = [rng.randint(1, 3) for _ in range(n_stages)]
    width = rng.choice([16, 24, 32, 48])

    blocks: list[nn.Module] = []
    n_blocks = 0
    for s in range(n_stages):
        if n_blocks >= max_blocks:
            break
        if s > 0:
            width = min(_MAX_CHANNELS, _round8(width * rng.choice([1.5, 2.0, 2.5])))
        down = s > 0 and s <= max_down
        stage_cap = mk.macs + (budget - mk.macs) * min(1.0, 1.6 / (n_stages - s))
        pool_first = down and rng.random() < 0.3
        lines.append(
            f"stage {s + 1}: width {width}, up to {per_stage[s]} block(s), input {hw}x{hw}"
        )
        for b in range(min(per_stage[s], max_blocks - n_blocks)):
            stride = 2 if (down and b == 0 and not pool_first) else 1
            if down and b == 0 and pool_first:
                pool = PoolDown(rng.choice(["max", "avg"]), rng.choice([2, 3]), hw)
                blocks.append(pool)
                lines.append(f"  {pool.desc}")
                hw = pool.hw_out
            block = None
            for _ in range(8):  # a few tries to draw a block that fits the budget
                drawn = _draw_block(rng, c, width, stride, hw, attention)
                if drawn is None:
                    continue
                kind, opts = drawn
                trial = _Maker()
                trial.macs = mk.macs
                candidate = _BLOCKS[kind](trial, c, width, stride, hw, **opts)
                if trial.macs <= stage_cap:
                    block, mk.macs = candidate, trial.macs
                    break
            if block is None and stride == 2:
                # nothing fits at this resolution: downsample for free by pooling instead
                pool = PoolDown("max", 2, hw)
                blocks.append(pool)
                lines.append(f"  {pool.desc} (budget)")
                hw = pool.hw_out
            if block is None:
                break
            blocks.append(block)
            n_blocks += 1
            lines.append(f"  {block.desc}")
            c, hw = width, block.hw_out

    # Head: sometimes a 1x1 conv to a wider feature (MobileNet style), then pool + linear.
    head_layers: list[nn.Module] = []
    if rng.random() < 0.4:
        head_c = min(_HEAD_RESERVE_CHANNELS, _round8(c * rng.choice([1.5, 2.0])))
        trial = _Maker()
        conv, _ = trial.cna(c, head_c, 1, 1, hw, "bn", "relu")
        if mk.macs + trial.macs <= budget:
            head_layers.append(conv)
            mk.macs += trial.macs
            lines.append(f"head conv1x1 {c}->{head_c} bn/relu")
            c = head_c
    dropout = rng.choice([0.0, 0.0, 0.2])
    head_layers.append(Classifier(c, num_classes, dropout=dropout))
    mk.macs += c * num_classes
    lines.append(f"head avgpool -> dropout {dropout} -> linear {c}->{num_classes}")

    model = RandomNet(stem, blocks, nn.Sequential(*head_layers))
    model.seed = seed
    model.attention = attention
    model.estimated_mmacs = mk.macs / 1e6
    model.arch_description = "\n".join(lines)
    return model
