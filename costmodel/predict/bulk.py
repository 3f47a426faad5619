"""Bulk featurising of a search space: spec files in, feature tables out, on joblib or dask.

What ``costmodel featurize`` needs around :func:`costmodel.predict.features.featurize`: reading a
file of specs, writing tables as Parquet or CSV (checked before any work starts), the long node
table, and the switch of joblib onto a dask cluster (``dask`` extra): a scheduler's address, or
``DASK_SCHEDULER_ADDRESS``, or else a local cluster.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

import numpy as np
import pandas as pd

SPEC_COLUMNS = ("model", "spec")
TABLE_FORMATS = (".parquet", ".csv")
BACKENDS = ("joblib", "dask")


def read_specs(path: str | Path) -> list[str]:
    """The specs of a file: one per line (blank lines and ``#`` comments skipped), or a CSV
    whose header has a ``model`` or ``spec`` column. Raises a one-line ValueError otherwise."""
    path = Path(path)
    what = "give a file of model specs, one per line, or a CSV with a 'model' or 'spec' column"
    if not path.is_file():
        raise ValueError(f"no SPECS file {str(path)!r}: {what}")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    lines = [ln.strip() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    if not lines:
        raise ValueError(f"{path}: no specs in the file; {what}")
    header = [c.strip().lower() for c in lines[0].split(",")]
    column = next((c for c in SPEC_COLUMNS if c in header), None)
    if column is None:
        if path.suffix.lower() == ".csv":
            raise ValueError(f"{path}: no 'model' or 'spec' column in the header {lines[0]!r}")
        return lines
    try:
        frame = pd.read_csv(io.StringIO(text), skipinitialspace=True, comment="#")
    except pd.errors.ParserError as exc:
        first = str(exc).strip().splitlines()[0]
        raise ValueError(f"{path}: not a readable CSV of specs: {first}") from None
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    specs = frame[column].dropna().astype(str).str.strip()
    specs = [s for s in specs if s]
    if not specs:
        raise ValueError(f"{path}: the {column!r} column holds no specs")
    return specs


def check_table_path(path: str | Path) -> Path:
    """``path`` if a table can be written there (.parquet needs pyarrow, the ``parquet`` extra);
    a one-line error otherwise, so that no run computes for hours and then cannot write."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in TABLE_FORMATS:
        raise ValueError(f"{path}: write .parquet or .csv (the suffix chooses the format)")
    if suffix == ".parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise ImportError(
                f"{path}: writing Parquet needs pyarrow: pip install 'costmodel[parquet]' "
                "(or write .csv)"
            ) from None
    if not path.parent.is_dir():
        raise ValueError(f"{path}: no folder {str(path.parent)!r}; create it first")
    return path


def write_table(frame: pd.DataFrame, path: str | Path, index: bool = True) -> Path:
    """Write ``frame`` as Parquet or CSV, by ``path``'s suffix; returns the path."""
    path = check_table_path(path)
    if path.suffix.lower() == ".parquet":
        frame.to_parquet(path, index=index)
    else:
        frame.to_csv(path, index=index)
    return path


def read_table(path: str | Path, index: bool = True) -> pd.DataFrame:
    """A table written by :func:`write_table` with the same ``index`` (the feature table is
    indexed by ``model``; the long node table is written without its index)."""
    path = Path(path)
    if path.suffix.lower() == ".parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path, index_col=0 if index else None)


def long_node_table(nodes: dict[str, pd.DataFrame] | object, specs: list[str]) -> pd.DataFrame:
    """Every model's node table in one frame, one row per node, with a leading ``model``."""
    parts = [nodes[s].assign(model=s) for s in specs]  # type: ignore[index]
    if not parts:
        return pd.DataFrame(columns=["model"])
    table = pd.concat(parts, ignore_index=True)
    return table[["model"] + [c for c in table.columns if c != "model"]]


def read_features(path: str | Path, nodes: str | Path | None = None):
    """The :class:`~costmodel.predict.features.Features` that ``costmodel featurize`` wrote:
    the feature table at ``path`` and, when given, its long node table (``--nodes``) as one
    :class:`~costmodel.predict.nodes.NodeBatch`, ready for :func:`costmodel.predict_table`
    (the op-level predictors need the node table)."""
    from costmodel.predict.features import Features
    from costmodel.predict.nodes import NodeBatch

    X = read_table(path).copy()  # one block per dtype: columns are added to it later
    X.index.name = "model"
    if nodes is None:
        return Features(X, {}, {})
    long = read_table(nodes, index=False)
    if "model" not in long.columns:
        raise ValueError(f"{nodes}: a node table needs a 'model' column (write it with --nodes)")
    missing = sorted(set(X.index) - set(long["model"]))
    if missing:
        raise ValueError(
            f"{nodes} has no nodes for {len(missing)} model(s) of {path} (e.g. {missing[0]!r}): "
            "write both files with the same `costmodel featurize` run"
        )
    long = long[long["model"].isin(X.index)]
    order = pd.Categorical(long["model"], categories=list(X.index))
    long = long.iloc[np.argsort(order.codes, kind="stable")]
    sizes = long["model"].value_counts().reindex(X.index).to_numpy()
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    table = long.drop(columns="model").reset_index(drop=True)
    for text in ("unknown", "op"):  # CSV reads an empty string as NaN
        if text in table:
            table[text] = table[text].astype(object).fillna("").astype(str)
    return Features(X, NodeBatch(table, list(X.index), offsets), {})


@contextmanager
def parallel_backend(
    backend: str = "joblib", scheduler: str | None = None, n_workers: int | None = None
) -> Iterator[None]:
    """Run joblib work inside this block on ``backend``.

    ``joblib``: as configured (processes on this machine). ``dask``: joblib's dask backend on
    a ``distributed.Client``: of the scheduler at ``scheduler`` (``tcp://host:8786``), else of
    ``DASK_SCHEDULER_ADDRESS``, else of a local cluster of ``n_workers`` processes (every
    core when None). Remote workers need costmodel installed (same version)."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; use one of {', '.join(BACKENDS)}")
    if backend == "joblib":
        with nullcontext():
            yield
        return
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ImportError(
            "the dask backend needs dask.distributed: pip install 'costmodel[dask]'"
        ) from None
    import dask
    from joblib import parallel_config

    address = scheduler or dask.config.get("scheduler-address", None)
    if address:
        cluster = nullcontext()
    else:
        workers = n_workers if n_workers and n_workers > 0 else None
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            dashboard_address=None,
            silence_logs=logging.ERROR,  # not the workers' shutdown chatter
        )
    with cluster, Client(address or cluster) as _client, parallel_config(backend="dask"):
        yield
