"""`costmodel calibrate`: measure a suite on this board into a timings folder, resumably.

The folder holds ``timings.csv`` (one row per model), ``ops.csv`` (one row per node, timed in
the real forward pass under the profiler by default, or each op alone: its ``method`` column),
``samples.csv`` (every timed run, so an interrupted group resumes where it stopped) and
``board.json`` (board metadata and the protocol). A model already in ``timings.csv`` is not
measured again unless ``force``; a model that fails to build or run is recorded as failed with
its error and the run goes on.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from costmodel.bench.board import board_metadata, recorded_cpu_capability
from costmodel.bench.per_op import time_call, time_ops
from costmodel.bench.protocol import DEFAULT_PROTOCOL, Protocol, Subject, measure_group
from costmodel.bench.runtimes import get_runtime, is_prepared, prepare
from costmodel.bench.store import (
    OPS_COLUMNS,
    SAMPLES_COLUMNS,
    TIMINGS_COLUMNS,
    append_rows,
    read_csv,
    rewrite,
)
from costmodel.zoo import build, family, input_shape, parse


@dataclass
class Summary:
    """What a calibration run did."""

    measured: int
    skipped: int
    failed: int
    flagged: int
    out_dir: Path


@contextlib.contextmanager
def board_config(threads: int, onednn: bool) -> Iterator[None]:
    """Set the thread count and oneDNN switch for the duration, then restore both."""
    old_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with warnings.catch_warnings():
            # setting the oneDNN flags warns about TF32 on Intel GPUs; nothing to do with us
            warnings.filterwarnings("ignore", message="TF32 acceleration")
            with torch.backends.mkldnn.flags(enabled=onednn):
                yield
    finally:
        torch.set_num_threads(old_threads)


# What a folder's timings are comparable by. The configuration is chosen on the command line;
# the machine and the software that ran it are not, yet they move every timing: the same suite
# on this project's 2-core VM image ran 1.65x slower when the VM came up on another CPU (AMD
# EPYC instead of the Intel Xeon of calibration/boards/, 40 models, benchmarks/RESULTS.md).
# Resuming a folder under another of either would mix two boards in one table. The CPU's
# name is not enough: one name came with two instruction sets (``cpu_capability``).
CONFIGURATION_KEYS = ("board", "threads", "onednn", "runtime")
MACHINE_KEYS = (
    "cpu", "cpu_capability", "machine", "cores", "torch", "runtime_version", "delegate"
)  # fmt: skip


def _check_board(out: Path, meta: dict[str, Any], protocol: Protocol) -> None:
    """Refuse to resume ``out`` under another configuration, machine or software version; then
    record ``meta`` (what an earlier run recorded and this one did not measure is kept)."""
    path = out / "board.json"
    old: dict[str, Any] = {}
    if path.exists():
        old = json.loads(path.read_text())
        old.setdefault("runtime", "eager")  # folders from before runtimes were recorded
        if (isa := recorded_cpu_capability(old)) is not None:  # older: its torch build line
            old["cpu_capability"] = isa
        for k in CONFIGURATION_KEYS:
            if old.get(k) != meta[k]:
                raise ValueError(
                    f"{out} holds timings for {k}={old.get(k)!r}, not {meta[k]!r}: use another "
                    "--out folder for another board configuration"
                )
        for k in MACHINE_KEYS:  # a key an older folder did not record cannot be checked
            if k in old and k in meta and old[k] != meta[k]:
                raise ValueError(
                    f"{out} was measured with {k}={old[k]!r}, and this run has {meta[k]!r}: "
                    "timings of two machines or versions would mix in one board; calibrate "
                    "into another --out folder, under another --board name"
                )
    path.write_text(
        json.dumps({**old, **meta, "protocol": asdict(protocol), "format_version": 2}, indent=2)
    )


def _rows(out: Path, name: str) -> pd.DataFrame | None:
    """A file of the folder (a partial last line left by an interruption is ignored), or None."""
    path = out / name
    return read_csv(path) if path.exists() and path.stat().st_size else None


def _done(out: Path, batch: int) -> set[str]:
    """Models already measured (or failed) at this batch size."""
    frame = _rows(out, "timings.csv")
    if frame is None:
        return set()
    if "batch" in frame.columns:
        frame = frame[pd.to_numeric(frame["batch"], errors="coerce").fillna(1) == batch]
    return set(frame["model"])


def _check_batch(out: Path, batch: int) -> None:
    """One folder holds one batch size (samples.csv and ops.csv do not record it)."""
    frame = _rows(out, "timings.csv")
    if frame is None or "batch" not in frame.columns:
        return
    other = sorted(set(pd.to_numeric(frame["batch"], errors="coerce").dropna().astype(int)))
    if other and other != [batch]:
        raise ValueError(
            f"{out} holds timings at batch size {', '.join(map(str, other))}, not {batch}: use "
            "another --out folder for another batch size"
        )


def _upgrade_ops(out: Path) -> None:
    """Give an ops.csv of format 1 (isolated timings, no ``method`` column) today's columns, so
    that rows appended now line up."""
    path = out / "ops.csv"
    if path.exists() and path.stat().st_size:
        with open(path) as fh:
            header = fh.readline().strip().split(",")
        if header != list(OPS_COLUMNS):
            frame = pd.read_csv(path)
            if "method" not in frame.columns:
                frame["method"] = "isolated"
            rewrite(path, frame.reindex(columns=list(OPS_COLUMNS)))


def _flagged(out: Path) -> set[str]:
    frame = _rows(out, "timings.csv")
    if frame is None:
        return set()
    return set(frame.loc[frame["flagged"].astype(str) == "True", "model"])


def _forget(out: Path, specs: set[str], files=("timings.csv", "ops.csv", "samples.csv")) -> None:
    """Drop earlier rows of ``specs`` from the given files (and any partial last line)."""
    for name in files:
        frame = _rows(out, name)
        if frame is not None:
            rewrite(out / name, frame[~frame["model"].isin(specs)])


def _prior_samples(out: Path, protocol: Protocol) -> dict[str, tuple[list[float], int]]:
    """Samples of models measured part-way when a run was interrupted: whole rounds of the
    latest take only (a re-take starts at a multiple of ``protocol.rounds``), and the number
    the next round gets."""
    frame = _rows(out, "samples.csv")
    if frame is None:
        return {}
    per, out_ = protocol.runs_per_round, {}
    for model, g in frame.groupby("model"):
        rounds = len(g) // per
        start = rounds // protocol.rounds * protocol.rounds
        take = list(g["latency_ms"] / 1e3)[start * per : rounds * per]
        out_[model] = (take, rounds)
    return out_


def calibrate(
    specs: list[str],
    out_dir: str | Path,
    board: str,
    threads: int = 1,
    onednn: bool = True,
    batch: int = 1,
    protocol: Protocol = DEFAULT_PROTOCOL,
    per_op: bool | str = "in_context",
    force: bool = False,
    retake_flagged: bool = False,
    suite: str = "custom",
    runtime: str = "eager",
    prepared_only: bool = False,
    progress: bool = True,
    clock: Callable[[], float] = time.perf_counter,
    op_timer: Callable[[Callable[[], object]], float] = time_call,
) -> Summary:
    """Measure ``specs`` on this machine into ``out_dir`` (see the module docstring).

    ``runtime`` runs each model with that runtime's own API (``eager``, ``executorch``,
    ``onnxruntime``; exports are cached, see :func:`prepare_exports`). ``prepared_only``
    measures only the models already exported (the others are left for a later run).
    ``per_op`` (eager): ``"in_context"`` (each node timed inside the real forward pass, see
    :mod:`costmodel.bench.profiler`), ``"isolated"`` (each op timed alone), or False (none).
    On onnxruntime any per-op setting but False records ORT's own profiler, in a session of
    its own after the un-profiled timing, mapped to the lowered node table (``method``
    ``ort_profiler``, see :mod:`costmodel.bench.ort_ops`); on executorch, ETDump's kernel
    events of a program of their own (``etdump``, see :mod:`costmodel.bench.et_ops`).
    """
    rt = get_runtime(runtime)
    if rt.export is None:
        per_op = _per_op_method(per_op)
    else:  # a runtime's own profiler, whatever the eager method asked for
        per_op = _RUNTIME_PROFILERS.get(rt.name) if _per_op_method(per_op) else None
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    specs = [parse(s).canonical() for s in dict.fromkeys(specs)]
    if prepared_only:
        specs = [s for s in specs if is_prepared(rt, s, input_shape(s, batch=batch))]
    meta = {**board_metadata(board, threads, onednn), **rt.info(threads)}
    _check_board(out, meta, protocol)
    _check_batch(out, batch)
    _upgrade_ops(out)
    if force:
        _forget(out, set(specs))
    elif retake_flagged:
        _forget(out, _flagged(out) & set(specs))
    done = _done(out, batch)
    todo = [s for s in specs if s not in done]
    _forget(out, set(todo), files=("ops.csv",))  # op rows of a model cut off mid-way
    prior = _prior_samples(out, protocol)
    common = {"board": board, "threads": threads, "onednn": meta["onednn"]}
    op_cache: dict[str, float] = {}
    ops = _rows(out, "ops.csv") if per_op == "isolated" else None
    if ops is not None:
        if "method" in ops.columns:  # files before format 2 hold isolated timings only
            ops = ops[ops["method"].fillna("isolated") == "isolated"]
        op_cache = dict(zip(ops["config"], ops["latency_us"] / 1e6, strict=True))
    summary = Summary(measured=0, skipped=len(specs) - len(todo), failed=0, flagged=0, out_dir=out)
    bar = _progress(len(todo), progress)

    def failed(spec: str, exc: BaseException) -> dict[str, Any]:
        summary.failed += 1
        last = traceback.format_exception_only(type(exc), exc)[-1].strip()
        return {
            "model": spec,
            "status": "failed",
            "error": last[:300],
            "suite": suite,
            "batch": batch,
            **common,
        }

    # torch.export cannot trace under inference mode: exporting runtimes use no_grad only
    grad_off = torch.inference_mode() if rt.export is None else torch.no_grad()
    with board_config(threads, onednn), grad_off:
        profiled = per_op in ("in_context", "ort_profiler") and todo
        overhead = _record_overhead(out, per_op, threads) if profiled else None
        for start in range(0, len(todo), protocol.group_size):
            group, models, runs, exported = todo[start : start + protocol.group_size], {}, {}, {}
            for spec in group:
                try:
                    shape = input_shape(spec, batch=batch)
                    model = build(spec)
                    x = torch.randn(shape)
                    exported[spec] = prepare(rt, spec, model, x)
                    runs[spec] = rt.load(exported[spec], x, threads)
                    runs[spec]()  # fails here, not mid-measurement, if it cannot run
                    models[spec] = (model, x, shape)
                except Exception as exc:
                    append_rows(out / "timings.csv", [failed(spec, exc)], TIMINGS_COLUMNS)
                    bar.update(1)
            subjects = [
                Subject(
                    spec,
                    runs[spec],
                    list(prior.get(spec, ([], 0))[0]),
                    next_round=prior.get(spec, ([], 0))[1],
                )
                for spec in models
            ]

            def on_round(s: Subject, r: int, taken: list[float]) -> None:
                append_rows(
                    out / "samples.csv",
                    [{"model": s.key, "round": r, "latency_ms": 1e3 * t} for t in taken],
                    SAMPLES_COLUMNS,
                )

            results = measure_group(subjects, protocol, clock, on_round) if subjects else {}
            for spec, (model, x, shape) in models.items():
                st, flagged = results[spec]
                if per_op == "in_context":
                    _record_in_context(out, spec, model, x, overhead, common)
                elif per_op == "isolated":
                    _record_ops(out, spec, model, x, op_cache, op_timer, common)
                elif per_op == "ort_profiler":
                    _record_ort(
                        out, spec, model, x, exported[spec], 1e6 * st.median, overhead, common
                    )
                elif per_op == "etdump":
                    _record_et(out, spec, model, x, exported[spec], 1e6 * st.median, common)
                append_rows(
                    out / "timings.csv",
                    [
                        {
                            "model": spec,
                            "family": family(spec),
                            "latency_ms": 1e3 * st.median,
                            "iqr_ms": 1e3 * st.iqr,
                            "cv": st.cv,
                            "n": st.n,
                            "batch": batch,
                            "input_shape": "x".join(map(str, shape)),
                            "flagged": flagged,
                            "status": "ok",
                            "error": "",
                            "suite": suite,
                            "measured_at": dt.datetime.now(dt.timezone.utc).isoformat(
                                timespec="seconds"
                            ),
                            **common,
                        }
                    ],
                    TIMINGS_COLUMNS,
                )
                summary.flagged += flagged
                summary.measured += 1
                bar.update(1)
    bar.close()
    return summary


def prepare_exports(
    specs: list[str], runtime: str, batch: int = 1, n_jobs: int = 1, progress: bool = True
) -> dict[str, str]:
    """Export ``specs`` for ``runtime`` into the export cache, untimed (run it before the timed
    calibration, without the exclusive lock); return spec -> error of the failed exports.

    The order interleaves families, so a pass cut short still covers every family."""
    from joblib import Parallel, delayed

    rt = get_runtime(runtime)
    specs = [parse(s).canonical() for s in dict.fromkeys(specs)]
    todo = [s for s in _interleave(specs) if not is_prepared(rt, s, input_shape(s, batch=batch))]
    jobs = (delayed(_export_one)(runtime, s, batch) for s in todo)
    results = Parallel(n_jobs=n_jobs, return_as="generator")(jobs)
    errors = {}
    for spec, error in _progress(len(todo), progress, "exporting", results):
        if error:
            errors[spec] = error
    return errors


def _export_one(runtime: str, spec: str, batch: int) -> tuple[str, str]:
    from costmodel.bench.runtimes import ExportError

    rt = get_runtime(runtime)
    torch.set_num_threads(1)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            prepare(rt, spec, build(spec), torch.randn(input_shape(spec, batch=batch)))
    except ExportError as exc:
        return spec, str(exc)
    except Exception as exc:  # the model itself does not build: calibrate records it
        return spec, f"{type(exc).__name__}: {exc}"[:300]
    return spec, ""


def _interleave(specs: list[str]) -> list[str]:
    """Round-robin over families, each family's specs in their order."""
    by_family: dict[str, list[str]] = {}
    for s in specs:
        by_family.setdefault(family(s), []).append(s)
    queues = list(by_family.values())
    out = []
    while queues:
        out += [q.pop(0) for q in queues]
        queues = [q for q in queues if q]
    return out


