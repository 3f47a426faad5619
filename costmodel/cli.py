"""The ``costmodel`` command line: parses arguments, calls the library, prints. Nothing else."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import pandas as pd

from costmodel.analysis.api import DTYPES

NODE_TABLE_COLUMNS = [
    "name",
    "category",
    "module",
    "target",
    "output_shapes",
    "macs",
    "flops",
    "act_bytes_read",
    "param_bytes_read",
    "bytes_written",
    "params",
    "groups",
    "is_copy",
]


def _shape(text: str) -> tuple[int, ...]:
    try:
        dims = tuple(int(d) for d in text.replace("x", ",").split(",") if d.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad shape {text!r}: use e.g. 1,3,32,32") from None
    if not dims or any(d <= 0 for d in dims):
        raise argparse.ArgumentTypeError(f"bad shape {text!r}: positive integers, e.g. 1,3,32,32")
    return dims


def _count(text: str, minimum: int = 1) -> int:
    """An integer argument of at least ``minimum`` (argparse reports a bad one in one line)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"{text!r} must be an integer >= {minimum}")
    return value


def _positive(text: str) -> int:
    return _count(text, 1)


def _non_negative(text: str) -> int:
    return _count(text, 0)


def _jobs(text: str) -> int:
    value = _count(text, -1)
    if value == 0:
        raise argparse.ArgumentTypeError("--jobs 0: use a positive count, or -1 for every core")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite number > 0")
    return value


def _ks(text: str) -> tuple[int, ...]:
    try:
        return tuple(_positive(k) for k in text.split(","))
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"--k {text!r}: {exc}; e.g. 5,10,20") from None


def _emit(text: str, out: str | None) -> None:
    if out:
        with open(out, "w") as fh:
            fh.write(text if text.endswith("\n") else text + "\n")
        print(f"wrote {out}", file=sys.stderr)
    else:
        print(text)


def _frame_text(df: pd.DataFrame, fmt: str) -> str:
    if fmt == "csv":
        return df.to_csv()
    if fmt == "json":
        return df.to_json(orient="records", indent=2)
    with pd.option_context(
        "display.max_rows", None, "display.width", 200, "display.max_columns", None
    ):
        return df.to_string()


def cmd_analyze(args: argparse.Namespace) -> int:
    import costmodel
    from costmodel.zoo import input_shape as spec_input_shape
    from costmodel.zoo import parse

    spec = parse(args.model)
    shapes = args.input_shape or [spec_input_shape(spec, batch=args.batch)]
    analysis = costmodel.analyze(
        spec.canonical(),
        shapes if len(shapes) > 1 else shapes[0],
        leaf_modules=args.leaf_module or (),
        method=args.method,
        dtype=args.dtype,
        runtime=args.runtime,
    )
    if args.format == "json":
        _emit(analysis.to_json(args.by), args.output)
        return 0
    if args.format == "table" and args.by == "category":
        _emit(repr(analysis), args.output)
        return 0
    view = analysis.table(args.by)
    if args.by == "node" and args.format == "table":
        view = view[NODE_TABLE_COLUMNS].set_index("name")
    elif args.by == "node":
        view = view.set_index("name")
    _emit(_frame_text(view, args.format), args.output)
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from costmodel.zoo.catalog import catalog

    table = catalog(family=args.family, with_counts=args.counts)
    _emit(_frame_text(table.set_index("spec"), args.format), args.output)
    return 0


QUICK_DEMO_STUDY = ["mobilenetv2?width=0.35", "shufflenet?width=0.5", "resnet?depth=18&width=0.5"]
QUICK_DEMO_CALIBRATION = [
    "mobilenet?width=0.25",
    "shufflenetv2?width=0.5",
    "squeezenet?width=0.5",
    "vgg?depth=11&width=0.5",
    "mobilenetv3?mode=small&width=0.5",
    "regnet?width=0.5",
    "random:seed=1",
    "random:seed=2",
    "random:seed=3",
    "random:seed=4",
]


