"""Static analysis: trace a model, propagate shapes on meta tensors, count every node's work."""

from costmodel.analysis.api import METHODS, UnknownOpWarning, analyze
from costmodel.analysis.errors import AnalysisError, UntraceableModelError
from costmodel.analysis.result import Analysis

__all__ = [
    "METHODS",
    "Analysis",
    "AnalysisError",
    "UnknownOpWarning",
    "UntraceableModelError",
    "analyze",
]
