"""costmodel: predict embedded inference latency of PyTorch models from MAC and non-MAC work.

Public API::

    import costmodel
    a = costmodel.analyze(model, input_shape=(1, 3, 32, 32))
    a.nodes, a.by_category, a.totals, a.unknown_ops

    feats = costmodel.predict.features.featurize(specs)          # once per search space
    table = costmodel.predict_table(profile, feats)              # 10,000s of candidates a second
"""

from costmodel.analysis import Analysis, AnalysisError, UntraceableModelError, analyze

__version__ = "0.1.0"

__all__ = [
    "Analysis",
    "AnalysisError",
    "UntraceableModelError",
    "__version__",
    "analyze",
    "predict_table",
]


def __getattr__(name: str):
    """Prediction entry points, imported on first use (they need scikit-learn; analysis not)."""
    if name == "predict_table":
        from costmodel.predict.predictions import predict_table

        return predict_table
    raise AttributeError(f"module 'costmodel' has no attribute {name!r}")