def cmd_demo(args: argparse.Namespace) -> int:
    from costmodel.report.study import study_table

    if args.static:
        table = study_table(args.model or None)
        text = table.to_string(float_format=lambda v: f"{v:,.2f}")
        if args.format == "table":
            text += (
                "\n\nMACs count only convolution, linear and matmul work. Everything in the "
                "non_mac_* and ops_* columns\n(element-wise adds, activations, normalisation, "
                "concatenation, splits, shuffles, copies)\nis invisible to them, and so is the "
                "per-group loop of grouped convolutions (conv_groups)."
            )
        else:
            text = _frame_text(table, args.format)
        _emit(text, args.output)
        return 0
    from costmodel.bench.protocol import Protocol
    from costmodel.report.demo import run_demo

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    kwargs = {}
    if args.quick:
        from costmodel.zoo.catalog import zoo_specs

        kwargs = {
            "specs": args.model or QUICK_DEMO_STUDY,
            "calibration": QUICK_DEMO_CALIBRATION,
            "protocol": Protocol(warmup=1, rounds=2, runs_per_round=2, group_size=7),
            "reference_models": zoo_specs(),  # a smaller prior: the reference board's zoo models
        }
    elif args.model:
        kwargs = {"specs": args.model}
    result = run_demo(args.out, threads=args.threads, log=log, **kwargs)
    t = result.table
    shown = pd.DataFrame(
        {
            "params_M": t["params_M"].map("{:.2f}".format),
            "MMACs": t["MMACs"].map("{:,.1f}".format),
            "measured_ms": t["measured_ms"].map("{:.2f}".format),
            "MAC-only_ms": t["mac_only_ms"].map("{:.2f}".format),
            "MAC-only_err": t["mac_only_err"].map("{:+.0%}".format),
            "full_ms": t["full_ms"].map("{:.2f}".format),
            "full_err": t["full_err"].map("{:+.0%}".format),
        }
    )
    sc = result.scores
    lines = [
        "",
        "This machine is a new board: each prediction comes from predictors calibrated on its "
        "quick-suite timings without the predicted model's family; the full predictor adapts "
        "the shipped reference board's op-level predictor (refitted without that family) as "
        "its prior:",
        shown.to_string(),
        "",
        sc[["MAPE", "acc10", "spearman", "kendall"]]
        .rename(columns={"MAPE": "MAPE_%", "acc10": "within_10%"})
        .to_string(float_format=lambda v: f"{v:.2f}"),
    ]
    if "MAC-only" in sc.index and sc.loc["full", "MAPE"] > 0:
        ratio = sc.loc["MAC-only", "MAPE"] / sc.loc["full", "MAPE"]
        lines.append(
            f"MAPE {sc.loc['MAC-only', 'MAPE']:.0f}% -> {sc.loc['full', 'MAPE']:.0f}%"
            f" ({ratio:.1f}x lower) with the full predictor"
        )
    lines += ["", "files:"] + [f"  {f}" for f in result.files]
    print("\n".join(lines))
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    from costmodel.bench.calibrate import calibrate
    from costmodel.bench.protocol import Protocol
    from costmodel.bench.suites import suite

    specs = args.model or suite(args.suite)
    if args.prepare_only:
        from costmodel.bench.calibrate import prepare_exports

        errors = prepare_exports(specs, args.runtime, batch=args.batch, n_jobs=args.jobs)
        print(f"{args.runtime}: {len(specs)} models exported or cached, {len(errors)} failed")
        return 0
    protocol = Protocol(
        warmup=args.warmup,
        rounds=args.rounds,
        runs_per_round=args.runs_per_round,
        max_spread=args.max_spread,
    )
    summary = calibrate(
        specs,
        args.out,
        board=args.board,
        threads=args.threads,
        onednn=not args.no_onednn,
        batch=args.batch,
        protocol=protocol,
        per_op=False if args.no_per_op else args.per_op,
        force=args.force,
        retake_flagged=args.retake_flagged,
        suite="custom" if args.model else args.suite,
        runtime=args.runtime,
        prepared_only=args.prepared_only,
    )
    print(
        f"{summary.measured} measured, {summary.skipped} already done, {summary.failed} failed, "
        f"{summary.flagged} flagged (spread above {args.max_spread:.0%}); "
        f"timings in {summary.out_dir / 'timings.csv'}"
    )
    return 0


