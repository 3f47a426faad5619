"""`costmodel demo`: the study reproduced on this machine, and the tool's answer to it.

1. Analyse the study's ten networks: parameters, MACs, non-MAC work per category.
2. Measure them here (the calibration protocol, quick settings), whole model and per op, and
   measure a quick calibration suite (one small model per family, a few NAS-Bench-201 and random
   networks) in the same run.
3. Predict each study model with the MAC-only baseline and the full predictor, both fitted on
   the calibration suite *without the predicted model's family*: every prediction is of an
   architecture the predictor has never seen, on the machine the user actually has. This
   machine is treated as a new board: the full predictor adapts the shipped reference board's
   op-level predictor (refitted without the predicted family) as its prior, scaled and corrected
   by the quick suite's timings with cross-validated strength.
4. Write the table and the plots; say where.
"""

from __future__ import annotations

import random
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from costmodel.analysis.taxonomy import KIND_OF, KINDS
from costmodel.bench.calibrate import calibrate
from costmodel.bench.protocol import Protocol
from costmodel.bench.store import read_timings
from costmodel.bench.suites import suite
from costmodel.predict.estimators import (
    AdditivePredictor,
    FullPredictor,
    MacPredictor,
    OpLevelPredictor,
)
from costmodel.predict.evaluate import score
from costmodel.predict.features import featurize
from costmodel.predict.prior import MultiBoardPrior, PriorSource, prior_columns
from costmodel.predict.workflow import load_training
from costmodel.report.breakdown import study_breakdowns
from costmodel.report.study import study_table
from costmodel.zoo import family, parse
from costmodel.zoo.catalog import catalog

# Groups of 10 models, study models shuffled in among the calibration models (below), so that
# drift of a shared machine during the run biases both alike.
QUICK = Protocol(warmup=3, rounds=4, runs_per_round=5, group_size=10)
# The shipped board whose op-level predictor is the demo's prior (this machine is a new board).
REFERENCE = Path(__file__).resolve().parents[2] / "calibration" / "boards" / "x86-2core-1t"


@dataclass
class DemoResult:
    table: pd.DataFrame
    scores: pd.DataFrame
    files: list[Path]


def study_specs() -> tuple[list[str], dict[str, str]]:
    """The ten study models' specs and their familiar names."""
    table = catalog(study_only=True)
    names = {
        s: (a.split(",")[-1] or s) for s, a in zip(table["spec"], table["aliases"], strict=True)
    }
    return list(table["spec"]), names


def run_demo(
    out_dir: str | Path,
    specs: list[str] | None = None,
    calibration: list[str] | None = None,
    protocol: Protocol = QUICK,
    threads: int = 1,
    progress: bool = True,
    log=print,
    reference: str | Path | None = REFERENCE,
    reference_models: list[str] | None = None,
) -> DemoResult:
    """Run the demo into ``out_dir``. ``reference``: the timings folder of the board whose
    op-level predictor is the prior (None: no prior); ``reference_models``: only these of it."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    study, names = study_specs()
    # timings files hold canonical specs (calibrate writes them): look models up by those
    given = specs or study
    names = {parse(s).canonical(): names.get(s, s) for s in given}
    specs = list(names)
    calibration = [parse(s).canonical() for s in (calibration or suite("quick"))]

    log("1/4 analysing the study's networks (static, no data)")
    static = study_table(specs).rename(index=lambda s: names.get(s, s))

    log(
        f"2/4 measuring {len(specs)} study models and {len(calibration)} calibration models "
        f"on this machine ({threads} thread, quick protocol)"
    )
    board = out / "timings"
    order = list(dict.fromkeys(specs + calibration))
    random.Random(0).shuffle(order)  # interleave study and calibration models
    calibrate(
        order,
        board,
        board="this-machine",
        threads=threads,
        protocol=protocol,
        progress=progress,
        suite="demo",
    )
    timings = read_timings(board / "timings.csv").set_index("model")
    ops = pd.read_csv(board / "ops.csv")

    log("3/4 predicting each study model with predictors that never saw its family")
    feats = featurize(list(dict.fromkeys(specs + calibration)), errors="skip")
    X = feats.with_nodes(op_timings=ops[ops["model"].isin(calibration)])
    cal = [s for s in calibration if s in X.index and s in timings.index]
    ref = _reference(reference, reference_models, log)
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for spec in specs:
            if spec not in X.index or spec not in timings.index:
                continue
            fam = family(spec)
            train = [s for s in cal if family(s) != fam and s != spec]
            y = timings.loc[train, "latency_ms"]
            mac = MacPredictor().fit(X.loc[train], y)
            if ref is not None:
                keep = (ref.families != fam).to_numpy()
                source = OpLevelPredictor().fit(ref.X[keep], ref.y[keep])
                prior = MultiBoardPrior([PriorSource(f"{REFERENCE.name} without {fam}", source)])
                Xp = prior_columns(X.loc[train + [spec]], prior)
                full = AdditivePredictor(prior=prior).fit(Xp.loc[train], y)
                x = Xp.loc[[spec]]
            else:
                full = FullPredictor().fit(X.loc[train], y)
                x = X.loc[[spec]]
            rows.append(
                {
                    "model": names[spec],
                    "params_M": static.loc[names[spec], "params_M"],
                    "MMACs": static.loc[names[spec], "MMACs"],
                    "measured_ms": timings.loc[spec, "latency_ms"],
                    "mac_only_ms": float(mac.predict(x)[0]),
                    "full_ms": float(full.predict(x)[0]),
                }
            )
    table = pd.DataFrame(rows).set_index("model")
    table["mac_only_err"] = table["mac_only_ms"] / table["measured_ms"] - 1
    table["full_err"] = table["full_ms"] / table["measured_ms"] - 1
    scores = pd.DataFrame(
        {
            "MAC-only": score(table["measured_ms"], table["mac_only_ms"]),
            "full": score(table["measured_ms"], table["full_ms"]),
        }
    ).T
    table.to_csv(out / "study_predictions.csv")
    static.to_csv(out / "study_static.csv")
    scores.to_csv(out / "study_scores.csv")

    log("4/4 plotting")
    files = [out / "study_predictions.csv", out / "study_static.csv", out / "study_scores.csv"]
    try:
        files += _plots(out, table, mac_shares(X, specs, names), ops, specs, names)
    except ImportError:
        log("matplotlib is not installed: no plots (pip install 'costmodel[plots]')")
    files += study_breakdowns(out, specs, threads=threads, log=log)
    return DemoResult(table, scores, files)


def _reference(folder, models, log):
    """The reference board's features and timings (with per-op timings), or None."""
    if folder is None:
        return None
    path = Path(folder) / "timings.csv"
    if not path.exists():
        log(f"no reference timings at {path}: predicting without a prior")
        return None
    return load_training(path, models=models)


