"""Errors the analyzer raises, each naming what failed, where, and what to do."""

from __future__ import annotations


class AnalysisError(RuntimeError):
    """A model could not be analysed (bad input, untraceable code, a failing op)."""


class UntraceableModelError(AnalysisError):
    """torch.fx could not trace the model and no fallback capture worked."""
