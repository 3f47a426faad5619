"""The feature cache on disk: plain JSON entries keyed by what the model *is*, not its name.

Two files per (model content, input shape, dtype, options) under ``$COSTMODEL_CACHE/features``
(default ``~/.cache/costmodel/features``), both JSON: the per-model feature row, and the per-node
table as columns of plain numbers and strings (read only when node tables are used), so reading
needs no optional package and no unpickling. The key is the model's content:

- built-in specs (zoo, ``nb201:``, ``random:``): the canonical spec and a hash of costmodel's own
  source (the builders and the analyzer are part of the package), so keys cost no model build;
- import specs (``pkg.mod:fn``, ``path/file.py:fn``): the source file's hash and the built
  model's :func:`~costmodel.analysis.structure.structural_key`, so editing the file is a miss.

Any entry that cannot be read (truncated, garbage, another format, another key) is a miss: it
is recomputed and rewritten, with one warning per process.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

CACHE_FORMAT = 3  # bump when the entry layout changes; the analysis itself is keyed by source


class CacheWarning(UserWarning):
    """A feature-cache entry could not be read; it is recomputed."""


_warned = False


def default_cache_dir() -> Path:
    """``$COSTMODEL_CACHE`` or ``~/.cache/costmodel``."""
    return Path(os.environ.get("COSTMODEL_CACHE", Path.home() / ".cache" / "costmodel"))


def _file_hash(path: str | os.PathLike) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# The parts of costmodel that decide what a model's features are: the model builders, the
# analyzer and its lowering, and the feature extraction itself (not the predictors, the
# harness or the reports, whose edits must not invalidate every cached analysis).
FEATURE_SOURCES = ("analysis", "zoo", "predict/features.py", "predict/cache.py")


@functools.lru_cache(maxsize=1)
def costmodel_source_hash() -> str:
    """A hash of the costmodel source files features depend on (:data:`FEATURE_SOURCES`)."""
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    files = [f for part in FEATURE_SOURCES for f in ((root / part).rglob("*.py")
             if (root / part).is_dir() else [root / part])]  # fmt: skip
    for path in sorted(files):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def content_key(spec: str) -> str:
    """What a spec's analysis depends on (see the module docstring); raises when an import
    spec cannot be built (the caller then analyses it and reports the error)."""
    from costmodel.analysis.structure import structural_key
    from costmodel.zoo import build, parse

    s = parse(spec)
    parts = [s.canonical(), costmodel_source_hash()]
    if s.kind == "import":
        module = s.name.rpartition(":")[0]
        if module.endswith(".py"):
            parts.append(_file_hash(module))
        else:
            import importlib.util

            found = importlib.util.find_spec(module)
            if found is not None and found.origin and os.path.isfile(found.origin):
                parts.append(_file_hash(found.origin))
        parts.append(structural_key(build(s, device="meta")))
    return "|".join(parts)


def _encode(nodes: pd.DataFrame) -> dict[str, Any]:
    return {
        "columns": list(nodes.columns),
        "dtypes": [str(t) for t in nodes.dtypes],
        "data": {c: nodes[c].tolist() for c in nodes.columns},
    }


def _decode(entry: dict[str, Any]) -> pd.DataFrame:
    # one numpy array per column and one DataFrame constructor
    arrays = {}
    for c, t in zip(entry["columns"], entry["dtypes"], strict=True):
        numeric = t.startswith(("float", "int", "bool"))
        arrays[c] = np.asarray(entry["data"][c], dtype=t if numeric else object)
    return pd.DataFrame(arrays, columns=entry["columns"], copy=False)


class FeatureCache:
    """Analyses on disk: per (model content, input shape, dtype, options) a small JSON file of
    the feature row, read by every rerun, and one of the node table, read only when a caller
    asks for node tables (the op-level predictor), so a rerun over thousands of models
    that needs only the rows costs one small file read per model."""

    def __init__(self, directory: str | Path | None = None) -> None:
        self.directory = Path(directory) if directory else default_cache_dir() / "features"
        self._keys: dict[str, str | None] = {}

    def _key(
        self, spec: str, shape, prune_dead: bool, dtype: str | None, runtime: str = "eager"
    ) -> str | None:
        if spec not in self._keys:
            try:
                self._keys[spec] = content_key(spec)
            except Exception:  # a spec that cannot be built: never cached, analysed and reported
                self._keys[spec] = None
        content = self._keys[spec]
        if content is None:
            return None
        key = (CACHE_FORMAT, content, tuple(shape) if shape else None, prune_dead, dtype)
        if runtime == "eager":
            return repr(key)  # eager keys as they were
        from costmodel.analysis.rewrites import RUNTIME_RULES

        return repr((*key, runtime, tuple(RUNTIME_RULES[runtime])))  # a lowering by its rules

    def _path(self, key: str, part: str = "row") -> Path:
        digest = hashlib.sha256(key.encode()).hexdigest()
        suffix = ".json" if part == "row" else f".{part}.json"
        return self.directory / digest[:2] / f"{digest}{suffix}"

    def _read(self, key: str, part: str) -> dict[str, Any] | None:
        path = self._path(key, part)
        if not path.exists():
            return None
        try:
            entry = json.loads(path.read_bytes())
            if entry.get("format") != CACHE_FORMAT or entry.get("key") != key:
                raise ValueError("another format or key")
            return entry
        except Exception as exc:  # truncated, garbage, foreign: recompute
            _warn_once(path, exc)
            return None

    def get(
        self, spec: str, shape, prune_dead: bool, dtype: str | None = None, runtime: str = "eager"
    ):
        """``(row, load_nodes)`` or None on a miss; ``load_nodes()`` reads the node table, or
        returns None when that file is unreadable (each unreadable file is warned about once)."""
        key = self._key(spec, shape, prune_dead, dtype, runtime)
        entry = self._read(key, "row") if key is not None else None
        if entry is None:
            return None
        try:
            row = {k: float(v) for k, v in entry["row"].items()}
        except Exception as exc:
            _warn_once(self._path(key), exc)
            return None

        def load_nodes() -> pd.DataFrame | None:
            nodes = self._read(key, "nodes")
            try:
                return None if nodes is None else _decode(nodes)
            except Exception as exc:
                _warn_once(self._path(key, "nodes"), exc)
                return None

        return row, load_nodes

    def put(
        self,
        spec: str,
        shape,
        prune_dead: bool,
        value,
        dtype: str | None = None,
        runtime: str = "eager",
    ) -> None:
        """Store ``(row, node table)``: the node table first, so a row file means both exist."""
        key = self._key(spec, shape, prune_dead, dtype, runtime)
        if key is None:
            return
        row, nodes = value
        for part, body in (("nodes", _encode(nodes)), ("row", {"row": row})):
            path = self._path(key, part)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"format": CACHE_FORMAT, "key": key, **body}))
            os.replace(tmp, path)


def _warn_once(path: Path, exc: BaseException) -> None:
    global _warned
    if not _warned:
        _warned = True
        warnings.warn(
            f"feature cache entry {path} is unreadable ({type(exc).__name__}: {exc}); it and any "
            "other such entry are recomputed (delete the folder to clear the cache)",
            CacheWarning,
            stacklevel=3,
        )
