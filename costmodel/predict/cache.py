"""The feature cache on disk: plain JSON entries keyed by what the model *is*, not its name.

One file per (model content, input shape, dtype, options) under ``$COSTMODEL_CACHE/features``
(default ``~/.cache/costmodel/features``). An entry is JSON: the per-model feature row and the
per-node table as columns of plain numbers and strings, so reading it needs no optional package
and no unpickling. The key is the model's content:

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


@functools.lru_cache(maxsize=1)
def costmodel_source_hash() -> str:
    """A hash of every Python file of the installed costmodel package (computed once)."""
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
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


def _encode(value: tuple[dict[str, float], pd.DataFrame]) -> dict[str, Any]:
    row, nodes = value
    return {
        "row": row,
        "columns": list(nodes.columns),
        "dtypes": [str(t) for t in nodes.dtypes],
        "data": {c: nodes[c].tolist() for c in nodes.columns},
    }


def _decode(entry: dict[str, Any]) -> tuple[dict[str, float], pd.DataFrame]:
    columns, dtypes = entry["columns"], entry["dtypes"]
    nodes = pd.DataFrame({c: entry["data"][c] for c in columns}, columns=columns)
    for c, t in zip(columns, dtypes, strict=True):
        if t.startswith(("float", "int", "bool")):
            nodes[c] = nodes[c].astype(t)
    return {k: float(v) for k, v in entry["row"].items()}, nodes


class FeatureCache:
    """Analyses on disk, one JSON file per (model content, input shape, dtype, options)."""

    def __init__(self, directory: str | Path | None = None) -> None:
        self.directory = Path(directory) if directory else default_cache_dir() / "features"
        self._keys: dict[str, str | None] = {}

    def _key(self, spec: str, shape, prune_dead: bool, dtype: str | None) -> str | None:
        if spec not in self._keys:
            try:
                self._keys[spec] = content_key(spec)
            except Exception:  # a spec that cannot be built: never cached, analysed and reported
                self._keys[spec] = None
        content = self._keys[spec]
        if content is None:
            return None
        return repr((CACHE_FORMAT, content, tuple(shape) if shape else None, prune_dead, dtype))

    def _path(self, key: str) -> Path:
        digest = hashlib.sha256(key.encode()).hexdigest()
        return self.directory / digest[:2] / f"{digest}.json"

    def get(self, spec: str, shape, prune_dead: bool, dtype: str | None = None):
        """The cached (row, node table) or None; an unreadable entry is a miss (warned once)."""
        key = self._key(spec, shape, prune_dead, dtype)
        if key is None:
            return None
        path = self._path(key)
        if not path.exists():
            return None
        try:
            entry = json.loads(path.read_bytes())
            if entry.get("format") != CACHE_FORMAT or entry.get("key") != key:
                raise ValueError("another format or key")
            return _decode(entry)
        except Exception as exc:  # truncated, garbage, foreign: recompute
            _warn_once(path, exc)
            return None

    def put(self, spec: str, shape, prune_dead: bool, value, dtype: str | None = None) -> None:
        key = self._key(spec, shape, prune_dead, dtype)
        if key is None:
            return
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"format": CACHE_FORMAT, "key": key, **_encode(value)}))
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
