"""RegNetX / RegNetY for CIFAR (Radosavovic et al., "Designing Network Design Spaces", CVPR 2020).

A RegNet is generated from six design-space numbers: block widths follow the linear rule
``u_j = w0 + wa * j`` (j < depth), quantised to ``w0 * wm**round(log(u_j / w0) / log(wm))`` and to
multiples of 8; consecutive blocks of equal width form a stage. Blocks are the X block (1x1 ->
3x3 group conv of group width ``group_width`` -> 1x1, residual add, ReLU); RegNetY adds
squeeze-excitation (``se_ratio`` of the block input width). CIFAR changes: a 3x3 stride-1 stem and
a stride-1 first stage, so the four stages run at 32, 16, 8 and 4 pixels.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from costmodel.zoo.layers import Classifier, ConvBNAct, SqueezeExcite
from costmodel.zoo.registry import register, register_alias

# The paper uses stride 2 in every stage after a stride-2 stem (ImageNet); any stage after the
# fourth (unusual settings) also halves the resolution.
STAGE_STRIDES = (1, 2, 2, 2)


def generate_stages(
    w0: float, wa: float, wm: float, depth: int, quantum: int = 8
) -> tuple[list[int], list[int]]:
    """Stage widths and block counts from the linear-quantised width rule of the paper."""
    if w0 <= 0 or wa < 0 or wm <= 1 or depth < 1:
        raise ValueError(f"invalid RegNet parameters w0={w0}, wa={wa}, wm={wm}, depth={depth}")
    widths = []
    for j in range(depth):
        u = w0 + wa * j
        s = round(math.log(u / w0) / math.log(wm))
        w = w0 * wm**s
        widths.append(max(quantum, int(round(w / quantum) * quantum)))
    stage_widths: list[int] = []
    stage_depths: list[int] = []
    for w in widths:
        if stage_widths and stage_widths[-1] == w:
            stage_depths[-1] += 1
        else:
            stage_widths.append(w)
            stage_depths.append(1)
    return stage_widths, stage_depths


def adjust_widths(
    widths: list[int], bottleneck_ratio: float, group_width: int
) -> tuple[list[int], list[int]]:
    """Make widths compatible with the group width: the bottleneck width becomes a multiple of
    the (possibly reduced) group width. Returns adjusted widths and per-stage group widths."""
    out_w, out_g = [], []
    for w in widths:
        w_b = max(1, int(w * bottleneck_ratio))
        g = min(group_width, w_b)
        w_b = max(g, int(round(w_b / g) * g))
        out_w.append(int(w_b / bottleneck_ratio))
        out_g.append(g)
    return out_w, out_g


class XBlock(nn.Module):
    """RegNet X block (Y block when ``se_ratio`` > 0): residual bottleneck with a group conv."""

    def __init__(
        self,
        w_in: int,
        w_out: int,
        stride: int,
        group_width: int,
        bottleneck_ratio: float,
        se_ratio: float,
    ) -> None:
        super().__init__()
        w_b = int(round(w_out * bottleneck_ratio))
        self.a = ConvBNAct(w_in, w_b, 1)
        self.b = ConvBNAct(w_b, w_b, 3, stride, groups=w_b // group_width)
        # SE width is a fraction of the block *input* width, as in the paper's RegNetY
        self.se = SqueezeExcite(w_b, max(1, round(w_in * se_ratio))) if se_ratio > 0 else None
        self.c = ConvBNAct(w_b, w_out, 1, act=None)
        needs_proj = stride != 1 or w_in != w_out
        self.proj = ConvBNAct(w_in, w_out, 1, stride, act=None) if needs_proj else None
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.b(self.a(x))
        if self.se is not None:
            out = self.se(out)
        out = self.c(out)
        shortcut = self.proj(x) if self.proj is not None else x
        return self.act(out + shortcut)


class RegNet(nn.Module):
    """Stem -> four stages of X/Y blocks -> pool + linear head."""

    def __init__(
        self,
        stage_widths: list[int],
        stage_depths: list[int],
        group_widths: list[int],
        bottleneck_ratio: float,
        se_ratio: float,
        stem_width: int,
        num_classes: int,
    ) -> None:
        super().__init__()
        self.stem = ConvBNAct(3, stem_width, 3, 1)
        stages: list[nn.Module] = []
        w_in = stem_width
        for i, (w, d, g) in enumerate(zip(stage_widths, stage_depths, group_widths, strict=True)):
            stride = STAGE_STRIDES[min(i, len(STAGE_STRIDES) - 1)]
            blocks = [
                XBlock(
                    w_in if k == 0 else w, w, stride if k == 0 else 1, g, bottleneck_ratio, se_ratio
                )
                for k in range(d)
            ]
            stages.append(nn.Sequential(*blocks))
            w_in = w
        self.stages = nn.Sequential(*stages)
        self.head = Classifier(w_in, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.stages(self.stem(x)))


def regnet(
    *,
    w0: float = 24,
    wa: float = 36.44,
    wm: float = 2.49,
    depth: int = 13,
    group_width: int = 8,
    bottleneck_ratio: float = 1.0,
    se_ratio: float = 0.0,
    stem_width: int = 32,
    width: float = 1.0,
    num_classes: int = 100,
) -> nn.Module:
    """A CIFAR RegNet from design-space parameters (defaults: RegNetX-200MF).

    ``width`` scales ``w0`` and ``wa`` (all block widths) before quantisation; ``se_ratio`` > 0
    gives a RegNetY.
    """
    widths, depths = generate_stages(w0 * width, wa * width, wm, depth)
    widths, groups = adjust_widths(widths, bottleneck_ratio, group_width)
    model = RegNet(widths, depths, groups, bottleneck_ratio, se_ratio, stem_width, num_classes)
    model.stage_widths = widths
    model.stage_depths = depths
    return model


# Published RegNet settings (paper, Appendix / pycls model zoo).
_X200 = dict(w0=24, wa=36.44, wm=2.49, depth=13, group_width=8)
_X400 = dict(w0=24, wa=24.48, wm=2.54, depth=22, group_width=16)
_X600 = dict(w0=48, wa=36.97, wm=2.24, depth=16, group_width=24)
_Y400 = dict(w0=48, wa=27.89, wm=2.09, depth=16, group_width=8)

register(
    "regnet",
    "regnet",
    regnet,
    defaults=dict(
        w0=24,
        wa=36.44,
        wm=2.49,
        depth=13,
        group_width=8,
        bottleneck_ratio=1.0,
        se_ratio=0.0,
        stem_width=32,
        width=1.0,
        num_classes=100,
    ),
    variants=[
        {},  # RegNetX-200MF
        dict(_X200, width=0.5),
        _X400,
        _X600,
        dict(_X200, se_ratio=0.25),  # RegNetY-200MF
        dict(_Y400, se_ratio=0.25),  # RegNetY-400MF
    ],
    description="RegNetX/RegNetY (design-space generated widths, group convs, SE for Y), CIFAR",
)
register_alias("regnetx_200mf", "regnet", **_X200, se_ratio=0.0)
register_alias("regnetx_400mf", "regnet", **_X400, se_ratio=0.0)
register_alias("regnetx_600mf", "regnet", **_X600, se_ratio=0.0)
register_alias("regnety_200mf", "regnet", **_X200, se_ratio=0.25)
register_alias("regnety_400mf", "regnet", **_Y400, se_ratio=0.25)