def cmd_profile(args: argparse.Namespace) -> int:
    from costmodel.report.breakdown import measure_breakdown, plot_breakdowns

    shape = args.input_shape
    if shape is None and args.batch != 1:
        from costmodel.zoo import input_shape as spec_input_shape

        shape = spec_input_shape(args.model, batch=args.batch)
    result = measure_breakdown(
        args.model,
        shape,
        threads=args.threads,
        onednn=not args.no_onednn,
        repeats=args.repeats,
    )
    if args.format == "json":
        text = result.to_json()
    elif args.format == "csv":
        text = result.to_frame().to_csv(index=False)
    else:
        text = repr(result)
    _emit(text, args.output)
    if args.plot:
        try:
            print(f"wrote {plot_breakdowns([result], args.plot)}", file=sys.stderr)
        except ImportError:
            print("no plot: matplotlib is not installed (pip install 'costmodel[plots]')",
                  file=sys.stderr)  # fmt: skip
    return 0


def cmd_import_timings(args: argparse.Namespace) -> int:
    from costmodel.bench.store import import_timings

    frame, problems = import_timings(
        args.source,
        board=args.board,
        model_column=args.model_column,
        latency_column=args.latency_column,
        unit=args.unit,
        model_prefix=args.model_prefix,
        keep_columns=args.keep_column or (),
        drop_invalid=args.drop_invalid,
    )
    for p in problems:
        print(f"dropped: {p.strip()}", file=sys.stderr)
    _emit(frame.to_csv(index=False), args.output)
    print(f"{len(frame)} rows converted, {len(problems)} problem(s)", file=sys.stderr)
    return 0


def _specs_arg(text: str) -> list[str]:
    """A spec, or a CSV file of specs (its ``model`` or ``spec`` column)."""
    from pathlib import Path

    if text.endswith(".csv") and Path(text).exists():
        from costmodel.predict.bulk import read_specs

        return read_specs(text)
    return [text]


def cmd_featurize(args: argparse.Namespace) -> int:
    from pathlib import Path

    from costmodel.predict.bulk import (
        check_table_path,
        long_node_table,
        parallel_backend,
        read_specs,
        write_table,
    )
    from costmodel.predict.features import featurize

    specs = [s for path in args.specs for s in read_specs(path)]
    out = check_table_path(args.output)  # before any work: a run never ends unable to write
    nodes_path = None
    if args.nodes:
        nodes_path = Path(args.nodes)
        if nodes_path.is_dir():
            nodes_path = nodes_path / f"nodes{out.suffix}"
        check_table_path(nodes_path)
    backend = "dask" if args.scheduler else args.backend  # an address means the dask backend
    jobs = args.jobs if args.jobs is not None else (-1 if backend == "dask" else 1)
    progress = sys.stderr.isatty() if args.progress is None else args.progress
    with parallel_backend(backend, args.scheduler, n_workers=jobs):
        features = featurize(
            specs,
            input_shape=args.input_shape,
            prune_dead=args.prune_dead,
            n_jobs=jobs,
            runtime=args.runtime,
            errors="skip",
            progress=progress,
            chunk_size=args.chunk_size,
            dtype=args.dtype,
        )
    for spec, why in features.failures.items():
        first = why.strip().splitlines()[0] if why.strip() else "failed"
        print(f"failed: {spec}: {first}", file=sys.stderr)
    write_table(features.X, out)
    wrote = [str(out)]
    if nodes_path is not None:
        write_table(long_node_table(features.nodes, list(features.X.index)), nodes_path, False)
        wrote.append(str(nodes_path))
    print(
        f"{len(features.X)} model{'' if len(features.X) == 1 else 's'} featurised "
        f"({features.cached} from the cache), "
        f"{len(features.failures)} failed; wrote {', '.join(wrote)}"
    )
    return 0 if len(features.X) or not specs else 2