def _record_ops(out: Path, spec: str, model, x, cache, timer, common) -> None:
    from costmodel.analysis import analyze

    rows = time_ops(model, (x,), cache, timer)
    if not rows:
        return
    nodes = analyze(model, tuple(x.shape)).nodes.set_index("name")
    for r in rows:
        node = nodes.loc[r["node"]] if r["node"] in nodes.index else None
        r.update(model=spec, **common)
        if node is not None:
            r.update(target=node["target"], module=node["module"], category=node["category"])
        r["method"] = "isolated"
    append_rows(out / "ops.csv", rows, OPS_COLUMNS)


# The per-op method of a runtime that profiles its own kernels (None: none recorded).
_RUNTIME_PROFILERS = {"onnxruntime": "ort_profiler", "executorch": "etdump"}


def _per_op_method(per_op: bool | str | None) -> str | None:
    if per_op is True:
        return "in_context"
    if not per_op or per_op == "none":
        return None
    if per_op not in ("in_context", "isolated"):
        raise ValueError(f"unknown per-op method {per_op!r}: use in_context, isolated or none")
    return per_op


def _record_overhead(out: Path, per_op: str, threads: int):
    """Measure the profiler's own cost once per run and note it in board.json: torch's for
    in-context timing (``profiler_overhead_us``), ONNX Runtime's per kernel for its profiler
    (``ort_profiler_overhead_us``)."""
    if per_op == "in_context":
        from costmodel.bench.profiler import measure_overhead

        overhead = measure_overhead()
        key, value = "profiler_overhead_us", asdict(overhead)
    else:
        from costmodel.bench.ort_ops import measure_overhead as measure_ort

        overhead = value = measure_ort(threads)
        key = "ort_profiler_overhead_us"
    path = out / "board.json"
    meta = json.loads(path.read_text())
    meta[key] = value
    path.write_text(json.dumps(meta, indent=2))
    return overhead


