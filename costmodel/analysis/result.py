"""The Analysis result: a tidy per-node table with pandas views on top; its repr is the table.

Conventions: one MAC is one multiply-accumulate. FLOPs are 2 x MACs for MAC ops (convolution,
linear, matmul, attention) plus one FLOP per element of element-wise work (bias adds, activations,
arithmetic, ~2 per element for batch norm, ~5 for layer/group norm, ~4 for softmax, one per
element a pooling window or reduction reads). Bytes are counted at the tensors' dtype: activation
reads, parameter/buffer reads and writes separately. Zero-copy ops (views, permutes, slices)
move no bytes; copies (contiguous, reshape of a strided tensor), concatenation and padding do.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pandas as pd

from costmodel.analysis.capture import NodeRecord
from costmodel.analysis.taxonomy import CATEGORIES, MAC_CATEGORIES, NON_OP_CATEGORIES

NODE_COLUMNS = (
    "name",
    "op",
    "target",
    "module",
    "module_type",
    "category",
    "macs",
    "flops",
    "act_elems_read",
    "param_elems_read",
    "elems_written",
    "act_bytes_read",
    "param_bytes_read",
    "bytes_written",
    "params",
    "input_shapes",
    "output_shapes",
    "dtype",
    "aten_ops",
    "n_aten_ops",
    "is_copy",
    "kernel",
    "stride",
    "groups",
    "in_channels",
    "out_channels",
    "pattern",
    "unknown",
    "inputs",
    "sources",
)
_CATEGORY_SUMS = ("ops", "macs", "flops", "bytes", "params", "n_aten_ops")


def _shape_str(shapes: Sequence[Sequence[int]]) -> str:
    return ";".join("x".join(str(d) for d in s) for s in shapes)


def groups(r: NodeRecord) -> int:
    """The ``groups`` column: a convolution's groups, a channel shuffle's, else 0."""
    a = r.attrs
    return a.get("groups", 0) if "in_channels" in a or r.category == "shuffle" else 0


def _row(r: NodeRecord) -> dict[str, Any]:
    """One table row: derived columns are computed here, every other column is the record's
    field of that name."""
    a = r.attrs
    kernel = a.get("kernel")
    derived = {
        "input_shapes": _shape_str(r.input_shapes),
        "output_shapes": _shape_str(r.output_shapes),
        "aten_ops": ",".join(r.aten_ops),
        "inputs": ",".join(r.inputs),
        "sources": ",".join(r.sources or [r.name]),
        "n_aten_ops": len(r.aten_ops),
        "unknown": ",".join(r.unknown),
        "kernel": "x".join(map(str, kernel)) if kernel and "in_channels" in a else "",
        "stride": "x".join(map(str, a["stride"])) if "in_channels" in a else "",
        "groups": groups(r),
        "in_channels": a.get("in_channels", 0),
        "out_channels": a.get("out_channels", 0),
    }
    return {c: derived[c] if c in derived else getattr(r, c) for c in NODE_COLUMNS}


class Analysis:
    """Static analysis of one model on one input shape.

    Attributes: ``nodes`` (one row per graph node), ``by_category`` (totals per op category),
    ``totals`` (whole-model counts), ``unknown_ops`` (ops with no formula), ``method`` (``fx``, or
    ``dispatch`` when the fallback captured the model), ``notes`` (what the tracer had to do),
    ``records`` (the node records the table is made of). Totals are summed over the records, and
    the ``nodes`` table is built on first use, so bulk featurising never pays for a DataFrame.
    """

    def __init__(
        self,
        records: list[NodeRecord],
        *,
        model_name: str,
        input_shapes: list[tuple[int, ...]],
        method: str,
        module_calls: int,
        params: int,
        notes: list[str] | None = None,
    ) -> None:
        self.model_name = model_name
        self.input_shapes = input_shapes
        self.method = method
        self.notes = list(notes or [])
        self.records = records
        self._nodes: pd.DataFrame | None = None
        self._module_calls = module_calls
        self._params = params

    @property
    def nodes(self) -> pd.DataFrame:
        """One row per graph node (see :data:`NODE_COLUMNS`)."""
        if self._nodes is None:
            self._nodes = pd.DataFrame([_row(r) for r in self.records], columns=list(NODE_COLUMNS))
        return self._nodes

    def lowered(self, runtime: str) -> Analysis:
        """This (eager) analysis lowered to the graph ``runtime`` executes, without tracing the
        model again: its records copied, then ``runtime``'s rewrite rules applied."""
        import copy

        from costmodel.analysis.rewrites import FX_ONLY_RULES, lower

        records = copy.deepcopy(self.records)
        skip = () if self.method == "fx" else FX_ONLY_RULES  # as analyze(runtime=...) does
        notes = [*self.notes, *lower(records, runtime, skip=skip)]
        return Analysis(
            records,
            model_name=self.model_name,
            input_shapes=self.input_shapes,
            method=self.method,
            module_calls=self._module_calls,
            params=self._params,
            notes=notes,
        )

    def _op_records(self) -> list[NodeRecord]:
        return [r for r in self.records if r.category not in NON_OP_CATEGORIES]

    def category_sums(self) -> dict[str, dict[str, int]]:
        """``{category: {ops, macs, flops, bytes, params, n_aten_ops}}`` in taxonomy order;
        ``ops`` counts logical ops (a channel shuffle chain is one)."""
        sums: dict[str, dict[str, int]] = {}
        logical: dict[str, set[str]] = {}
        for r in self._op_records():
            row = sums.get(r.category)
            if row is None:
                row = sums[r.category] = dict.fromkeys(_CATEGORY_SUMS, 0)
                logical[r.category] = set()
            logical[r.category].add(r.pattern or r.name)
            row["macs"] += r.macs
            row["flops"] += r.flops
            row["bytes"] += r.act_bytes_read + r.param_bytes_read + r.bytes_written
            row["params"] += r.params
            row["n_aten_ops"] += len(r.aten_ops)
        for c, names in logical.items():
            sums[c]["ops"] = len(names)
        return {c: sums[c] for c in CATEGORIES if c in sums}

    @property
    def ops(self) -> pd.DataFrame:
        """The nodes that are operations (not inputs, outputs or constants)."""
        return self.nodes[~self.nodes["category"].isin(NON_OP_CATEGORIES)]

    @property
    def unknown_ops(self) -> pd.DataFrame:
        """One row per node whose work could not be costed: node, module, ATen op and reason."""
        rows = [
            (r.name, r.module, r.target, ",".join(r.unknown))
            for r in self.records
            if r.category == "unknown"
        ]
        return pd.DataFrame(rows, columns=["name", "module", "target", "unknown"])

    @property
    def by_category(self) -> pd.DataFrame:
        """Per-category totals; ``ops`` counts logical ops (a channel shuffle chain is one)."""
        sums = self.category_sums()
        table = pd.DataFrame(
            [list(v.values()) for v in sums.values()],
            index=pd.Index(list(sums), name="category"),
            columns=list(_CATEGORY_SUMS),
            dtype="int64",
        )
        total_bytes = max(int(table["bytes"].sum()), 1)
        table["macs_share"] = table["macs"] / max(int(table["macs"].sum()), 1)
        table["bytes_share"] = table["bytes"] / total_bytes
        return table

    def by_module(self, depth: int = 1) -> pd.DataFrame:
        """Totals per module path truncated to ``depth`` components ("" is the root's own ops)."""
        ops = self.ops.assign(
            scope=lambda d: d["module"].map(lambda m: ".".join(m.split(".")[:depth])),
            bytes=lambda d: d["act_bytes_read"] + d["param_bytes_read"] + d["bytes_written"],
        )
        g = ops.groupby("scope", sort=False)
        return pd.DataFrame(
            {
                "ops": g["name"].count(),
                **{c: g[c].sum() for c in ("macs", "flops", "bytes", "n_aten_ops")},
            }
        )

    @property
    def totals(self) -> dict[str, Any]:
        """Whole-model counts (parameters counted once even when a module is reused)."""
        ops = self._op_records()
        totals: dict[str, Any] = {
            "macs": sum(r.macs for r in ops),
            "flops": sum(r.flops for r in ops),
            "act_bytes_read": sum(r.act_bytes_read for r in ops),
            "param_bytes_read": sum(r.param_bytes_read for r in ops),
            "bytes_written": sum(r.bytes_written for r in ops),
            "n_aten_ops": sum(len(r.aten_ops) for r in ops),
        }
        totals.update(
            params=self._params,
            bytes=totals["act_bytes_read"] + totals["param_bytes_read"] + totals["bytes_written"],
            nodes=len(ops),
            logical_ops=len({r.pattern or r.name for r in ops}),
            mac_nodes=sum(r.category in MAC_CATEGORIES for r in ops),
            module_calls=self._module_calls,
            conv_groups=sum(groups(r) for r in ops if r.category.startswith("conv_")),
            unknown=sum(r.category == "unknown" for r in ops),
        )
        return totals

    def table(self, by: str = "category") -> pd.DataFrame:
        """The view named by ``by``: ``node``, ``category`` or ``module``."""
        if by == "node":
            return self.nodes
        if by == "category":
            return self.by_category
        if by == "module":
            return self.by_module()
        raise ValueError(f"unknown view {by!r}: use node, category or module")

    def to_json(self, by: str = "category") -> str:
        """JSON with the model, input, totals, the chosen view and the unknown ops."""
        view = self.table(by)
        payload = {
            "model": self.model_name,
            "input_shapes": self.input_shapes,
            "method": self.method,
            "totals": self.totals,
            by: json.loads(view.to_json(orient="table" if by != "node" else "records")),
            "unknown_ops": self.unknown_ops.to_dict(orient="records"),
            "notes": self.notes,
        }
        return json.dumps(payload, indent=2, default=str)

    def __repr__(self) -> str:
        t = self.totals
        shapes = ", ".join("x".join(map(str, s)) for s in self.input_shapes)
        cat = self.by_category.copy()
        cat["macs"] = (cat["macs"] / 1e6).map("{:,.2f}".format)
        cat["flops"] = (cat["flops"] / 1e6).map("{:,.2f}".format)
        cat["bytes"] = (cat["bytes"] / 1e6).map("{:,.2f}".format)
        cat["macs_share"] = (100 * cat["macs_share"]).map("{:.1f}%".format)
        cat["bytes_share"] = (100 * cat["bytes_share"]).map("{:.1f}%".format)
        cat = cat.rename(columns={"macs": "MMACs", "flops": "MFLOPs", "bytes": "MB"})
        lines = [
            f"{self.model_name}  input {shapes}  ({self.method})",
            cat.to_string(),
            f"total: {t['params'] / 1e6:,.3f} M params, {t['macs'] / 1e6:,.2f} MMACs, "
            f"{t['flops'] / 1e6:,.2f} MFLOPs, {t['bytes'] / 1e6:,.2f} MB moved, "
            f"{t['nodes']} nodes ({t['mac_nodes']} MAC), {t['module_calls']} module calls, "
            f"{t['n_aten_ops']} ATen ops",
        ]
        if t["unknown"]:
            lines.append(f"UNKNOWN ops (not costed): {', '.join(self.unknown_ops['unknown'])}")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)
