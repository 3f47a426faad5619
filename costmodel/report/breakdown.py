"""The study's breakdown for any model: where its inference time goes, measured on this machine.

The model runs for real under the profiler (:mod:`costmodel.bench.profiler`); its measured time
is shown per op category beside the static counts of the same category (logical ops, share of
MACs, share of bytes moved), and per ATen op (self time: a grouped convolution without native
kernels shows its ``slice``/``narrow``/``empty``/``cat`` loop there). ``between`` is the time
outside every op (module calls, Python between modules); the profiler's own measured cost has
been subtracted, and ``coverage`` compares the total with the un-profiled latency.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
import torch.nn as nn

from costmodel.bench.profiler import profile_model, unprofiled_us

# The four networks the study broke down by op (../shared/docs/paper.md): ResNet50,
# InceptionV4, Xception, ShuffleNet (the zoo's names, any width).
STUDY_BREAKDOWN = ("resnet", "inceptionv4", "xception", "shufflenet")


@dataclass
class Breakdown:
    """Measured shares of one model (see the module docstring). Times in milliseconds."""

    model: str
    categories: pd.DataFrame
    aten: pd.DataFrame
    totals: dict[str, Any]

    def table(self, which: str = "category") -> pd.DataFrame:
        return self.categories if which == "category" else self.aten

    def to_frame(self) -> pd.DataFrame:
        """Both tables in one long frame (``table`` column: category or aten), for CSV."""
        cat = self.categories.reset_index(names="name").assign(table="category")
        aten = self.aten.reset_index(names="name").assign(table="aten")
        frame = pd.concat([cat, aten], ignore_index=True)
        return frame[["table", "name", *[c for c in frame.columns if c not in ("table", "name")]]]

    def to_json(self) -> str:
        return json.dumps(
            {
                "model": self.model,
                "totals": self.totals,
                "category": json.loads(self.categories.to_json(orient="index")),
                "aten": json.loads(self.aten.to_json(orient="index")),
            },
            indent=2,
        )

    def __repr__(self) -> str:
        t = self.totals
        cat = self.categories.copy()
        for c in ("macs_share", "bytes_share", "time_share"):
            cat[c] = (100 * cat[c]).map("{:.1f}%".format)
        cat["time_ms"] = cat["time_ms"].map("{:.3f}".format)
        aten = self.aten.head(12).copy()
        aten["share"] = (100 * aten["share"]).map("{:.1f}%".format)
        aten["self_ms"] = aten["self_ms"].map("{:.3f}".format)
        return "\n".join(
            [
                f"{self.model}: measured {t['latency_ms']:.2f} ms un-profiled; "
                f"{t['threads']} thread(s), oneDNN {'on' if t['onednn'] else 'off'}, "
                f"torch {t['torch']}, {t['repeats']} profiled runs",
                cat.to_string(),
                "",
                "top ATen ops by self time:",
                aten.to_string(),
                "",
                f"coverage (ops + between) / un-profiled latency: {t['coverage']:.2f}; profiler "
                f"overhead subtracted: {t['overhead_ms']:.2f} ms "
                f"(timed run {t['raw_ms']:.2f} ms); ATen shares are of the profiled run",
            ]
        )


def _resolve(model: str | nn.Module, input_shape) -> tuple[nn.Module, tuple[int, ...], str]:
    if isinstance(model, nn.Module):
        if input_shape is None:
            raise ValueError("give the input shape of a model object (e.g. (1, 3, 224, 224))")
        return model, tuple(input_shape), type(model).__name__
    from costmodel.zoo import build, parse
    from costmodel.zoo import input_shape as spec_shape

    spec = parse(model).canonical()
    return build(spec), tuple(input_shape or spec_shape(spec)), model


def measure_breakdown(
    model: str | nn.Module,
    input_shape: tuple[int, ...] | None = None,
    threads: int = 1,
    onednn: bool = True,
    repeats: int = 5,
) -> Breakdown:
    """Measure ``model`` (a spec, ``file.py:fn``, ``pkg.mod:fn`` or a module) on this machine and
    break its time down by category and ATen op, beside its static counts."""
    from costmodel.analysis import analyze
    from costmodel.bench.calibrate import board_config

    net, shape, name = _resolve(model, input_shape)
    training = net.training
    net.eval()
    try:
        x = torch.randn(shape)
        with board_config(threads, onednn):
            analysis = analyze(net, shape, name=name)
            with torch.inference_mode():
                net(x)  # warm-up
            latency = unprofiled_us(net, (x,))
            result = profile_model(net, (x,), analysis, repeats=repeats)
    finally:
        net.train(training)
    static = analysis.by_category
    measured = result.nodes.groupby("category")["latency_us"].sum()
    total = result.total_us
    cats = pd.DataFrame(
        {
            "ops": static["ops"],
            "MMACs": static["macs"] / 1e6,
            "macs_share": static["macs_share"],
            "bytes_share": static["bytes_share"],
        }
    ).reindex(list(static.index) + ["between", "unmapped"])
    cats["time_ms"] = measured.reindex(cats.index).fillna(0.0) / 1e3
    cats.loc["between", "time_ms"] = result.between_us / 1e3
    cats.loc["unmapped", "time_ms"] = result.unmapped_us / 1e3
    cats = cats[(cats["time_ms"] != 0) | cats["ops"].notna()]
    cats = cats.fillna({"ops": 0, "MMACs": 0.0, "macs_share": 0.0, "bytes_share": 0.0})
    cats["ops"] = cats["ops"].astype(int)
    cats["time_share"] = cats["time_ms"] / (total / 1e3)
    cats = cats.sort_values("time_ms", ascending=False)
    aten = pd.DataFrame({"self_ms": result.aten / 1e3})
    aten["share"] = aten["self_ms"] / aten["self_ms"].sum()
    totals = {
        "latency_ms": latency / 1e3,
        "profiled_ms": total / 1e3,
        "raw_ms": result.raw_us / 1e3,
        "coverage": total / latency,
        "overhead_ms": (result.raw_us - result.forward_us) / 1e3,
        "between_ms": result.between_us / 1e3,
        "threads": threads,
        "onednn": bool(onednn and torch.backends.mkldnn.is_available()),
        "torch": torch.__version__,
        "repeats": result.repeats,
        "overhead_us": vars(result.overhead),
        "unmapped_ops": result.unmapped_ops,
    }
    return Breakdown(name, cats, aten, totals)


def plot_breakdowns(breakdowns: list[Breakdown], path: str | Path, top: int = 8) -> Path:
    """Stacked bars of each model's measured time share per category (next to its MAC share),
    and of its top ATen ops by self time."""
    from costmodel.report.plots import _pyplot

    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    names = [b.model for b in breakdowns]
    for ax, which, column in ((axes[0], "category", "time_share"), (axes[1], "aten", "share")):
        frame = pd.DataFrame({b.model: b.table(which)[column] for b in breakdowns}).fillna(0.0)
        keep = frame.max(axis=1).sort_values(ascending=False).index[:top]
        rest = frame.drop(index=keep).sum()
        frame = frame.loc[keep]
        frame.loc["other"] = rest
        frame.T.plot.bar(stacked=True, ax=ax, width=0.7)
        ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
        ax.set(ylabel="share of measured time", title=f"time by {which}")
        ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def study_breakdowns(
    out: str | Path, specs: list[str], threads: int = 1, onednn: bool = True, log=print
) -> list[Path]:
    """Breakdowns of the study's four broken-down networks among ``specs``, shown through
    ``log`` and written to ``out`` (CSV, and a plot when matplotlib is there)."""
    specs = [s for s in specs if s.split("?")[0] in STUDY_BREAKDOWN]
    if not specs:
        return []
    log(f"   where the time goes, measured under the profiler: {', '.join(specs)}")
    out = Path(out)
    breakdowns = [measure_breakdown(s, threads=threads, onednn=onednn) for s in specs]
    shares = pd.DataFrame({b.model: b.categories["time_share"] for b in breakdowns}).T
    shares = shares.fillna(0.0)[shares.max().sort_values(ascending=False).index[:8]]
    log((100 * shares).to_string(float_format=lambda v: f"{v:.1f}%"))
    frame = pd.concat([b.to_frame().assign(model=b.model) for b in breakdowns])
    files = [out / "study_breakdown.csv"]
    frame.to_csv(files[0], index=False)
    try:
        files.append(plot_breakdowns(breakdowns, out / "study_breakdown.png"))
    except ImportError:
        pass
    return files
