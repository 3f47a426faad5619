"""The rewrite registry: small rules that turn the eager node table into the graph a runtime
executes, and which rules each runtime applies, in order.

A rule takes the records of one analysis (in execution order), changes them in place and
returns how many nodes it changed. Rules keep the graph consistent: a removed node's users
read its inputs instead, and a node that absorbs another lists it in ``sources``.
"""

from __future__ import annotations

from collections.abc import Callable

from costmodel.analysis.capture import NodeRecord

Rule = Callable[[list[NodeRecord]], int]
RULES: dict[str, Rule] = {}


def rule(name: str) -> Callable[[Rule], Rule]:
    """Register ``fn`` as the rewrite rule ``name``."""

    def register(fn: Rule) -> Rule:
        if name in RULES:
            raise ValueError(f"rewrite rule {name!r} is registered twice")
        RULES[name] = fn
        return fn

    return register


# Which rules each runtime applies, in order (rule names; see the modules of this package).
RUNTIME_RULES: dict[str, tuple[str, ...]] = {
    "eager": (),
    # ExecuTorch with the XNNPACK delegate: export removes views and identities (not ``x * 0``
    # of a live tensor: it runs); XNNPACK's passes fold batch norm into conv/linear, fuse ReLU
    # and clamps (ReLU6, hardtanh) into the op producing them, and the delegate computes
    # convolutions in NHWC, converting at the boundaries with NCHW-only ops. Ops the
    # partitioner does not take run on ExecuTorch's portable kernels, in NCHW: marked before
    # the layout rule, which then converts around them. A depthwise convolution larger than
    # XNNPACK's depthwise kernels (7x7) runs its grouped-convolution kernel. Exported graphs are
    # functional: in-place ops run as their out-of-place forms (last: only names change).
    "executorch": (
        "drop_free",
        "fold_batchnorm",
        "fuse_activation_xnnpack",
        "portable_xnnpack",
        "dwconv_igemm_xnnpack",
        "layout_copies_nhwc",
        "functional_ops",
    ),
    # ONNX Runtime (CPU provider, all graph optimisations): identity and dropout elimination,
    # Conv+BatchNorm fusion, Conv/Gemm + activation fusion (FusedConv). Its constant folding
    # needs all-constant inputs, so ``x * 0`` of a live tensor runs: no dead-work rule (the
    # 442-model board agrees: counting dead branches predicts it better). On x86 its NCHWc
    # convolutions also take a residual add and the activation after it (ORT's profiler shows
    # no Add or Relu of their own): sum fusion before activation fusion, so that a conv that
    # feeds an activation is never the add's producer, and the ReLU after the add then fuses.
    # Common subexpressions (the same ReLU or pooling of one tensor on two edges) run once;
    # merged before the fusions, as ORT's basic optimisations run before its fusions. In-place
    # ops named out of place last, after the merge, which never merges an in-place op.
    "onnxruntime": (
        "drop_free",
        "cse",
        "fold_batchnorm",
        "fuse_sum_ort",
        "fuse_activation_ort",
        "functional_ops",
    ),
    # TFLite / LiteRT converters: ``x * 0`` folded to a zero constant (what only feeds it is
    # dead, an add of it is the identity; the ops that read it still run), BN folded into conv,
    # ReLU/ReLU6 fused into the conv or add producing them (imported NAS-Bench-201 raspi4 /
    # pixel3 timings).
    "tflite": (
        "fold_zeros",
        "drop_free",
        "fold_batchnorm",
        "fuse_activation_tflite",
        "functional_ops",
    ),
}
RUNTIMES: tuple[str, ...] = tuple(RUNTIME_RULES)
# Rules that walk back from the graph's output node, which a dispatch-level capture has not.
FX_ONLY_RULES: tuple[str, ...] = ("dead_work", "fold_zeros")
# Runtimes that leave ops their delegate does not take to fallback kernels (ExecuTorch's
# portable ops: plain loops, hundreds of times slower per element than the delegate).
FALLBACK_RUNTIMES: frozenset[str] = frozenset(
    r for r, rules in RUNTIME_RULES.items() if "portable_xnnpack" in rules
)


def check_runtime(runtime: str) -> str:
    """``runtime`` when it has a lowering, else a ValueError naming the choices."""
    if runtime not in RUNTIME_RULES:
        raise ValueError(f"unknown runtime {runtime!r}: use one of {', '.join(RUNTIMES)}")
    return runtime
