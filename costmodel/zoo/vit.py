"""A small Vision Transformer for CIFAR (Dosovitskiy et al., "An Image is Worth 16x16 Words:
Transformers for Image Recognition at Scale", ICLR 2021).

Patch embedding by a strided convolution (patch 4 on 32x32 gives 64 tokens), learned position
embedding, a class token or mean pooling, pre-norm encoder blocks (LayerNorm -> multi-head
self-attention -> add, LayerNorm -> GELU MLP -> add), final LayerNorm and a linear head.
Attention is written out (q/k/v linears, matmul, softmax, matmul) when ``sdpa=False`` and uses
``F.scaled_dot_product_attention`` when ``sdpa=True``, so both forms appear in the zoo.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from costmodel.zoo.registry import register, register_alias


class Attention(nn.Module):
    """Multi-head self-attention with separate q, k, v projections and an output projection."""

    def __init__(self, dim: int, heads: int, sdpa: bool) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"ViT dim {dim} is not divisible by heads {heads}")
        self.heads = heads
        self.head_dim = dim // heads
        self.scale = self.head_dim**-0.5
        self.sdpa = sdpa
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(dim, dim)
        self.v = nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)

    def _split_heads(self, t: torch.Tensor) -> torch.Tensor:
        # (B, N, D) -> (B, heads, N, head_dim)
        return t.reshape(t.size(0), t.size(1), self.heads, self.head_dim).permute(0, 2, 1, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = self._split_heads(self.q(x))
        k = self._split_heads(self.k(x))
        v = self._split_heads(self.v(x))
        if self.sdpa:
            out = F.scaled_dot_product_attention(q, k, v)
        else:
            attn = torch.matmul(q * self.scale, k.transpose(-2, -1))
            attn = F.softmax(attn, dim=-1)
            out = torch.matmul(attn, v)
        out = out.permute(0, 2, 1, 3).reshape(x.size(0), x.size(1), -1)
        return self.proj(out)


class Mlp(nn.Sequential):
    """Linear -> GELU -> Linear."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))


class EncoderBlock(nn.Module):
    """Pre-norm transformer encoder block with two residual adds."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float, sdpa: bool) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads, sdpa)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class VisionTransformer(nn.Module):
    """Conv patch embedding -> tokens (+ class token) -> encoder blocks -> norm -> pool -> head."""

    def __init__(
        self,
        img_size: int,
        patch: int,
        dim: int,
        depth: int,
        heads: int,
        mlp_ratio: float,
        sdpa: bool,
        pool: str,
        num_classes: int,
    ) -> None:
        super().__init__()
        if img_size % patch:
            raise ValueError(f"ViT image size {img_size} is not divisible by patch {patch}")
        if pool not in ("cls", "mean"):
            raise ValueError(f"ViT pool must be 'cls' or 'mean', got {pool!r}")
        self.pool = pool
        num_tokens = (img_size // patch) ** 2 + (1 if pool == "cls" else 0)
        self.patch_embed = nn.Conv2d(3, dim, patch, stride=patch)
        # With a class token, row 0 of the position embedding *is* the class token (plus its
        # position): a learned class token added to a learned position is one learned vector.
        # The token slot is made by F.pad, so no batch-dependent expand/repeat is needed.
        self.pos_embed = nn.Parameter(torch.zeros(1, num_tokens, dim))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        self.blocks = nn.Sequential(
            *(EncoderBlock(dim, heads, mlp_ratio, sdpa) for _ in range(depth))
        )
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x)  # (B, D, H/p, W/p)
        x = x.flatten(2).transpose(1, 2)  # (B, N, D)
        if self.pool == "cls":
            x = F.pad(x, (0, 0, 1, 0))  # an all-zero token in front: the class token slot
        x = x + self.pos_embed
        x = self.norm(self.blocks(x))
        x = x[:, 0] if self.pool == "cls" else x.mean(dim=1)
        return self.head(x)


def vit(
    *,
    depth: int = 6,
    dim: int = 192,
    heads: int = 3,
    patch: int = 4,
    mlp_ratio: float = 2.0,
    sdpa: bool = False,
    pool: str = "cls",
    img_size: int = 32,
    num_classes: int = 100,
) -> nn.Module:
    """A CIFAR Vision Transformer (defaults: 6 blocks of width 192, 3 heads, 4x4 patches)."""
    return VisionTransformer(img_size, patch, dim, depth, heads, mlp_ratio, sdpa, pool, num_classes)


register(
    "vit",
    "vit",
    vit,
    defaults=dict(
        depth=6,
        dim=192,
        heads=3,
        patch=4,
        mlp_ratio=2.0,
        sdpa=False,
        pool="cls",
        img_size=32,
        num_classes=100,
    ),
    variants=[
        {},
        dict(depth=4, dim=128, heads=4, mlp_ratio=2.0, sdpa=True, pool="mean"),
        dict(depth=6, dim=192, heads=3, sdpa=True),
        dict(depth=8, dim=256, heads=4, mlp_ratio=2.0, pool="mean"),
        dict(depth=6, dim=192, heads=6, mlp_ratio=4.0, sdpa=True),
        dict(depth=4, dim=128, heads=4, patch=2, sdpa=False),  # 256 tokens: attention-heavy
        dict(depth=4, dim=96, heads=12, patch=2, sdpa=True, pool="mean"),  # head dim 8
    ],
    description="Vision Transformer (conv patch embedding, pre-norm MHSA + GELU MLP), CIFAR",
)
register_alias("vit_tiny", "vit", depth=6, dim=192, heads=3)
register_alias("vit_small", "vit", depth=8, dim=256, heads=4)