def cmd_fit(args: argparse.Namespace) -> int:
    from costmodel.predict.workflow import fit_profile

    profile, data = fit_profile(
        args.timings,
        predictor=args.predictor,
        prior=args.prior,
        board=args.board,
        prune_dead=args.prune_dead,
        n_jobs=args.jobs,
        use_default_prior=not args.no_default_prior,
        runtime=args.runtime,
    )
    path = profile.save(args.output)
    from costmodel.predict.profile import estimator_label

    kind = estimator_label(profile.describe())
    for note in profile.notes:
        print(f"note: {note}", file=sys.stderr)
    print(
        f"fitted {args.predictor} ({kind}) on {len(data.X)} models of "
        f"{data.families.nunique()} families, runtime {data.runtime}"
        + (" with per-op timings" if data.has_ops else "")
        + f"; held-out error interval {profile.interval[0]:+.0%} .. {profile.interval[1]:+.0%}"
        + f"\nprofile: {path}"
    )
    for spec, why in list(data.dropped.items())[:5]:
        print(f"left out {spec}: {why}", file=sys.stderr)
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from costmodel.predict.profiles import get_profile
    from costmodel.predict.workflow import predict_specs

    profile = get_profile(args.profile)
    specs = [s for text in args.model for s in _specs_arg(text)]
    shape = args.input_shape[0] if args.input_shape else None
    table, notes = predict_specs(
        profile,
        specs,
        input_shape=shape,
        n_jobs=args.jobs,
        dtype=args.dtype,
        runtime=args.runtime,
    )
    for note in notes:
        print(f"warning: {note}", file=sys.stderr)
    if table.empty:
        return 2
    if args.format == "table":
        board = profile.board.get("board", "?")
        lines = [
            f"board {board} ({profile.name}, runtime {profile.runtime}); interval = 5th..95th "
            "percentile of held-out "
            "errors at calibration"
        ]
        for spec, r in table.iterrows():
            lines.append(
                f"{spec}: {r['predicted_ms']:.2f} ms [{r['low_ms']:.2f} .. {r['high_ms']:.2f}]"
                f"   MAC-only: {r['mac_only_ms']:.2f} ms   ({r['MMACs']:.1f} MMACs)"
            )
            if r["unknown_ops"]:
                lines.append(f"    {int(r['unknown_ops'])} op(s) with no formula, costed as copies")
            parts = r.drop(
                ["predicted_ms", "low_ms", "high_ms", "mac_only_ms", "MMACs", "params_M"]
                + ["unknown_ops"]
            )
            parts = parts[parts.abs() >= 0.005].sort_values(ascending=False)
            lines += [
                f"    {k:<20s} {v:8.2f} ms  {v / r['predicted_ms']:6.1%}" for k, v in parts.items()
            ]
        _emit("\n".join(lines), args.output)
    else:
        _emit(_frame_text(table, args.format), args.output)
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from costmodel.predict.profiles import resolve_prior
    from costmodel.predict.workflow import compare_predictors, load_training

    data = load_training(
        args.timings,
        board=args.board,
        prune_dead=args.prune_dead,
        n_jobs=args.jobs,
        progress=True,
        runtime=args.runtime,
    )
    prior = resolve_prior(args.prior) if args.prior else None
    ks = args.k
    scores, preds = compare_predictors(
        data, protocol=args.protocol, ks=ks, draws=args.draws, prior=prior, seed=args.seed
    )
    full = "oplevel" if data.has_ops else "additive"
    header = (
        f"{args.protocol} on {len(data.X)} models, {data.families.nunique()} families; "
        f"full predictor = {full}; runtime {data.runtime}"
    )
    text = _frame_text(scores.round(4), args.format)
    _emit(header + "\n" + text if args.format == "table" else text, args.output)
    if args.plots:
        from costmodel.report.plots import comparison_plots

        for path in comparison_plots(scores, preds, args.plots, full=full):
            print(f"wrote {path}", file=sys.stderr)
    return 0


def cmd_profiles(args: argparse.Namespace) -> int:
    from costmodel.predict.profiles import profile_dir, shipped_profiles

    table = shipped_profiles()
    if table.empty:
        print(f"no profiles in {profile_dir()}", file=sys.stderr)
        return 0
    shown = table if args.format != "table" else table.drop(columns=["family_list", "path"])
    _emit(_frame_text(shown.set_index("name"), args.format), args.output)
    return 0


_FIT_RUNTIME_HELP = (
    "count the graph this runtime executes (default: the runtime in board.json, else eager)"
)


def _runtime_arg(p: argparse.ArgumentParser, default: str | None, text: str) -> None:
    from costmodel.analysis.rewrites import RUNTIMES

    p.add_argument("--runtime", choices=list(RUNTIMES), default=default, help=text)


