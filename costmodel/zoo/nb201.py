"""NAS-Bench-201 networks (Dong & Yang, "NAS-Bench-201: Extending the Scope of Reproducible
Neural Architecture Search", ICLR 2020), built from an architecture string.

The macro skeleton is fixed (C = 16, N = 5 cells per stage, two ResNet reduction blocks); only the
4-node cell varies. Every edge is built as its own module (``cells[i].edges["edge_0_1"]`` ...) and
executed in ``forward``, also edges on dead paths, exactly as the PyTorch reference does; the
``none`` edge is a real ``x * 0.0``. :func:`live_edges` says which edges a runtime that folds
constants through every op would keep. These networks are named by the spec scheme
``nb201:<arch>`` and are not in the zoo registry.
"""

from __future__ import annotations

import torch
import torch.nn as nn

OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")

# Edge order of the architecture string: 0->1, 0->2, 1->2, 0->3, 1->3, 2->3.
EDGES: tuple[tuple[int, int], ...] = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))

_DATASETS: dict[str, tuple[int, int]] = {  # name -> (input size, num_classes)
    "cifar10": (32, 10),
    "cifar100": (32, 100),
    "imagenet16": (16, 120),
}
_DATASET_ALIASES = {"imagenet16-120": "imagenet16", "imagenet16_120": "imagenet16"}

C_INIT = 16
CELLS_PER_STAGE = 5

Arch = list[list[tuple[str, int]]]


def edge_name(src: int, dst: int) -> str:
    """Module name of the edge ``src -> dst`` inside a cell's ``edges`` dict."""
    return f"edge_{src}_{dst}"


def parse_arch(arch: str) -> Arch:
    """Parse and validate an architecture string.

    Returns one list per node 1..3 of ``(op, source node)`` pairs, e.g.
    ``[[("nor_conv_3x3", 0)], [("none", 0), ("skip_connect", 1)], [...]]``.
    Raises ValueError naming what is wrong.
    """
    if not isinstance(arch, str):
        raise ValueError(f"a NAS-Bench-201 arch must be a string, got {type(arch).__name__}")
    example = "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|...~0|...~1|...~2|"
    text = arch.strip()
    if not text:
        raise ValueError(f"empty NAS-Bench-201 arch string; expected e.g. {example!r}")
    groups = text.split("+")
    if len(groups) != 3:
        raise ValueError(
            f"NAS-Bench-201 arch {arch!r} has {len(groups)} node group(s) separated by '+'; "
            f"expected 3, e.g. {example!r}"
        )
    nodes: Arch = []
    for node, group in enumerate(groups, start=1):
        if len(group) < 2 or not group.startswith("|") or not group.endswith("|"):
            raise ValueError(
                f"node {node} group {group!r} of arch {arch!r} must start and end with '|'"
            )
        items = group[1:-1].split("|")
        if len(items) != node:
            raise ValueError(
                f"node {node} of arch {arch!r} has {len(items)} incoming edge(s) {items}; "
                f"expected {node} (one from each of nodes 0..{node - 1})"
            )
        edges: list[tuple[str, int]] = []
        for expected_src, item in enumerate(items):
            op, tilde, src_text = item.partition("~")
            if not tilde or not src_text:
                raise ValueError(
                    f"edge {item!r} (into node {node}) of arch {arch!r} must look like 'op~i'"
                )
            if op not in OPS:
                raise ValueError(
                    f"unknown operation {op!r} on edge {item!r} of arch {arch!r}; "
                    f"known: {', '.join(OPS)}"
                )
            if not src_text.isdigit() or int(src_text) != expected_src:
                raise ValueError(
                    f"edge {item!r} into node {node} of arch {arch!r} must come from node "
                    f"{expected_src} (edges into a node are listed from nodes 0, 1, ... in order)"
                )
            edges.append((op, expected_src))
        nodes.append(edges)
    return nodes


def arch_edges(arch: str) -> dict[tuple[int, int], str]:
    """``{(src, dst): op}`` for the six edges of ``arch``, in edge order."""
    nodes = parse_arch(arch)
    return {(src, dst): op for dst, edges in enumerate(nodes, start=1) for op, src in edges}


def live_edges(arch: str) -> list[tuple[int, int]]:
    """The edges ``(src, dst)`` on some path cell input -> cell output crossing no ``none`` edge.

    Work on every other edge cannot reach the output (or only reaches it multiplied by zero, or
    has no input-dependent value), so a runtime that folds constants through every op and
    prunes dead branches (``prune_dead``) does not execute it; TFLite still runs an edge that
    reads a node fed only by ``none`` edges (the ``tflite`` lowering's ``fold_zeros``).
    Returned in edge order; empty when the output is disconnected from the input.
    """
    ops = arch_edges(arch)
    alive = {(s, d) for (s, d), op in ops.items() if op != "none"}
    forward = {0}  # nodes reachable from the input
    for node in range(1, 4):
        if any((s, node) in alive and s in forward for s in range(node)):
            forward.add(node)
    backward = {3}  # nodes that reach the output
    for node in range(2, -1, -1):
        if any((node, d) in alive and d in backward for d in range(node + 1, 4)):
            backward.add(node)
    return [e for e in EDGES if e in alive and e[0] in forward and e[1] in backward]


