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

import hashlib
import os
import pickle
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed

from costmodel.analysis.taxonomy import FEATURE_CATEGORIES, MAC_CATEGORIES

FEATURE_VERSION = 2  # bump when the analysis changes what features say
OP_CATEGORIES = FEATURE_CATEGORIES
TOTALS = ("macs", "flops", "bytes", "params", "nodes", "logical_ops", "mac_nodes",
          "module_calls", "conv_groups", "n_aten_ops", "act_bytes_read", "param_bytes_read",
          "bytes_written")  # fmt: skip


def default_cache_dir() -> Path:
    """``$COSTMODEL_CACHE`` or ``~/.cache/costmodel``."""
    return Path(os.environ.get("COSTMODEL_CACHE", Path.home() / ".cache" / "costmodel"))


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
        }
    )


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
    return row


def _analyze_one(
    spec: str, shape: tuple[int, ...] | None, prune_dead: bool, runtime: str = "eager"
):
    """(model row, node table) of one spec, or (None, error text)."""
    import warnings

    from costmodel.analysis import analyze
    from costmodel.zoo import build, input_shape

    try:
        shape = shape or input_shape(spec)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # unknown ops show up as the 'unknown' feature
            model = build(spec)
            a = analyze(model, shape, name=spec, prune_dead=prune_dead, runtime=runtime)
        return _model_row(a), _node_table(a.nodes)
    except Exception as exc:  # reported by featurize, which decides what to do
        return None, f"{type(exc).__name__}: {exc}"


def _chunk(specs, shape, prune_dead, runtime="eager"):
    return [_analyze_one(s, shape, prune_dead, runtime) for s in specs]


class FeatureCache:
    """Analyses on disk, one pickle per (spec, input shape, options), so reruns are reads."""

    def __init__(self, directory: str | Path | None = None) -> None:
        self.directory = Path(directory) if directory else default_cache_dir() / "features"

    def _path(self, spec: str, shape, prune_dead: bool, runtime: str = "eager") -> Path:
        key = (FEATURE_VERSION, spec, tuple(shape) if shape else None, prune_dead)
        if runtime != "eager":  # eager keys as before; a lowering by its rules, in order
            from costmodel.analysis.rewrites import RUNTIME_RULES

            key = (*key, runtime, RUNTIME_RULES[runtime])
        key = repr(key)
        digest = hashlib.sha1(key.encode()).hexdigest()
        return self.directory / digest[:2] / f"{digest}.pkl"

    def get(self, spec: str, shape, prune_dead: bool, runtime: str = "eager"):
        path = self._path(spec, shape, prune_dead, runtime)
        if not path.exists():
            return None
        try:
            with open(path, "rb") as fh:
                return pickle.load(fh)
        except (OSError, EOFError, pickle.UnpicklingError):
            return None  # a half-written entry: recompute it

    def put(self, spec: str, shape, prune_dead: bool, value, runtime: str = "eager") -> None:
        path = self._path(spec, shape, prune_dead, runtime)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            pickle.dump(value, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)


class FeatureError(RuntimeError):
    """Some models could not be featurised; ``failures`` maps spec -> error."""

    def __init__(self, failures: dict[str, str]) -> None:
        self.failures = failures
        shown = "\n  ".join(f"{s}: {e}" for s, e in list(failures.items())[:10])
        super().__init__(f"{len(failures)} model(s) could not be analysed:\n  {shown}")


class Features:
    """Per-model feature table ``X`` (indexed by spec) and per-node tables by spec."""

    def __init__(
        self, X: pd.DataFrame, nodes: dict[str, pd.DataFrame], failures: dict[str, str]
    ) -> None:
        self.X = X
        self.nodes = nodes
        self.failures = failures

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
) -> Features:
    """Analyse every spec (in parallel, cached) into a :class:`Features`.

    ``errors="raise"`` raises :class:`FeatureError` listing every model that failed (after the
    others were computed and cached, so nothing is lost); ``"skip"`` leaves them out and lists
    them in ``.failures``. ``cache=False`` disables the disk cache. ``runtime`` counts the
    graph that runtime executes (see :mod:`costmodel.analysis.rewrites`).
    """
    from costmodel.analysis.rewrites import check_runtime

    check_runtime(runtime)
    cache = None if cache is False else (cache or FeatureCache())
    unique = list(dict.fromkeys(specs))
    results: dict[str, Any] = {}
    todo = []
    for s in unique:
        hit = cache.get(s, input_shape, prune_dead, runtime) if cache else None
        if hit is not None:
            results[s] = hit
        else:
            todo.append(s)
    chunks = [todo[i : i + chunk_size] for i in range(0, len(todo), chunk_size)]
    if chunks:
        jobs = (delayed(_chunk)(c, input_shape, prune_dead, runtime) for c in chunks)
        iterator = Parallel(n_jobs=n_jobs, return_as="generator")(jobs)
        if progress:
            from tqdm import tqdm

            iterator = tqdm(iterator, total=len(chunks), unit="chunk", desc="featurising")
        for chunk, outs in zip(chunks, iterator, strict=True):
            for s, out in zip(chunk, outs, strict=True):
                results[s] = out
                if cache and out[0] is not None:
                    cache.put(s, input_shape, prune_dead, out, runtime)
    failures = {s: r[1] for s, r in results.items() if r[0] is None}
    if failures and errors == "raise":
        raise FeatureError(failures)
    ok = [s for s in unique if results[s][0] is not None]
    X = pd.DataFrame([results[s][0] for s in ok], index=pd.Index(ok, name="model"))
    return Features(X, {s: results[s][1] for s in ok}, failures)
