"""Per-op cost formulas, one module per family of ops; importing this package registers them all.

A new op needs one formula in the module of its family (or a new module imported here).
"""

from costmodel.analysis.ops import (  # noqa: F401  (imported for their registrations)
    alloc,
    conv,
    matmul,
    movement,
    norm,
    pointwise,
    pooling,
    reduction,
    resample,
)
from costmodel.analysis.ops.registry import (
    CATEGORIES,
    MAC_CATEGORIES,
    OpCost,
    formula,
    lookup,
    registered_ops,
)

__all__ = ["CATEGORIES", "MAC_CATEGORIES", "OpCost", "formula", "lookup", "registered_ops"]