# The --predictor choices of `fit`, named here so that building the parser imports no
# scikit-learn (tests/test_cli.py checks them against the registry); their descriptions are
# read from the registry only when help is shown.
FIT_PREDICTORS = ("mac", "additive", "oplevel", "full")


def _predictor_help() -> str:
    from costmodel.predict.estimators import PREDICTORS  # importing it registers every predictor

    return "; ".join(f"{n}: {PREDICTORS[n].description}" for n in FIT_PREDICTORS)


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose actions with a ``lazy_help`` function get their help text from it
    when help is shown (so that building the parser imports nothing heavy)."""

    def format_help(self) -> str:
        for action in self._actions:
            if callable(getattr(action, "lazy_help", None)):
                action.help = action.lazy_help()
        return super().format_help()


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="costmodel",
        description="Predict embedded inference latency of PyTorch models from MAC and non-MAC "
        "work.",
    )
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("analyze", help="count MACs, FLOPs, bytes and params of every node")
    p.add_argument(
        "model",
        help="a zoo spec (mobilenetv2?width=0.5, nb201:|...|, random:seed=1)"
        " or an importable callable (pkg.module:build_fn, path/to/file.py:build_fn)",
    )
    p.add_argument(
        "--input-shape",
        type=_shape,
        action="append",
        help="input shape N,C,H,W (repeat for several inputs); default: the model's own",
    )
    p.add_argument(
        "--batch", type=_positive, default=1, help="batch size for the default input shape"
    )
    p.add_argument("--by", choices=["node", "category", "module"], default="category")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.add_argument(
        "--leaf-module",
        action="append",
        metavar="PATH",
        help="treat this submodule as one opaque node (repeatable)",
    )
    p.add_argument("--method", choices=["auto", "fx", "dispatch"], default="auto")
    p.add_argument("--dtype", choices=list(DTYPES), help="input and weight dtype (default float32)")
    _runtime_arg(p, "eager", "count the graph this runtime executes (default: eager, as traced)")
    p.add_argument("-o", "--output", help="write to this file instead of standard output")
    p.set_defaults(func=cmd_analyze)

    p = sub.add_parser("models", help="list the models of the zoo as spec strings")
    p.add_argument("--family", help="only this family")
    p.add_argument("--counts", action="store_true", help="also analyze each: params and MACs")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.add_argument("-o", "--output")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser(
        "demo", help="the study on this machine: measure, predict (MAC-only vs full), plot"
    )
    p.add_argument("--out", default="out/demo", help="folder for timings, tables and plots")
    p.add_argument("--threads", type=_positive, default=1)
    p.add_argument("--model", action="append", help="only these specs (repeatable)")
    p.add_argument(
        "--quick",
        action="store_true",
        help="small models and a short protocol (a smoke test, not a result)",
    )
    p.add_argument(
        "--static",
        action="store_true",
        help="only the static analysis table of the study's networks",
    )
    p.add_argument(
        "--format", choices=["table", "csv", "json"], default="table", help="for --static"
    )
    p.add_argument("-o", "--output", help="for --static")
    p.set_defaults(func=cmd_demo)

    from costmodel.bench.runtimes import RUNTIMES

    p = sub.add_parser("calibrate", help="measure a suite of models on this board, resumably")
    p.add_argument(
        "--suite", default="quick", choices=["quick", "study", "zoo", "nb201", "default"]
    )
    p.add_argument("--model", action="append", help="measure these specs instead of a suite")
    p.add_argument("--board", required=True, help="a name for this board configuration")
    p.add_argument("--out", required=True, help="timings folder (resumes if it exists)")
    p.add_argument("--threads", type=_positive, default=1)
    p.add_argument("--batch", type=_positive, default=1)
    p.add_argument(
        "--no-onednn",
        action="store_true",
        help="turn oneDNN off (per-group convolution loops, as on builds without it)",
    )
    p.add_argument(
        "--per-op",
        choices=["in_context", "isolated"],
        default="in_context",
        help="per-op timing: inside the real forward pass under the profiler (default), or "
        "each op timed alone",
    )
    p.add_argument("--no-per-op", action="store_true", help="skip per-op timings")
    p.add_argument(
        "--runtime",
        default="eager",
        choices=list(RUNTIMES),
        help="run the models with this runtime (exports are cached; per-op timings: eager, "
        "onnxruntime's profiler, executorch's ETDump)",
    )
    p.add_argument(
        "--prepare-only",
        action="store_true",
        help="only export the models for --runtime into the cache (untimed; no lock needed)",
    )
    p.add_argument(
        "--prepared-only",
        action="store_true",
        help="measure only the models already exported (the rest waits for a later run)",
    )
    p.add_argument("--jobs", type=int, default=1, help="parallel exports for --prepare-only")
    p.add_argument("--force", action="store_true", help="re-measure models already measured")
    p.add_argument(
        "--retake-flagged",
        action="store_true",
        help="re-measure the models whose spread was flagged",
    )
    p.add_argument("--warmup", type=_non_negative, default=5)
    p.add_argument("--rounds", type=_positive, default=6)
    p.add_argument("--runs-per-round", type=_positive, default=5)
    p.add_argument(
        "--max-spread",
        type=_positive_float,
        default=0.10,
        help="re-take, then flag, a model whose IQR/median exceeds this",
    )
    p.set_defaults(func=cmd_calibrate)

    p = sub.add_parser(
        "profile", help="measure where a model's time goes here, per category and ATen op"
    )
    p.add_argument("model", help="a zoo spec, path/to/file.py:build_fn or pkg.module:build_fn")
    p.add_argument("--input-shape", type=_shape, help="N,C,H,W; default: the model's own")
    p.add_argument("--batch", type=int, default=1, help="batch size for the default input shape")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--no-onednn", action="store_true", help="turn oneDNN off for the run")
    p.add_argument("--repeats", type=int, default=5, help="profiled forward passes (median)")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.add_argument("--plot", metavar="PATH", help="also write a bar chart (PNG)")
    p.add_argument("-o", "--output", help="write to this file instead of standard output")
    p.set_defaults(func=cmd_profile)

    p = sub.add_parser("import-timings", help="convert timings measured elsewhere")
    p.add_argument("source", help="a CSV file")
    p.add_argument("--board", required=True)
    p.add_argument("--model-column", default="model")
    p.add_argument("--latency-column", default="latency_ms")
    p.add_argument("--unit", default="ms", choices=["ms", "s", "us", "ns"])
    p.add_argument("--model-prefix", default="", help='e.g. "nb201:" for bare arch strings')
    p.add_argument("--keep-column", action="append", help="carry this column over")
    p.add_argument(
        "--drop-invalid", action="store_true", help="drop bad rows (reported) instead of failing"
    )
    p.add_argument("-o", "--output")
    p.set_defaults(func=cmd_import_timings)

    p = sub.add_parser(
        "featurize",
        help="analyse a whole search space into one feature table (parallel, resumable)",
        description="Analyse every spec of SPECS files into a feature table, one row per model. "
        "Parallel with joblib (--jobs), or on a dask cluster (--backend dask). Resumable: every "
        "finished chunk of models goes to the feature cache ($COSTMODEL_CACHE) at once, so an "
        "interrupted run loses only the chunks in flight and a rerun computes only what is "
        "missing. Models that fail are listed at the end and left out of the table.",
    )
    p.add_argument(
        "specs",
        nargs="+",
        metavar="SPECS",
        help="a file of model specs, one per line, or a CSV with a 'model' or 'spec' column",
    )
    p.add_argument("-o", "--output", required=True, help="feature table: .parquet or .csv")
    p.add_argument(
        "--nodes",
        metavar="DIR_OR_FILE",
        help="also write the long node table (one row per node, with a 'model' column): a "
        ".parquet/.csv file, or a folder for nodes.<format of -o>",
    )
    p.add_argument("--input-shape", type=_shape, help="N,C,H,W for every model; default: each own")
    p.add_argument("--dtype", choices=list(DTYPES), help="analyse the models in this dtype")
    p.add_argument(
        "--prune-dead",
        action="store_true",
        help="only the dead-work rule: x * 0, constants folded through every op and what only "
        "feeds them removed; --runtime tflite applies TFLite's own zero rule",
    )
    _runtime_arg(p, "eager", "count the graph this runtime executes (default: eager)")
    p.add_argument(
        "--jobs",
        type=_jobs,
        help="parallel workers, -1 for all (default: 1; with --backend dask, every worker)",
    )
    p.add_argument(
        "--backend",
        choices=["joblib", "dask"],
        default="joblib",
        help="joblib processes here, or joblib's dask backend (pip install 'costmodel[dask]')",
    )
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="dask scheduler, e.g. tcp://10.0.0.5:8786 (default: $DASK_SCHEDULER_ADDRESS, "
        "else a local cluster of --jobs processes)",
    )
    p.add_argument(
        "--chunk-size", type=_positive, default=16, help="models per task (and per cache write)"
    )
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        help="progress bar on standard error (default: when it is a terminal)",
    )
    p.set_defaults(func=cmd_featurize)

    p = sub.add_parser("fit", help="fit a latency predictor on a timings file -> profile")
    p.add_argument("timings", help="timings CSV (model, latency_ms; ops.csv next to it is used)")
    predictor = p.add_argument("--predictor", default="full", choices=FIT_PREDICTORS)
    predictor.lazy_help = _predictor_help
    p.add_argument(
        "--prior",
        help="other boards' profiles to adapt: a profile file, a shipped profile's name, or "
        "'default' (every shipped board; used automatically below 50 timings)",
    )
    p.add_argument(
        "--no-default-prior",
        action="store_true",
        help="never adapt the shipped prior, however few timings there are",
    )
    p.add_argument("--board", help="the board to use when the file holds several")
    p.add_argument(
        "--prune-dead",
        action="store_true",
        help="only the dead-work rule: x * 0, constants folded through every op and what only "
        "feeds them removed; --runtime tflite applies TFLite's own zero rule",
    )
    _runtime_arg(p, None, _FIT_RUNTIME_HELP)
    p.add_argument("--jobs", type=_jobs, default=1, help="parallel featurising processes")
    p.add_argument("-o", "--output", required=True, help="profile path (.profile.json)")
    p.set_defaults(func=cmd_fit)

    p = sub.add_parser("predict", help="predict latency of models with a profile")
    p.add_argument("model", nargs="+", help="model specs, or CSV files with a 'model' column")
    p.add_argument(
        "--profile", required=True, help="a profile file or a shipped profile's name (raspi4)"
    )
    p.add_argument("--input-shape", type=_shape, action="append")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.add_argument("--jobs", type=_jobs, default=1)
    p.add_argument("--dtype", choices=list(DTYPES), help="analyse the models in this dtype")
    _runtime_arg(p, None, "refuse unless the profile was fitted for this runtime")
    p.add_argument("-o", "--output")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("profiles", help="list the shipped board profiles (use them by name)")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.add_argument("-o", "--output")
    p.set_defaults(func=cmd_profiles)

    p = sub.add_parser("compare", help="score predictors against the MAC-only baseline")
    p.add_argument("timings")
    p.add_argument("--protocol", choices=["lofo", "kshot"], default="lofo")
    p.add_argument("--k", type=_ks, default=(5, 10, 20, 50), help="k values for kshot")
    p.add_argument("--draws", type=_positive, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--prior", help="also score adapting this prior (a profile, a shipped name, or 'default')"
    )
    p.add_argument("--board")
    p.add_argument("--prune-dead", action="store_true", help="only the dead-work rule")
    _runtime_arg(p, None, _FIT_RUNTIME_HELP)
    p.add_argument("--jobs", type=_jobs, default=1)
    p.add_argument("--plots", help="write plots to this folder")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.add_argument("-o", "--output")
    p.set_defaults(func=cmd_compare)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print(f"costmodel {args.command}: interrupted; finished work is saved", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            raise
        print(f"costmodel {args.command}: error: {_error_text(exc)}", file=sys.stderr)
        return 2


# Errors whose message is written for the user; any other is a bug or a surprise: one line with
# its type, and --debug for the traceback.
_USER_ERRORS = (ValueError, KeyError, ImportError, AttributeError, TypeError, OSError)


def _error_text(exc: BaseException) -> str:
    from costmodel.analysis.errors import AnalysisError

    if isinstance(exc, AnalysisError):
        return str(exc)
    if isinstance(exc, _USER_ERRORS):
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        return str(message)
    lines = str(exc).strip().splitlines()
    first = lines[0] if lines else ""
    return f"{type(exc).__name__}: {first} (run with --debug for the traceback)"


if __name__ == "__main__":
    sys.exit(main())
