"""The long node table: every node of many models in one table, with each row's owner model.

The op-level predictor learns and predicts per node. With one small table per model (the
``node_table`` column of :meth:`Features.with_nodes`), predicting 10,000 candidates means
10,000 DataFrames to concatenate before any arithmetic. A :class:`NodeBatch` is built once
(one table, model after model, and an offsets array) and rides along in the feature table as
two columns, the batch itself (the same object in every row) and each row's position in it
(:func:`attach`), so that subsetting or reordering ``X`` keeps working and predicting is array
operations over all nodes of all candidates (:func:`nodes_of`).

Search spaces repeat the same node configurations (NAS-Bench-201: 34 distinct ones in the 8,950
nodes of 40 networks), so a batch also factorises its rows into distinct configurations of the
columns a per-node model reads, once (:meth:`NodeBatch.configs`): the model is then evaluated
once per configuration, exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd

BATCH = "node_batch"  # column: the NodeBatch (one object shared by every row)
OWNER = "node_owner"  # column: the row's model position in that batch
TABLES = "node_table"  # column of the per-model form: one DataFrame per row


class NodeBatch(Mapping):
    """Every node of ``models`` in one ``table``; model ``i`` owns rows
    ``offsets[i]:offsets[i + 1]``. Read-only: transformations return a new batch. As a mapping,
    ``batch[spec]`` is one model's node table (what ``Features.nodes`` gives)."""

    __eq__ = object.__eq__  # identity: a batch is compared by what it is, never row by row
    __hash__ = object.__hash__

    def __init__(self, table: pd.DataFrame, models: Sequence[str], offsets: np.ndarray) -> None:
        self.table = table.reset_index(drop=True)
        self.models = pd.Index(models, name="model")
        self.offsets = np.asarray(offsets, np.int64)
        if len(self.offsets) != len(self.models) + 1 or self.offsets[-1] != len(self.table):
            raise ValueError("NodeBatch offsets must hold len(models) + 1 row bounds")
        self._configs: dict[tuple[str, ...], tuple[pd.DataFrame, np.ndarray]] = {}

    @classmethod
    def from_tables(cls, models: Sequence[str], tables: Sequence[pd.DataFrame]) -> NodeBatch:
        """One batch from per-model node tables (in the order of ``models``)."""
        sizes = np.fromiter((len(t) for t in tables), np.int64, len(tables))
        offsets = np.concatenate([[0], np.cumsum(sizes)])
        present = [t for t in tables if len(t)]
        table = pd.concat(present, ignore_index=True) if present else _empty(tables)
        return cls(table, list(models), offsets)

    # -- the Mapping view: spec -> node table ------------------------------------------------
    def __getitem__(self, spec: str) -> pd.DataFrame:
        i = self.models.get_loc(spec)
        if not isinstance(i, (int, np.integer)):
            raise KeyError(f"{spec!r} appears more than once in this node batch")
        return self.table_of(int(i))

    def __iter__(self) -> Iterator[str]:
        return iter(self.models)

    def __len__(self) -> int:
        return len(self.models)

    def __repr__(self) -> str:
        return f"<NodeBatch: {len(self.models)} models, {len(self.table)} nodes>"

    def __deepcopy__(self, memo) -> NodeBatch:
        return self  # read-only: a copied feature table shares its batch

    # -- rows ----------------------------------------------------------------------------------
    @property
    def sizes(self) -> np.ndarray:
        return np.diff(self.offsets)

    def table_of(self, i: int) -> pd.DataFrame:
        """Model ``i``'s node table (a copy, indexed from 0 like a per-model table)."""
        return self.table.iloc[self.offsets[i] : self.offsets[i + 1]].reset_index(drop=True)

    def tables(self) -> list[pd.DataFrame]:
        return [self.table_of(i) for i in range(len(self.models))]

    def rows(self, positions: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(node row numbers, owner) of the models at ``positions``, in that order; ``owner``
        is each node's index into ``positions`` (all models, in order, when None)."""
        sizes = self.sizes
        if positions is None:
            return np.arange(len(self.table)), np.repeat(np.arange(len(sizes)), sizes)
        positions = np.asarray(positions, np.int64)
        n = sizes[positions]
        owner = np.repeat(np.arange(len(positions)), n)
        starts = np.repeat(self.offsets[positions] - (np.cumsum(n) - n), n)
        return starts + np.arange(len(owner)), owner

    def take(self, positions: np.ndarray) -> NodeBatch:
        """A batch of the models at ``positions`` (reordered, repeats allowed)."""
        idx, _ = self.rows(positions)
        sizes = self.sizes[np.asarray(positions, np.int64)]
        return NodeBatch(
            self.table.take(idx), self.models[positions], np.concatenate([[0], np.cumsum(sizes)])
        )

    def with_table(self, table: pd.DataFrame) -> NodeBatch:
        """The same models and rows with another table (same length, same order)."""
        return NodeBatch(table, self.models, self.offsets)

    def with_timings(self, op_timings: pd.DataFrame | None) -> NodeBatch:
        """A batch whose ``latency_us`` column is each node's median measured latency
        (``op_timings``: ops.csv rows of model, node, latency_us; NaN where not measured)."""
        if op_timings is None or not len(op_timings):
            return self
        keys = pd.MultiIndex.from_arrays(
            [self.models.to_numpy()[self.rows()[1]], self.table["node"].to_numpy()]
        )
        timed = node_timings(op_timings).reindex(keys)
        return self.with_table(self.table.assign(**{c: timed[c].to_numpy() for c in timed}))

    def configs(self, columns: Sequence[str]) -> tuple[pd.DataFrame, np.ndarray]:
        """(distinct configurations of ``columns``, configuration code of every row), computed
        once per set of columns.

        The first row of each configuration is its representative. Rows are hashed column by
        column (floats by their bits, strings by their factorised codes) and every row is then
        checked against its representative, so the result is exact (a hash collision falls
        back to grouping)."""
        key = tuple(columns)
        if key not in self._configs:
            self._configs[key] = _factorise(self.table, list(key))
        return self._configs[key]

    @staticmethod
    def concat(batches: Sequence[NodeBatch]) -> NodeBatch:
        """One batch of all models of ``batches``, in order."""
        tables = [b.table for b in batches if len(b.table)]
        offsets = [np.zeros(1, np.int64)]
        start = 0
        for b in batches:
            offsets.append(b.offsets[1:] + start)
            start += len(b.table)
        table = pd.concat(tables, ignore_index=True) if tables else batches[0].table.iloc[:0]
        return NodeBatch(table, [m for b in batches for m in b.models], np.concatenate(offsets))


def node_timings(op_timings: pd.DataFrame) -> pd.DataFrame:
    """What a node table takes from ops.csv rows, indexed by (model, node): the median
    ``latency_us`` and, where recorded, the ``method`` (in context or alone: what the
    op-level stage adds differs)."""
    grouped = op_timings.groupby(["model", "node"])
    out = grouped[["latency_us"]].median()
    if "method" in op_timings.columns:
        out["method"] = grouped["method"].first()
    return out


def _empty(tables: Sequence[pd.DataFrame]) -> pd.DataFrame:
    return tables[0].iloc[:0] if tables else pd.DataFrame({"node": [], "category": []})


_MIX = np.uint64(0x9E3779B97F4A7C15)


def _factorise(table: pd.DataFrame, columns: list[str]) -> tuple[pd.DataFrame, np.ndarray]:
    if not len(table):
        return table[columns].iloc[:0], np.zeros(0, np.int64)
    keys = [_as_bits(table[c]) for c in columns]  # exact: equal bits, equal configuration
    h, shifted = np.zeros(len(table), np.uint64), np.empty(len(table), np.uint64)
    for k in keys:  # xor-multiply-xorshift mixing, column by column, in place
        np.bitwise_xor(h, k, out=h)
        np.multiply(h, _MIX, out=h)
        np.right_shift(h, np.uint64(29), out=shifted)
        np.bitwise_xor(h, shifted, out=h)
    codes, _ = pd.factorize(h)  # codes number configurations in order of first appearance
    seen = np.maximum.accumulate(codes)
    first = np.flatnonzero(np.concatenate([[True], seen[1:] > seen[:-1]]))
    rep = first[codes]
    if not all(np.array_equal(k[rep], k) for k in keys):  # a hash collision: never silently
        return _factorise_exactly(table, columns)
    return table[columns].take(first).reset_index(drop=True), codes.astype(np.int64)


def _as_bits(column: pd.Series) -> np.ndarray:
    """A column as uint64 values equal exactly where the values are (floats by their bits,
    anything else by its factorised code)."""
    if pd.api.types.is_float_dtype(column.dtype) and column.dtype == np.float64:
        return column.to_numpy().view(np.uint64)
    if pd.api.types.is_integer_dtype(column.dtype) and not isinstance(column.dtype, pd.ArrowDtype):
        return column.to_numpy().astype(np.int64).view(np.uint64)
    return pd.factorize(column, use_na_sentinel=False)[0].astype(np.uint64)


def _factorise_exactly(table: pd.DataFrame, columns: list[str]) -> tuple[pd.DataFrame, np.ndarray]:
    grouped = table.groupby(columns, sort=False, dropna=False)
    codes = grouped.ngroup().to_numpy(np.int64)
    first = grouped.head(1).index.to_numpy()
    return table[columns].loc[first].reset_index(drop=True), codes


def attach(X: pd.DataFrame, batch: NodeBatch) -> pd.DataFrame:
    """``X`` with its rows' nodes from ``batch`` (matched by index, which must be model specs
    that the batch holds), replacing any other node columns."""
    if not batch.models.is_unique:
        raise ValueError("a node batch to attach must hold each model once (NodeBatch.take)")
    owner = batch.models.get_indexer(X.index)
    if (owner < 0).any():
        missing = list(X.index[owner < 0][:3])
        raise ValueError(f"the node batch lacks models of the feature table, e.g. {missing}")
    X = X.drop(columns=[c for c in (BATCH, OWNER, TABLES) if c in X.columns])
    return X.assign(**{BATCH: pd.Series([batch] * len(X), index=X.index, dtype=object),
                       OWNER: owner})  # fmt: skip


def _all_are(column: np.ndarray, obj: object) -> bool:
    """Whether every entry of an object array is ``obj`` (compared in C, never as sequences)."""
    ref = np.empty(1, dtype=object)
    ref[0] = obj
    return bool((column == ref).all())


def nodes_of(X: pd.DataFrame) -> tuple[NodeBatch, np.ndarray] | None:
    """(batch, position of each row of ``X`` in it), from either node form; None without nodes.

    The long form costs nothing here; the per-model form is concatenated once per call."""
    if BATCH in X.columns:
        col = X[BATCH].to_numpy()
        owner = X[OWNER].to_numpy(np.int64)
        if not len(col):
            return NodeBatch.from_tables([], []), owner
        first = col[0]
        if _all_are(col, first):
            return first, owner
        distinct = list({id(b): b for b in col}.values())  # rows from several feature tables
        merged = NodeBatch.concat(distinct)
        starts = np.cumsum([0] + [len(b) for b in distinct[:-1]])
        start = {id(b): s for b, s in zip(distinct, starts, strict=True)}
        return merged, owner + np.fromiter((start[id(b)] for b in col), np.int64, len(col))
    if TABLES in X.columns:
        return NodeBatch.from_tables(list(X.index), list(X[TABLES])), np.arange(len(X))
    return None


def map_nodes(X: pd.DataFrame, fn: Callable[[pd.DataFrame], pd.DataFrame]) -> pd.DataFrame:
    """``X`` with ``fn`` applied to its node rows (either form), ``fn`` keeping rows in order."""
    if BATCH in X.columns:
        col = X[BATCH].to_numpy()
        if len(col) and _all_are(col, col[0]):  # one batch (the usual case): no per-row work
            return X.assign(**{BATCH: [col[0].with_table(fn(col[0].table))] * len(col)})
        new = {id(b): b.with_table(fn(b.table)) for b in col}
        return X.assign(**{BATCH: [new[id(b)] for b in col]})
    if TABLES in X.columns:
        return X.assign(**{TABLES: [fn(t) for t in X[TABLES]]})
    return X


def node_rows_of(X: pd.DataFrame, spec) -> pd.DataFrame | None:
    """One row's node table (either form), or None without nodes."""
    if BATCH in X.columns:
        return X.at[spec, BATCH].table_of(int(X.at[spec, OWNER]))
    if TABLES in X.columns:
        return X.at[spec, TABLES]
    return None