def mac_shares(X: pd.DataFrame, specs: list[str], names: dict[str, str]) -> pd.DataFrame:
    """Per model: share of its MACs in convolution and in linear/matmul/attention."""
    rows = X.loc[[s for s in specs if s in X.index]]
    conv = rows[[c for c in rows.columns if c.startswith("conv_") and c.endswith("_macs")]]
    dense = rows[[c for c in ("linear_macs", "matmul_macs", "attention_macs") if c in rows]]
    table = pd.DataFrame({"convolution": conv.sum(axis=1), "linear/matmul": dense.sum(axis=1)})
    return table.div(table.sum(axis=1), axis=0).rename(index=names)


def time_shares(ops: pd.DataFrame, specs: list[str], names: dict[str, str]) -> pd.DataFrame:
    """Per model: share of its summed per-op time by kind of work."""
    sub = ops[ops["model"].isin(specs)].assign(
        kind=lambda d: d["category"].map(KIND_OF).fillna("other")
    )
    shares = sub.pivot_table(index="model", columns="kind", values="latency_us", aggfunc="sum")
    shares = shares.div(shares.sum(axis=1), axis=0).fillna(0.0)
    return shares.rename(index=names)


def _plots(
    out: Path,
    table: pd.DataFrame,
    macs: pd.DataFrame,
    ops: pd.DataFrame,
    specs: list[str],
    names: dict[str, str],
) -> list[Path]:
    from costmodel.report.plots import _pyplot, predicted_vs_measured

    plt = _pyplot()
    files = []
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    ax.scatter(table["MMACs"], table["measured_ms"])
    for name, r in table.iterrows():
        ax.annotate(
            name,
            (r["MMACs"], r["measured_ms"]),
            fontsize=8,
            xytext=(3, 3),
            textcoords="offset points",
        )
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="MACs (millions)",
        ylabel="measured latency (ms)",
        title="MACs vs measured latency (this machine)",
    )
    fig.tight_layout()
    files.append(out / "macs_vs_latency.png")
    fig.savefig(files[-1], dpi=110)
    plt.close(fig)

    shares = time_shares(ops, specs, names)
    macs = macs.reindex(shares.index).fillna(0.0)
    kinds = [k for k in KINDS if k in shares.columns]
    colors = dict(zip(kinds, plt.rcParams["axes.prop_cycle"].by_key()["color"], strict=False))
    fig, ax = plt.subplots(figsize=(9, 4.8))
    x = np.arange(len(shares))
    for offset, frame, label in ((-0.2, shares, "time"), (0.2, macs, "MACs")):
        bottom = np.zeros(len(frame))
        for kind in kinds:
            if kind not in frame.columns:
                continue
            ax.bar(
                x + offset,
                frame[kind],
                0.38,
                bottom=bottom,
                color=colors[kind],
                label=kind if label == "time" else None,
                hatch="//" if label == "MACs" else None,
                edgecolor="white",
            )
            bottom += frame[kind].to_numpy()
    ax.set_xticks(x, shares.index, rotation=40, ha="right")
    ax.set(
        ylabel="share",
        title="Share of measured op time (left bar) vs share of MACs (right, hatched)",
    )
    ax.legend(fontsize=7, loc="lower left", ncol=2)
    fig.tight_layout()
    files.append(out / "time_share_vs_mac_share.png")
    fig.savefig(files[-1], dpi=110)
    plt.close(fig)

    preds = table.rename(
        columns={"measured_ms": "measured", "mac_only_ms": "MAC-only", "full_ms": "full"}
    ).assign(family=table.index)
    files.append(
        predicted_vs_measured(
            preds,
            ["MAC-only", "full"],
            out / "predicted_vs_measured.png",
            labels={"full": "full (quick suite + shipped prior)"},
            annotate=True,
        )
    )
    return files
