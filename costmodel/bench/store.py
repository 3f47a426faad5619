"""The timings format: read, validate, append atomically, import from other layouts.

A timings file is a CSV with one row per measurement. Only ``model`` (a spec string) and
``latency_ms`` are required by readers; the calibration harness writes every column of
:data:`TIMINGS_COLUMNS` (format version :data:`FORMAT_VERSION`, documented in
calibration/README.md). Rows with ``status == "failed"`` record a model that could not be
built or run; readers skip them.

Appends are one ``write`` of whole lines followed by ``fsync``: an interruption leaves at most a
partial last line, which the next append removes before writing.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

FORMAT_VERSION = 1
TIMINGS_COLUMNS = (
    "model", "family", "latency_ms", "iqr_ms", "cv", "n", "batch", "input_shape", "threads",
    "board", "onednn", "flagged", "status", "error", "suite", "measured_at",
)  # fmt: skip
OPS_COLUMNS = (
    "model", "node", "target", "module", "category", "config", "latency_us", "cached",
    "board", "threads", "onednn", "method", "children",
)  # fmt: skip
SAMPLES_COLUMNS = ("model", "round", "latency_ms")
# What identifies one measurement: a second row with the same values is a duplicate.
KEY_COLUMNS = ("model", "board", "threads", "batch", "input_shape", "onednn")
UNITS = {"ms": 1.0, "s": 1e3, "us": 1e-3, "ns": 1e-6}


class TimingsError(ValueError):
    """A timings file that cannot be used; the message names the file, line and problem."""


def _csv_line(values: Iterable[Any]) -> str:
    cells = []
    for v in values:
        text = "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)
        if any(c in text for c in ',"\n'):
            text = '"' + text.replace('"', '""') + '"'
        cells.append(text)
    return ",".join(cells) + "\n"


def read_csv(path: str | Path, what: str = "CSV file") -> pd.DataFrame:
    """Read a CSV as written by :func:`append_rows`: a partial last line (an append cut off by
    an interruption) is ignored, never read as a short row. Unreadable files raise
    :class:`TimingsError` naming the file, the problem and the remedy."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TimingsError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    if data and not data.endswith(b"\n"):
        data = data[: data.rfind(b"\n") + 1]
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TimingsError(
            f"{path}: not UTF-8 text (byte {exc.start}); save the {what} as UTF-8 CSV"
        ) from None
    if not data.strip():
        raise TimingsError(f"{path}: empty {what}; it needs a header line and rows")
    try:
        return pd.read_csv(io.BytesIO(data), skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TimingsError(f"{path}: not a readable {what}: {first}") from None


def _repair_tail(path: Path) -> None:
    """Drop a partial last line left by an interrupted append."""
    with open(path, "rb+") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        if size == 0:
            return
        fh.seek(size - 1)
        if fh.read(1) == b"\n":
            return
        fh.seek(0)
        data = fh.read()
        fh.truncate(data.rfind(b"\n") + 1)


def append_rows(path: str | Path, rows: list[Mapping[str, Any]], columns: tuple[str, ...]) -> None:
    """Append ``rows`` (dicts keyed by ``columns``) to a CSV, writing the header if it is new."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists() or path.stat().st_size == 0
    if not new:
        _repair_tail(path)
    text = (_csv_line(columns) if new else "") + "".join(
        _csv_line(row.get(c) for c in columns) for row in rows
    )
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def rewrite(path: str | Path, frame: pd.DataFrame) -> None:
    """Replace a CSV atomically (write a temporary file, then rename it over the old one)."""
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    frame.to_csv(tmp, index=False)
    os.replace(tmp, path)


def _line(label: int) -> int:
    return int(label) + 2  # header is line 1; the first data row (index 0) is line 2


def validate(frame: pd.DataFrame, source: str = "timings", check_models: bool = True) -> None:
    """Raise :class:`TimingsError` naming the first bad rows: missing columns, NaN, non-positive
    or non-numeric latencies, duplicates, models that do not resolve."""
    missing = [c for c in ("model", "latency_ms") if c not in frame.columns]
    if missing:
        raise TimingsError(
            f"{source}: missing column(s) {missing}; found {list(frame.columns)}. A timings file "
            "needs at least 'model' (a model spec) and 'latency_ms' (use `costmodel "
            "import-timings` to convert another layout)"
        )
    problems: list[str] = []
    latency = pd.to_numeric(frame["latency_ms"], errors="coerce")
    for i in np.flatnonzero(latency.isna().to_numpy()):
        raw = frame["latency_ms"].iloc[i]
        what = "is missing (NaN)" if pd.isna(raw) else f"is not a number ({raw!r})"
        problems.append(
            f"line {_line(frame.index[i])} (model {frame['model'].iloc[i]!r}): latency_ms {what}"
        )
    for i in np.flatnonzero(((latency <= 0) | np.isinf(latency)).to_numpy()):
        problems.append(
            f"line {_line(frame.index[i])} (model {frame['model'].iloc[i]!r}): "
            f"latency_ms must be a finite number > 0, got {latency.iloc[i]}"
        )
    for i in np.flatnonzero(frame["model"].isna().to_numpy()):
        problems.append(f"line {_line(frame.index[i])}: model is empty")
    keys = [c for c in KEY_COLUMNS if c in frame.columns]
    dup = frame.duplicated(subset=keys, keep=False) & frame["model"].notna()
    if dup.any():
        groups = frame[dup].groupby(keys if len(keys) > 1 else keys[0], dropna=False).groups
        for key, idx in list(groups.items())[:5]:
            lines = ", ".join(str(_line(j)) for j in idx)
            problems.append(f"lines {lines}: duplicate measurement of {key}")
    if check_models:
        from costmodel.zoo import parse

        for i, spec in enumerate(frame["model"]):
            if isinstance(spec, str):
                try:
                    parse(spec)
                except (KeyError, ValueError) as exc:
                    msg = exc.args[0] if exc.args else exc
                    problems.append(
                        f"line {_line(frame.index[i])}: model {spec!r} does not resolve: {msg}"
                    )
    if problems:
        more = f"\n  ... and {len(problems) - 10} more" if len(problems) > 10 else ""
        raise TimingsError(
            f"{source}: {len(problems)} bad row(s):\n  " + "\n  ".join(problems[:10]) + more
        )


def read_timings(
    path: str | Path, check_models: bool = True, include_failed: bool = False
) -> pd.DataFrame:
    """Read and validate a timings CSV; failed measurements are dropped unless asked for."""
    path = Path(path)
    if not path.exists():
        raise TimingsError(f"no timings file at {path}")
    frame = read_csv(path, "timings file")
    failed = frame["status"].fillna("ok") == "failed" if "status" in frame.columns else None
    ok = frame if failed is None else frame[~failed]
    validate(ok, str(path), check_models=check_models)  # index = file position: lines stay right
    frame = frame if include_failed else ok.reset_index(drop=True)
    frame["latency_ms"] = pd.to_numeric(frame["latency_ms"])
    return frame


def import_timings(
    source: str | Path,
    board: str,
    model_column: str = "model",
    latency_column: str = "latency_ms",
    unit: str = "ms",
    model_prefix: str = "",
    keep_columns: Iterable[str] = (),
    constants: Mapping[str, Any] | None = None,
    drop_invalid: bool = False,
) -> tuple[pd.DataFrame, list[str]]:
    """Convert a CSV of another layout to the timings format.

    Returns the converted frame and the problems found; with ``drop_invalid`` bad rows are
    dropped and reported, otherwise the first problems raise :class:`TimingsError`.
    """
    if unit not in UNITS:
        raise TimingsError(f"unknown unit {unit!r}; use one of {sorted(UNITS)}")
    raw = read_csv(source, "timings file")
    needed = [model_column, latency_column, *keep_columns]
    missing = [c for c in needed if c not in raw.columns]
    if missing:
        raise TimingsError(f"{source}: no column(s) {missing}; columns are {list(raw.columns)}")
    out = pd.DataFrame(
        {
            "model": model_prefix + raw[model_column].astype(str).str.strip(),
            "latency_ms": raw[latency_column],  # raw values, so errors quote what the file says
            "board": board,
        }
    )
    for c in keep_columns:
        out[c] = raw[c]
    for k, v in (constants or {}).items():
        out[k] = v
    problems: list[str] = []
    try:
        validate(out, str(source))
    except TimingsError as exc:
        if not drop_invalid:
            raise
        problems = str(exc).splitlines()[1:]
        keep = np.ones(len(out), dtype=bool)
        lat = pd.to_numeric(out["latency_ms"], errors="coerce")
        keep &= lat.notna().to_numpy() & (lat > 0).to_numpy() & ~np.isinf(lat.to_numpy(float))
        from costmodel.zoo import parse

        for i, spec in enumerate(out["model"]):
            try:
                parse(spec)
            except (KeyError, ValueError):
                keep[i] = False
        out = out[keep]
        out = out[~out.duplicated(subset=[c for c in KEY_COLUMNS if c in out.columns])]
        out = out.reset_index(drop=True)
    out["latency_ms"] = pd.to_numeric(out["latency_ms"]) * UNITS[unit]
    return out, problems
