"""Functionalisation: an exported graph has no in-place ops.

``torch.export`` (ExecuTorch), the ONNX exporter and the TFLite converters run a functional
graph: ``x.relu_()`` becomes ``relu(x)``, computed by the same kernel as ``relu``. The eager
table keeps the in-place name its dispatch recorded; the lowered one names the op the runtime
runs, so that one kernel is one op for whatever reads the names (the op-level predictor's op
codes: as two, EfficientNet's ``silu_`` was an op never seen when that family was held out,
whose SiLUs cost what the random networks' ``silu`` do per element, 0.285 ns on the Xeon
ExecuTorch board).
"""

from __future__ import annotations

from costmodel.analysis.capture import NodeRecord
from costmodel.analysis.rewrites.registry import rule


def out_of_place(op: str) -> str:
    """The out-of-place name of an ATen op (``aten.silu_`` -> ``aten.silu``); a dunder
    (``aten.__and__``) or an op that is not in place stays as it is."""
    return op[:-1] if op.endswith("_") and not op.endswith("__") else op


@rule("functional_ops")
def functional_ops(records: list[NodeRecord]) -> int:
    """Name every in-place ATen op by its out-of-place form; return how many nodes changed."""
    changed = 0
    for r in records:
        ops = [out_of_place(op) for op in r.aten_ops]
        if ops != r.aten_ops:
            r.aten_ops = ops
            changed += 1
    return changed
