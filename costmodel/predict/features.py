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
from costmodel.predict.nodes import node_timings

FEATURE_VERSION = 3  # bump when the analysis changes what features say (profiles record it)
OP_CATEGORIES = FEATURE_CATEGORIES
TOTALS = ("macs", "flops", "bytes", "params", "nodes", "logical_ops", "mac_nodes",
          "module_calls", "conv_groups", "n_aten_ops", "act_bytes_read", "param_bytes_read",
          "bytes_written")  # fmt: skip


def _prod(shape: Sequence[int]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


_NODE_NUMERIC = ("macs", "flops", "act_bytes", "param_bytes", "out_bytes", "params", "groups",
                 "kernel", "stride", "in_channels", "out_channels", "out_elems", "n_aten_ops",
                 "is_copy")  # fmt: skip


def _node_table(records: Sequence[Any]) -> pd.DataFrame:
    """One numeric row per op node (what the op-level predictor reads), straight from the
    analysis records: built for every model of a search space, so no per-node pandas work."""
    from costmodel.analysis.result import groups
    from costmodel.analysis.taxonomy import NON_OP_CATEGORIES

    cols: dict[str, list] = {c: [] for c in ("node", "category", "op", *_NODE_NUMERIC, "unknown")}
    for r in records:
        if r.category in NON_OP_CATEGORIES:
            continue
        a = r.attrs
        conv = "in_channels" in a
        kernel = a.get("kernel") if conv else None
        cols["node"].append(r.name)
        cols["category"].append(r.category)
        # the node's first ATen op: what a category leaves open (relu or gelu, add or mul)
        cols["op"].append(r.aten_ops[0] if r.aten_ops else "")
        cols["macs"].append(r.macs)
        cols["flops"].append(r.flops)
        cols["act_bytes"].append(r.act_bytes_read)
        cols["param_bytes"].append(r.param_bytes_read)
        cols["out_bytes"].append(r.bytes_written)
        cols["params"].append(r.params)
        cols["groups"].append(groups(r))
        cols["kernel"].append(_prod(kernel) if kernel else 0)
        cols["stride"].append(a["stride"][0] if conv and a.get("stride") else 0)
        cols["in_channels"].append(a.get("in_channels", 0))
        cols["out_channels"].append(a.get("out_channels", 0))
        cols["out_elems"].append(sum(_prod(s) for s in r.output_shapes))
        cols["n_aten_ops"].append(len(r.aten_ops))
        cols["is_copy"].append(r.is_copy)
        # the ops of a node with no formula ("" elsewhere): predict names them
        cols["unknown"].append(_unknown_names(",".join(r.unknown)))
    return pd.DataFrame(
        {
            "node": np.array(cols["node"], dtype=object),
            "category": np.array(cols["category"], dtype=object),
            "op": np.array(cols["op"], dtype=object),
            **{c: np.array(cols[c], dtype=float) for c in _NODE_NUMERIC},
            "unknown": np.array(cols["unknown"], dtype=str),
        }
    )


def _unknown_names(text: Any) -> str:
    """``aten.foo (no formula),aten.bar (formula failed: ...)`` -> ``aten.bar,aten.foo``."""
    return ",".join(sorted(set(re.findall(r"(aten\.\w+) \(", str(text or "")))))


def _model_row(analysis) -> dict[str, float]:
    t = analysis.totals
    row = {k: float(t[k]) for k in TOTALS}
    cat = analysis.category_sums()
    none = dict.fromkeys(("ops", "macs", "bytes", "flops"), 0)
    for c in OP_CATEGORIES:
        sums = cat.get(c, none)
        for k in ("ops", "macs", "bytes", "flops"):
            row[f"{c}_{k}"] = float(sums[k])
    row["non_mac_bytes"] = sum(row[f"{c}_bytes"] for c in OP_CATEGORIES if c not in MAC_CATEGORIES)
    row["non_mac_ops"] = sum(row[f"{c}_ops"] for c in OP_CATEGORIES if c not in MAC_CATEGORIES)
    # Ops with no formula are no category's work: predict costs them with a stated fallback.
    unknown = cat.get("unknown", none)
    row["unknown_ops"] = float(unknown["ops"])
    row["unknown_bytes"] = float(unknown["bytes"])
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
        return _model_row(a), _node_table(a.records)
    except Exception as exc:  # reported by featurize, which decides what to do
        return None, f"{type(exc).__name__}: {exc}"


def _chunk(specs, shape, prune_dead, dtype=None, runtime="eager"):
    """``[(spec, (row, node table) or (None, error))]`` for a chunk of specs (one joblib task)."""
    return [(s, _analyze_one(s, shape, prune_dead, dtype, runtime)) for s in specs]


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
        self,
        X: pd.DataFrame,
        nodes: Mapping[str, pd.DataFrame],
        failures: dict[str, str],
        cached: int = 0,
    ) -> None:
        self.X = X
        self.nodes = nodes
        self.failures = failures
        self.cached = cached  # how many of the models were read from the cache
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
        timed = node_timings(op_timings) if op_timings is not None and len(op_timings) else None
        measured = set(timed.index.get_level_values(0)) if timed is not None else set()
        tables = []
        for s in specs:
            table = self.nodes[s]
            if s in measured:
                own = timed.loc[s].reindex(table["node"])
                table = table.assign(**{c: own[c].to_numpy() for c in own})
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

    Specs go to joblib in chunks of ``chunk_size``, each chunk written to the disk cache as it
    finishes (in completion order), so an interrupted run loses at most the chunks in flight
    and a rerun resumes where it stopped. ``errors="raise"`` raises :class:`FeatureError`
    listing every model that failed (after the others were computed and cached, so nothing is
    lost); ``"skip"`` leaves them out and lists them in ``.failures``. ``cache=False`` disables
    the disk cache (see :mod:`costmodel.predict.cache`). ``dtype`` (``float16``...) analyses the
    models in that dtype; ``runtime`` counts the graph that runtime executes (see
    :mod:`costmodel.analysis.rewrites`). ``progress`` shows a bar of models done (cache hits
    included).
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
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(unique), initial=len(unique) - len(todo), unit="model",
                   desc="featurising", smoothing=0.05)  # fmt: skip
    try:
        if chunks:
            jobs = (delayed(_chunk)(c, input_shape, prune_dead, dtype, runtime) for c in chunks)
            for outs in Parallel(n_jobs=n_jobs, return_as="generator_unordered")(jobs):
                for s, out in outs:
                    results[s] = out
                    if cache and out[0] is not None:
                        cache.put(s, input_shape, prune_dead, out, dtype, runtime)
                if bar is not None:
                    bar.update(len(outs))
    finally:
        if bar is not None:
            bar.close()
    failures = {s: r[1] for s, r in results.items() if r[0] is None}
    if failures and errors == "raise":
        raise FeatureError(failures)
    ok = [s for s in unique if results[s][0] is not None]
    X = pd.DataFrame([results[s][0] for s in ok], index=pd.Index(ok, name="model"))

    def node_table(s: str) -> pd.DataFrame:
        table = lazy[s]() if s in lazy else None
        if table is None and s in lazy:  # its node file is unreadable: analyse it again
            out = _analyze_one(s, input_shape, prune_dead, dtype, runtime)
            if out[0] is None:
                raise FeatureError({s: out[1]})
            table = out[1]
            if cache:
                cache.put(s, input_shape, prune_dead, out, dtype, runtime)
        return table

    nodes = NodeTables({s: (results[s][1] if s not in lazy else None) for s in ok}, node_table)
    return Features(X, nodes, failures, cached=len(lazy))


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