def _record_in_context(out: Path, spec: str, model, x, overhead, common) -> None:
    """ops.csv rows from the profiled forward pass: one per node, plus the between row."""
    from costmodel.analysis import analyze
    from costmodel.bench.profiler import BETWEEN, UNMAPPED, children_text, profile_model

    analysis = analyze(model, tuple(x.shape))
    if analysis.method != "fx":
        return  # no fx graph to map events to: whole-model timing only, as before
    try:
        result = profile_model(model, (x,), analysis, overhead=overhead)
    except Exception as exc:  # the whole-model timing stands; say why the op rows are missing
        warnings.warn(
            f"{spec}: no in-context op timings ({type(exc).__name__}: {exc})", stacklevel=2
        )
        return
    targets = analysis.nodes.set_index("name")["target"]
    rows = [
        {
            **r,
            "children": children_text(r["children"]),
            "target": targets.get(r["node"], ""),
            "config": "",
            "cached": False,
        }
        for r in result.nodes.to_dict("records")
    ]
    rows.append({"node": BETWEEN, "category": "between", "latency_us": result.between_us})
    if result.unmapped_us > 0:
        rows.append(
            {
                "node": UNMAPPED,
                "category": "unmapped",
                "latency_us": result.unmapped_us,
                "children": ";".join(result.unmapped_ops),
            }
        )
    for r in rows:
        r.update(model=spec, method="in_context", **common)
    append_rows(out / "ops.csv", rows, OPS_COLUMNS)


