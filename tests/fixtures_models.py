"""Tiny builders for tests that need importable model specs (``fixtures_models:tiny``)."""

import torch
import torch.nn as nn


def tiny(width: int = 4) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, width, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(width, 10),
    )


def broken() -> nn.Module:
    raise RuntimeError("this builder always fails")


class _Bessel(nn.Module):
    def forward(self, x):
        import torch

        return torch.special.bessel_j0(x)  # an op costmodel has no formula for


def with_unknown_op(width: int = 4) -> nn.Module:
    """``tiny`` with one op that has no formula (for the unknown-op paths of predict)."""
    net = tiny(width)
    net.insert(2, _Bessel())
    return net


def with_mish(width: int = 4) -> nn.Module:
    """``tiny`` with a Mish activation (an op no calibration model of the tests runs)."""
    net = tiny(width)
    net.insert(2, nn.Mish())
    return net


class _Svd(nn.Module):
    """Runs in eager; neither ExecuTorch (not Core ATen) nor ONNX (no symbolic) can export it."""

    def forward(self, x):
        return torch.linalg.svdvals(x.flatten(2))


def unexportable() -> nn.Module:
    return _Svd()


class Dead(nn.Module):
    """conv_a feeds the output; conv_b only reaches it multiplied by zero."""

    def __init__(self):
        super().__init__()
        self.conv_a = nn.Conv2d(4, 4, 3, padding=1)
        self.conv_b = nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x):
        return self.conv_a(x) + self.conv_b(x).relu() * 0.0


class ZeroFed(nn.Module):
    """conv_b reads ``x * 0`` (a NAS-Bench-201 node fed only by a ``none`` edge); its result
    reaches the output through an add."""

    def __init__(self):
        super().__init__()
        self.conv_a = nn.Conv2d(4, 4, 3, padding=1)
        self.conv_b = nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x):
        return self.conv_a(x) + self.conv_b(x * 0.0)


# Two small graphs the per-op timing tests profile (eager and ONNX Runtime):
# a conv-bn-relu block with a residual add, and two branches concatenated.
class Residual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.block = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU())
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.block(x) + x)


class Concat(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(4, 2, 1)
        self.b = nn.Conv2d(4, 2, 3, padding=1)

    def forward(self, x):
        return torch.cat([self.a(x), self.b(x)], dim=1)


class ConvBnRelu(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.bn(self.conv(x)))


class Head(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(4, 10)

    def forward(self, x):
        return self.fc(self.flatten(self.pool(x)))
