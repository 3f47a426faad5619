"""The multi-board prior's sources: which boards can speak for which."""

from costmodel.analysis.rewrites import FALLBACK_RUNTIMES
from costmodel.predict.prior import MultiBoardPrior, PriorSource


def test_a_source_with_fallback_kernels_speaks_for_its_own_runtime_only():
    prior = MultiBoardPrior(
        [
            PriorSource("x86", None),
            PriorSource("et", None, runtime="executorch"),
            PriorSource("ort", None, runtime="onnxruntime"),
        ]
    )
    assert FALLBACK_RUNTIMES == {"executorch"}  # its portable kernels
    assert [s.name for s in prior.for_runtime("onnxruntime").sources] == ["x86", "ort"]
    assert [s.name for s in prior.for_runtime("eager").sources] == ["x86", "ort"]
    assert [s.name for s in prior.for_runtime("executorch").sources] == ["x86", "et", "ort"]
    assert [s.name for s in prior.without(["x86"]).for_runtime("tflite").sources] == ["ort"]
