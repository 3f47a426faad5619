"""costmodel: predict embedded inference latency of PyTorch models from MAC and non-MAC work.

Public API::

    import costmodel
    a = costmodel.analyze(model, input_shape=(1, 3, 32, 32))
    a.nodes, a.by_category, a.totals, a.unknown_ops
"""

from costmodel.analysis import Analysis, AnalysisError, UntraceableModelError, analyze

__version__ = "0.1.0"

__all__ = ["Analysis", "AnalysisError", "UntraceableModelError", "__version__", "analyze"]
