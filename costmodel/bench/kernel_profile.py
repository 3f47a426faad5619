"""What a runtime's own profiler measured for one model, mapped to its lowered node table.

A runtime profiler (ONNX Runtime's, :mod:`costmodel.bench.ort_ops`; ExecuTorch's ETDump,
:mod:`costmodel.bench.et_ops`) reports one time per *kernel* it ran. Each kernel is mapped to
the lowered row that computes it, or to none; this module holds what both share: the result
object, the per-row table and the ops.csv rows (one per lowered row timed, ``(unmapped)`` for
kernels no rule placed, ``(between)`` for the whole-model time outside every kernel).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import trim_mean

from costmodel.bench.profiler import BETWEEN, UNMAPPED, children_text
from costmodel.bench.store import OPS_COLUMNS


@dataclass
class KernelProfile:
    """Per-kernel timings of one model on a runtime (microseconds, medians over ``runs``).

    ``events``: one row per kernel (``label``: its kind as children name it, ``latency_us``,
    ``node``: the lowered row it went to, or "" with the ``reason`` it went to none); ``rows``:
    one row per lowered node that got time (``node``, ``target``, ``module``, ``category``,
    ``latency_us``, ``children``: us per kernel label); ``missing``: lowered op rows no kernel
    was mapped to (the runtime computes them inside another kernel); ``whole_us``: the
    un-profiled whole-model latency, when given; ``overhead_us``: the profiler's own cost per
    kernel, subtracted from each one; ``method``: ops.csv's name for how rows were measured.
    """

    events: pd.DataFrame
    rows: pd.DataFrame
    runs: int
    method: str
    whole_us: float | None = None
    missing: list[str] = field(default_factory=list)
    overhead_us: float = 0.0

    @property
    def total_us(self) -> float:
        """Sum of every kernel's median time."""
        return float(self.events["latency_us"].sum())

    @property
    def profiled_run_us(self) -> float:
        """Median wall time of a profiled run (the runtime's own event around a run: ORT's
        ``model_run``, ExecuTorch's ``Method::execute``), from ``events.attrs['run_us']``."""
        return float(self.events.attrs.get("run_us", float("nan")))

    @property
    def unmapped_us(self) -> float:
        return float(self.events.loc[self.events["node"] == "", "latency_us"].sum())

    @property
    def mapped_fraction(self) -> float:
        """Share of the kernels' time that went to lowered rows."""
        return 1.0 - self.unmapped_us / self.total_us if self.total_us > 0 else float("nan")

    @property
    def coverage(self) -> float:
        """Sum of the kernels' medians over the un-profiled whole-model median."""
        return self.total_us / self.whole_us if self.whole_us else float("nan")

    def unmapped_ops(self) -> dict[str, float]:
        """Unmapped time per kernel label."""
        events = self.events[self.events["node"] == ""]
        return {k: float(v) for k, v in events.groupby("label")["latency_us"].sum().items()}

    def ops_rows(self, model: str = "", **common: Any) -> list[dict[str, Any]]:
        """ops.csv rows: one per lowered row timed, ``(unmapped)`` when any kernel went to no
        row, and ``(between)`` when the whole-model latency is known."""
        rows = [
            {**r, "children": children_cell(r["children"]), "config": "", "cached": False}
            for r in self.rows.to_dict("records")
        ]
        unmapped = self.unmapped_ops()
        if unmapped:
            rows.append(
                {
                    "node": UNMAPPED,
                    "category": "unmapped",
                    "latency_us": self.unmapped_us,
                    "children": children_cell(unmapped),
                }
            )
        if self.whole_us is not None:
            between = self.whole_us - self.total_us
            rows.append({"node": BETWEEN, "category": "between", "latency_us": between})
        for r in rows:
            r.update(model=model, method=self.method, **common)
        return [{c: r.get(c, "") for c in OPS_COLUMNS} for r in rows]


QUANTISED_TICKS = 10  # below this many ticks a median is a rounding, not a measurement


def tick_median(values: list[float], tick: float) -> float:
    """The median of a kernel's per-run times, unless every one is a whole number of ``tick``
    (a runtime profiler's clock: XNNPACK's and ONNX Runtime's read whole microseconds) and the
    median is under :data:`QUANTISED_TICKS` ticks. There the median rounds to a tick (a 0.4 us
    transpose reads 0 or 1 and its median is 0: all-zero kernels on a fast CI machine), while
    the mean of readings taken at random clock phases is unbiased; a 10% trimmed mean keeps
    that and still drops a pre-empted run. Same units in and out."""
    ticks = np.asarray(values, dtype=float) / tick
    median = float(np.median(ticks))
    if median < QUANTISED_TICKS and np.allclose(ticks, np.round(ticks), rtol=0, atol=1e-6):
        return tick * float(trim_mean(ticks, 0.1))
    return tick * median


def children_cell(parts: dict[str, float]) -> str:
    """``op=us;op=us`` as :func:`children_text` writes it, a single op included."""
    if len(parts) == 1:
        ((k, v),) = parts.items()
        return f"{k}={v:.1f}"
    return children_text(parts)


def row_table(mapped: pd.DataFrame, lowered: pd.DataFrame) -> pd.DataFrame:
    """One row per lowered node that kernels were mapped to (in the lowered table's order):
    their summed time and the time per kernel label."""
    info = lowered.set_index("name")
    rows = []
    for node, g in mapped[mapped["node"] != ""].groupby("node", sort=False):
        parts = g.groupby("label")["latency_us"].sum()
        rows.append(
            {
                "node": node,
                "target": info.at[node, "target"],
                "module": info.at[node, "module"],
                "category": info.at[node, "category"],
                "latency_us": float(g["latency_us"].sum()),
                "children": {k: float(v) for k, v in parts.items()},
            }
        )
    order = {n: i for i, n in enumerate(lowered["name"])}
    rows.sort(key=lambda r: order.get(r["node"], len(order)))
    return pd.DataFrame(
        rows, columns=["node", "target", "module", "category", "latency_us", "children"]
    )


def node_tables(
    model: Any, shape: tuple[int, ...], runtime: str
) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """(lowered for ``runtime``, eager) node tables of ``model``; None when it was captured at
    dispatch level (no module scopes or program order to map a profiler's kernels by)."""
    from costmodel.analysis import analyze

    eager = analyze(model, tuple(shape))
    if eager.method != "fx":
        return None
    return eager.lowered(runtime).nodes, eager.nodes


__all__ = ["KernelProfile", "children_cell", "node_tables", "row_table"]
