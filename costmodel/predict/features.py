"""Features for the predictors: per-model aggregates and per-node rows, cached and parallel.

:func:`featurize` turns model specs into one row per model (totals and per-category totals of
the static analysis); :func:`node_features` gives one numeric row per op node (what the op-level
predictor learns from). Both come from one analysis per (spec, input shape, options), computed
in parallel with joblib and cached on disk, so a second run is a file read.

On a cluster, switch joblib's backend before calling::

    from joblib import parallel_config
    # dask: first `from dask.distributed import Client; client = Client(scheduler_address)`
    with parallel_config(backend="dask"):
        X = featurize(specs, n_jobs=-1)
    # or backend="ray" after `from ray.util.joblib import register_ray; register_ray()`
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed

from costmodel.analysis.taxonomy import FEATURE_CATEGORIES, MAC_CATEGORIES
from costmodel.predict.cache import FeatureCache, default_cache_dir  # noqa: F401  (re-exported)

FEATURE_VERSION = 2  # bump when the analysis changes what features say (profiles record it)
OP_CATEGORIES = FEATURE_CATEGORIES
TOTALS = ("macs", "flops", "bytes", "params", "nodes", "logical_ops", "mac_nodes",
          "module_calls", "conv_groups", "n_aten_ops", "act_bytes_read", "param_bytes_read",
          "bytes_written")  # fmt: skip


def _kernel_area(text: str) -> int:
    if not isinstance(text, str) or not text:
        return 0
    area = 1
    for d in text.split("x"):
        area *= int(d)
    return area


def _node_table(nodes: pd.DataFrame) -> pd.DataFrame:
    ops = nodes[~nodes["category"].isin(["io", "constant"])]
    out_elems = ops["output_shapes"].map(
        lambda s: (
            sum(int(np.prod([int(d) for d in part.split("x")])) for part in s.split(";"))
            if isinstance(s, str) and s
            else 0
        )
    )
    return pd.DataFrame(
        {
            "node": ops["name"].to_numpy(),
            "category": ops["category"].to_numpy(),
            "macs": ops["macs"].to_numpy(float),
            "flops": ops["flops"].to_numpy(float),
            "act_bytes": ops["act_bytes_read"].to_numpy(float),
            "param_bytes": ops["param_bytes_read"].to_numpy(float),
            "out_bytes": ops["bytes_written"].to_numpy(float),
            "params": ops["params"].to_numpy(float),
            "groups": ops["groups"].to_numpy(float),
            "kernel": ops["kernel"].map(_kernel_area).to_numpy(float),
            "stride": ops["stride"].map(lambda s: int(s.split("x")[0]) if s else 0).to_numpy(float),
            "in_channels": ops["in_channels"].to_numpy(float),
            "out_channels": ops["out_channels"].to_numpy(float),
            "out_elems": out_elems.to_numpy(float),
            "n_aten_ops": ops["n_aten_ops"].to_numpy(float),
            "is_copy": ops["is_copy"].to_numpy(float),
            # the ops of a node with no formula ("" elsewhere): predict names them
            "unknown": ops["unknown"].map(_unknown_names).to_numpy(str),
        }
    )


def _unknown_names(text: Any) -> str:
    """``aten.foo (no formula),aten.bar (formula failed: ...)`` -> ``aten.bar,aten.foo``."""
    return ",".join(sorted(set(re.findall(r"(aten\.\w+) \(", str(text or "")))))


def _model_row(analysis) -> dict[str, float]:
    t = analysis.totals
    row = {k: float(t[k]) for k in TOTALS}
    cat = analysis.by_category
    for c in OP_CATEGORIES:
        present = c in cat.index
        row[f"{c}_ops"] = float(cat.at[c, "ops"]) if present else 0.0
        row[f"{c}_macs"] = float(cat.at[c, "macs"]) if present else 0.0
        row[f"{c}_bytes"] = float(cat.at[c, "bytes"]) if present else 0.0
        row[f"{c}_flops"] = float(cat.at[c, "flops"]) if present else 0.0
    row["non_mac_bytes"] = sum(row[f"{c}_bytes"] for c in OP_CATEGORIES if c not in MAC_CATEGORIES)
    row["non_mac_ops"] = sum(row[f"{c}_ops"] for c in OP_CATEGORIES if c not in MAC_CATEGORIES)
    # Ops with no formula are no category's work: predict costs them with a stated fallback.
    unknown = "unknown" in cat.index
    row["unknown_ops"] = float(cat.at["unknown", "ops"]) if unknown else 0.0
    row["unknown_bytes"] = float(cat.at["unknown", "bytes"]) if unknown else 0.0
    return row


def _analyze_one(
    spec: str,
    shape: tuple[int, ...] | None,
    prune_dead: bool,
    dtype: str | None = None,
    runtime: str = "eager",
):
    """(model row, node table) of one spec, or (None, error text)."""
    import warnings

    from costmodel.analysis import analyze
    from costmodel.analysis.api import resolve_dtype
    from costmodel.zoo import build, input_shape

    try:
        shape = shape or input_shape(spec)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # unknown ops show up as the 'unknown' feature
            model = build(spec, device="meta")  # no weights are allocated for analysis
            if dtype is not None:
                model = model.to(resolve_dtype(dtype, model))
            a = analyze(model, shape, name=spec, prune_dead=prune_dead, runtime=runtime)
        return _model_row(a), _node_table(a.nodes)
    except Exception as exc:  # reported by featurize, which decides what to do
        return None, f"{type(exc).__name__}: {exc}"


def _chunk(specs, shape, prune_dead, dtype=None, runtime="eager"):
    return [_analyze_one(s, shape, prune_dead, dtype, runtime) for s in specs]


class FeatureError(RuntimeError):
    """Some models could not be featurised; ``failures`` maps spec -> error."""

    def __init__(self, failures: dict[str, str]) -> None:
        self.failures = failures
        shown = "\n  ".join(f"{s}: {e}" for s, e in list(failures.items())[:10])
        super().__init__(f"{len(failures)} model(s) could not be analysed:\n  {shown}")


class Features:
    """Per-model feature table ``X`` (indexed by spec) and per-node tables by spec.

    ``nodes`` maps spec -> node table (a dict, the lazy :class:`NodeTables`, or a
    :class:`~costmodel.predict.nodes.NodeBatch` holding them all in one long table)."""

    def __init__(
        self, X: pd.DataFrame, nodes: Mapping[str, pd.DataFrame], failures: dict[str, str]
    ) -> None:
        self.X = X
        self.nodes = nodes
        self.failures = failures
        self._batch = None

    def node_batch(self, op_timings: pd.DataFrame | None = None):
        """Every node of every model of ``X`` in one long table (built once), with the measured
        ``latency_us`` of ``op_timings`` joined (ops.csv rows: model, node, latency_us)."""
        from costmodel.predict.nodes import NodeBatch

        if self._batch is None:
            nodes = self.nodes
            if isinstance(nodes, NodeBatch) and nodes.models.equals(self.X.index):
                self._batch = nodes
            else:
                specs = list(self.X.index)
                self._batch = NodeBatch.from_tables(specs, [nodes[s] for s in specs])
        return self._batch.with_timings(op_timings)

    def with_node_batch(
        self, specs: Iterable[str] | None = None, op_timings: pd.DataFrame | None = None
    ) -> pd.DataFrame:
        """``X`` (for ``specs``, in order) with its nodes as one long table shared by all rows
        (:mod:`costmodel.predict.nodes`): what predicting many candidates wants. Same
        content as :meth:`with_nodes`, without one DataFrame per model."""
        from costmodel.predict.nodes import attach

        specs = list(self.X.index if specs is None else specs)
        return attach(self.X.loc[specs], self.node_batch(op_timings))

    def with_nodes(
        self, specs: Iterable[str] | None = None, op_timings: pd.DataFrame | None = None
    ) -> pd.DataFrame:
        """``X`` (for ``specs``, in order) with a ``node_table`` column: each model's node table,
        with the measured ``latency_us`` of its nodes joined from ``op_timings`` (ops.csv rows:
        model, node, latency_us) where there are any."""
        specs = list(self.X.index if specs is None else specs)
        X = self.X.loc[specs].copy()
        measured: dict[str, pd.Series] = {}
        if op_timings is not None and len(op_timings):
            for model, group in op_timings.groupby("model"):
                measured[model] = group.groupby("node")["latency_us"].median()
        tables = []
        for s in specs:
            table = self.nodes[s]
            if s in measured:
                table = table.assign(latency_us=table["node"].map(measured[s]).to_numpy())
            tables.append(table)
        X["node_table"] = tables
        return X


def featurize(
    specs: Sequence[str],
    input_shape: tuple[int, ...] | None = None,
    prune_dead: bool = False,
    n_jobs: int = 1,
    cache: FeatureCache | None | bool = None,
    runtime: str = "eager",
    errors: str = "raise",
    progress: bool = False,
    chunk_size: int = 16,
    dtype: str | None = None,
) -> Features:
    """Analyse every spec (in parallel, cached) into a :class:`Features`.

        ``errors="raise"`` raises :class:`FeatureError` listing every model that failed (after the
    others were computed and cached, so nothing is lost); ``"skip"`` leaves them out and lists
    them in ``.failures``. ``cache=False`` disables the disk cache (see
    :mod:`costmodel.predict.cache`). ``dtype`` (``float16``...) analyses the models in that
    dtype; ``runtime`` counts the graph that runtime executes (see
    :mod:`costmodel.analysis.rewrites`).
    """
    from costmodel.analysis.rewrites import check_runtime

    check_runtime(runtime)
    cache = None if cache is False else (cache or FeatureCache())
    unique = list(dict.fromkeys(specs))
    results: dict[str, Any] = {}
    todo = []
    lazy: dict[str, Any] = {}
    for s in unique:
        hit = cache.get(s, input_shape, prune_dead, dtype, runtime) if cache else None
        if hit is not None:
            results[s], lazy[s] = (hit[0], None), hit[1]
        else:
            todo.append(s)
    chunks = [todo[i : i + chunk_size] for i in range(0, len(todo), chunk_size)]
    if chunks:
        jobs = (delayed(_chunk)(c, input_shape, prune_dead, dtype, runtime) for c in chunks)
        iterator = Parallel(n_jobs=n_jobs, return_as="generator")(jobs)
        if progress:
            from tqdm import tqdm

            iterator = tqdm(iterator, total=len(chunks), unit="chunk", desc="featurising")
        for chunk, outs in zip(chunks, iterator, strict=True):
            for s, out in zip(chunk, outs, strict=True):
                results[s] = out
                if cache and out[0] is not None:
                    cache.put(s, input_shape, prune_dead, out, dtype, runtime)
    failures = {s: r[1] for s, r in results.items() if r[0] is None}
    if failures and errors == "raise":
        raise FeatureError(failures)
    ok = [s for s in unique if results[s][0] is not None]
    X = pd.DataFrame([results[s][0] for s in ok], index=pd.Index(ok, name="model"))

    def node_table(s: str) -> pd.DataFrame:
        table = lazy[s]() if s in lazy else None
        if table is None and s in lazy:  # its node file is unreadable: analyse it again
            out = _analyze_one(s, input_shape, prune_dead, dtype)
            if out[0] is None:
                raise FeatureError({s: out[1]})
            table = out[1]
            if cache:
                cache.put(s, input_shape, prune_dead, out, dtype)
        return table

    nodes = NodeTables({s: (results[s][1] if s not in lazy else None) for s in ok}, node_table)
    return Features(X, nodes, failures)


class NodeTables(Mapping):
    """Spec -> node table; tables from the cache are read on first access only."""

    def __init__(self, tables: dict[str, Any], load: Callable[[str], pd.DataFrame]) -> None:
        self._tables, self._load = tables, load

    def __getitem__(self, spec: str) -> pd.DataFrame:
        if self._tables[spec] is None:
            self._tables[spec] = self._load(spec)
        return self._tables[spec]

    def __iter__(self):
        return iter(self._tables)

    def __len__(self) -> int:
        return len(self._tables)
