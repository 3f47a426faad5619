"""The ``costmodel`` command line: parses arguments, calls the library, prints. Nothing else."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import pandas as pd

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


def cmd_demo(args: argparse.Namespace) -> int:
    from costmodel.report.study import study_table

    table = study_table(args.model or None)
    if args.format == "table":
        text = table.to_string(float_format=lambda v: f"{v:,.2f}")
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


def cmd_calibrate(args: argparse.Namespace) -> int:
    from costmodel.bench.calibrate import calibrate
    from costmodel.bench.protocol import Protocol
    from costmodel.bench.suites import suite

    specs = args.model or suite(args.suite)
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
        per_op=not args.no_per_op,
        force=args.force,
        suite="custom" if args.model else args.suite,
    )
    print(
        f"{summary.measured} measured, {summary.skipped} already done, {summary.failed} failed, "
        f"{summary.flagged} flagged (spread above {args.max_spread:.0%}); "
        f"timings in {summary.out_dir / 'timings.csv'}"
    )
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="costmodel",
        description="Predict embedded inference latency of PyTorch models from MAC and non-MAC "
        "work.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

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
    p.add_argument("--batch", type=int, default=1, help="batch size for the default input shape")
    p.add_argument("--by", choices=["node", "category", "module"], default="category")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.add_argument(
        "--leaf-module",
        action="append",
        metavar="PATH",
        help="treat this submodule as one opaque node (repeatable)",
    )
    p.add_argument("--method", choices=["auto", "fx", "dispatch"], default="auto")
    p.add_argument("-o", "--output", help="write to this file instead of standard output")
    p.set_defaults(func=cmd_analyze)

    p = sub.add_parser("models", help="list the models of the zoo as spec strings")
    p.add_argument("--family", help="only this family")
    p.add_argument("--counts", action="store_true", help="also analyze each: params and MACs")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.add_argument("-o", "--output")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser(
        "demo", help="the study's ten networks: MAC work next to the work MACs do not see"
    )
    p.add_argument("--model", action="append", help="analyse these specs instead (repeatable)")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.add_argument("-o", "--output")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("calibrate", help="measure a suite of models on this board, resumably")
    p.add_argument(
        "--suite", default="quick", choices=["quick", "study", "zoo", "nb201", "default"]
    )
    p.add_argument("--model", action="append", help="measure these specs instead of a suite")
    p.add_argument("--board", required=True, help="a name for this board configuration")
    p.add_argument("--out", required=True, help="timings folder (resumes if it exists)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument(
        "--no-onednn",
        action="store_true",
        help="turn oneDNN off (per-group convolution loops, as on builds without it)",
    )
    p.add_argument("--no-per-op", action="store_true", help="skip per-op timings")
    p.add_argument("--force", action="store_true", help="re-measure models already measured")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--runs-per-round", type=int, default=5)
    p.add_argument(
        "--max-spread",
        type=float,
        default=0.10,
        help="re-take, then flag, a model whose IQR/median exceeds this",
    )
    p.set_defaults(func=cmd_calibrate)

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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from costmodel.analysis.errors import AnalysisError

    try:
        return args.func(args)
    except KeyboardInterrupt:
        print(f"costmodel {args.command}: interrupted; finished work is saved", file=sys.stderr)
        return 130
    except (AnalysisError, ValueError, KeyError, ImportError, AttributeError, TypeError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"costmodel {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