def is_output_connected(arch: str) -> bool:
    """True when the cell output depends on its input (some path avoids every ``none`` edge)."""
    return bool(live_edges(arch))


def _canonical_dataset(dataset: str) -> str:
    key = str(dataset).lower()
    key = _DATASET_ALIASES.get(key, key)
    if key not in _DATASETS:
        raise ValueError(
            f"unknown NAS-Bench-201 dataset {dataset!r}; known: {', '.join(_DATASETS)}"
        )
    return key


def input_size(dataset: str) -> int:
    """Input height = width for a dataset: 32 for cifar10/cifar100, 16 for imagenet16."""
    return _DATASETS[_canonical_dataset(dataset)][0]


def num_classes(dataset: str) -> int:
    """Classifier size for a dataset: 10, 100 or 120."""
    return _DATASETS[_canonical_dataset(dataset)][1]


class Zero(nn.Module):
    """The ``none`` edge: the input times zero, a real elementwise op as in the reference."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 0.0


class ReLUConvBN(nn.Sequential):
    """ReLU (not in place) -> Conv2d (no bias) -> BatchNorm2d (affine)."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, stride: int, padding: int):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(in_ch, out_ch, kernel_size, stride, padding, bias=False),
            nn.BatchNorm2d(out_ch),
        )


def make_op(op: str, channels: int) -> nn.Module:
    """The module of one cell edge (channel count kept, stride 1)."""
    if op == "none":
        return Zero()
    if op == "skip_connect":
        return nn.Identity()
    if op == "nor_conv_1x1":
        return ReLUConvBN(channels, channels, 1, 1, 0)
    if op == "nor_conv_3x3":
        return ReLUConvBN(channels, channels, 3, 1, 1)
    if op == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    raise ValueError(f"unknown NAS-Bench-201 operation {op!r}; known: {', '.join(OPS)}")


class Cell(nn.Module):
    """A 4-node cell: node j = sum over i < j of edge(i->j)(node i); output node 3."""

    def __init__(self, arch: str, channels: int) -> None:
        super().__init__()
        self.arch = arch
        self.edge_ops = arch_edges(arch)
        self.edges = nn.ModuleDict(
            {edge_name(s, d): make_op(op, channels) for (s, d), op in self.edge_ops.items()}
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for dst in range(1, 4):
            total = self.edges[edge_name(0, dst)](nodes[0])
            for src in range(1, dst):
                total = total + self.edges[edge_name(src, dst)](nodes[src])
            nodes.append(total)
        return nodes[3]


class ResidualReduction(nn.Module):
    """The reduction block between stages: a stride-2 ResNet basic block (pre-activation convs),
    shortcut AvgPool2d(2) -> Conv1x1, output = shortcut + main with no activation after."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(in_ch, out_ch, 3, 2, 1)
        self.conv_b = ReLUConvBN(out_ch, out_ch, 3, 1, 1)
        self.downsample = nn.Sequential(
            nn.AvgPool2d(kernel_size=2, stride=2, padding=0),
            nn.Conv2d(in_ch, out_ch, 1, 1, 0, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(x) + self.conv_b(self.conv_a(x))


class NB201Network(nn.Module):
    """The NAS-Bench-201 macro skeleton around one cell architecture (the "TinyNetwork")."""

    def __init__(self, arch: str, num_classes: int, channels: int = C_INIT) -> None:
        super().__init__()
        parse_arch(arch)
        self.arch_str = arch
        self.stem = nn.Sequential(
            nn.Conv2d(3, channels, 3, 1, 1, bias=False), nn.BatchNorm2d(channels)
        )
        # cells: 5 cells, reduction, 5 cells, reduction, 5 cells (17 modules, as in the reference)
        layers: list[nn.Module] = []
        c = channels
        for stage in range(3):
            if stage > 0:
                layers.append(ResidualReduction(c, c * 2))
                c *= 2
            layers.extend(Cell(arch, c) for _ in range(CELLS_PER_STAGE))
        self.cells = nn.ModuleList(layers)
        self.lastact = nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(inplace=True))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for layer in self.cells:
            x = layer(x)
        x = self.global_pooling(self.lastact(x))
        return self.classifier(x.flatten(1))


def build_nb201(arch: str, *, dataset: str = "cifar10") -> nn.Module:
    """Build the NAS-Bench-201 network of ``arch`` with the head of ``dataset``
    (cifar10: 10 classes, cifar100: 100, imagenet16: 120 with 16x16 input)."""
    key = _canonical_dataset(dataset)
    model = NB201Network(arch.strip(), num_classes(key))
    model.dataset = key
    return model