def _record_kernels(out: Path, spec: str, profile: Callable[[], Any], who: str, common) -> None:
    """ops.csv rows from a runtime's own profiler (``profile()``: its result, or None where
    the model has no fx graph to map kernels to): one per lowered node, plus the unmapped and
    between rows. A failure leaves the whole-model timing standing and says why."""
    try:
        result = profile()
    except Exception as exc:
        why = f"{type(exc).__name__}: {exc}"
        warnings.warn(f"{spec}: no {who} per-op timings ({why})", stacklevel=3)
        return
    if result is not None:
        append_rows(out / "ops.csv", result.ops_rows(spec, **common), OPS_COLUMNS)


def _record_ort(
    out: Path, spec: str, model, x, path, whole_us: float, overhead: float, common
) -> None:
    """ONNX Runtime's profiler, in a session of its own after the timing; ``overhead``: its
    measured cost per kernel (subtracted)."""
    from costmodel.bench.ort_ops import node_tables, profile_onnx

    def profile():
        tables = node_tables(model, tuple(x.shape))
        if tables is None:
            return None
        lowered, eager = tables
        return profile_onnx(
            path, x, common["threads"], lowered, eager=eager, whole_us=whole_us,
            overhead_us=overhead,
        )  # fmt: skip

    _record_kernels(out, spec, profile, "ORT", common)


def _record_et(out: Path, spec: str, model, x, path, whole_us: float, common) -> None:
    """ExecuTorch's ETDump, in a program of its own after the timing."""
    from costmodel.bench.et_ops import node_table, profile_pte

    def profile():
        lowered = node_table(model, tuple(x.shape))
        if lowered is None:
            return None
        return profile_pte(path, x, common["threads"], lowered, whole_us=whole_us)

    _record_kernels(out, spec, profile, "ETDump", common)


def _progress(total: int, enabled: bool, desc: str = "calibrating", iterable=None):
    from tqdm import tqdm

    return tqdm(
        iterable,
        total=total,
        unit="model",
        desc=desc,
        smoothing=0.1,
        disable=not enabled or total == 0,
    )
