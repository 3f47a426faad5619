"""The benchmark battery: every shipped board x every k x every predictor, one table.

Boards: the x86 boards of ``calibration/boards/`` (leave-one-family-out and k-shot) and every
NAS-Bench-201 device of ``calibration/nb201/`` (k-shot on a seeded sample of networks, the same
networks for every device). Predictors, all on the same splits (shared/docs/evaluation.md):
``constant``, ``mac`` (MAC-only), ``optype`` (NAS-Bench-201 only: least squares on the count of
each edge operation, the simple peer to beat), ``full`` (the board's full predictor from its own
timings) and ``full+prior`` (the multi-board prior adapted: every *other* board's full
predictor, fitted on all of that board's data, as a source, but a runtime with fallback kernels
only for its own runtime: ``MultiBoardPrior.for_runtime``). k-shot: median of ``--draws``
seeded draws per k; every other model held out.

    .venv/bin/python benchmarks/battery.py --jobs 2            # results/battery*.csv + summary
    .venv/bin/python benchmarks/battery.py --evaluate A,B      # rescore two boards only

Featurising (cached in $COSTMODEL_CACHE) comes first; the battery itself then runs in minutes:
source predictions of the prior are computed once per model, not once per draw.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, RegressorMixin

from costmodel.predict.estimators import FullPredictor, MacPredictor, make_predictor
from costmodel.predict.evaluate import k_shot, leave_one_family_out
from costmodel.predict.prior import MultiBoardPrior, PriorSource
from costmodel.predict.workflow import Training, load_training
from costmodel.zoo.nb201 import OPS

ROOT = Path(__file__).resolve().parents[1]
BOARDS = ROOT / "calibration" / "boards"
NB201 = ROOT / "calibration" / "nb201"
# NAS-Bench-201 device -> the runtime whose lowering its features count (raspi4 and pixel3 ran
# TensorFlow Lite, which folds batch norm, fuses activations and removes dead work; the others
# run every edge: their disconnected cells take as long as connected ones).
DEVICES = {
    "raspi4": "tflite", "pixel3": "tflite", "pixel2": "eager", "gold_6226": "eager",
    "silver_4114": "eager", "titan_rtx_1": "eager", "1080ti_1": "eager",
    "titan_rtx_256": "eager", "eyeriss": "eager", "fpga": "eager",
}  # fmt: skip
# Boards measured here (every folder of calibration/boards/ with timings): their runtime is the
# one board.json names.
X86 = tuple(sorted(p.parent.name for p in BOARDS.glob("*/timings.csv")))
# HELP's published Spearman with 10 measured networks (shared/data/nb201/README.md).
HELP_K10 = {"pixel2": 0.802, "raspi4": 0.890, "gold_6226": 0.989, "titan_rtx_256": 0.987,
            "eyeriss": 0.940, "fpga": 0.985}  # fmt: skip
METRICS = ["MAPE", "acc5", "acc10", "RMSE_ms", "spearman", "kendall"]


class OpTypeCountPredictor(RegressorMixin, BaseEstimator):
    """The simple NAS-Bench-201 peer: latency = sum over the 5 edge operations of
    cost * (how many of the cell's 6 edges use it) + c, least squares on relative error."""

    @staticmethod
    def _counts(X: pd.DataFrame) -> np.ndarray:
        ops = [re.findall(r"([a-z_0-9]+)~\d", s) for s in X.index]
        A = np.array([[o.count(op) for op in OPS] for o in ops], float)
        return np.column_stack([A, np.ones(len(X))])

    def fit(self, X, y):
        A = self._counts(X) / np.asarray(y, float)[:, None]
        self.coef_, *_ = np.linalg.lstsq(A, np.ones(len(A)), rcond=None)
        return self

    def predict(self, X):
        return self._counts(X) @ self.coef_


def timings_path(board: str, sample: int, tmp: Path) -> Path:
    """The board's timings file (for a NAS-Bench-201 device, its seeded sample)."""
    if board not in DEVICES:
        return BOARDS / board / "timings.csv"
    path = tmp / f"{board}.csv"
    if not path.exists():
        frame = pd.read_csv(NB201 / f"{board}.csv")
        (frame.sample(n=sample, random_state=0) if sample else frame).to_csv(path, index=False)
    return path


def runtime_of(board: str) -> str:
    if board in DEVICES:
        return DEVICES[board]
    meta = BOARDS / board / "board.json"
    return json.loads(meta.read_text()).get("runtime", "eager") if meta.exists() else "eager"


def predictors(
    data: Training, prior: MultiBoardPrior | None, nb201: bool, margin: float = 0.0
) -> dict:
    out = {
        "constant": make_predictor("constant"),
        "mac": MacPredictor(),
        "full": FullPredictor(margin=margin),
    }
    if nb201:
        out["optype"] = OpTypeCountPredictor()
    if prior is not None and prior.sources:
        out["full+prior"] = FullPredictor(prior=prior, margin=margin)
    return out


def with_sources(X: pd.DataFrame, sources: dict[str, pd.Series]) -> pd.DataFrame:
    return X.assign(**{f"prior:{n}": s.reindex(X.index).to_numpy() for n, s in sources.items()})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--draws", type=int, default=20)
    parser.add_argument("--ks", default="5,10,20,50")
    parser.add_argument("--sample", type=int, default=2000, help="NB201 networks per device")
    parser.add_argument("--devices", default=",".join(DEVICES))
    parser.add_argument("--boards", default=",".join(X86))
    parser.add_argument("--no-lofo", action="store_true")
    parser.add_argument(
        "--evaluate",
        default="",
        help="only these boards are scored (all still serve as prior sources); their rows "
        "replace theirs in the existing battery.csv, for a change that moves no other row",
    )
    parser.add_argument(
        "--margin", type=float, default=0.0, help="the full predictor's MAC-only guard margin"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    ks = tuple(int(k) for k in args.ks.split(","))
    devices = [d for d in args.devices.split(",") if d]
    boards = [b for b in args.boards.split(",") if b]
    args.out.mkdir(parents=True, exist_ok=True)
    warnings.simplefilter("ignore")

    t0 = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="battery-"))
    names = devices + boards
    variants = {b: runtime_of(b) for b in names}

    def training(b: str, runtime: str) -> Training:
        return load_training(timings_path(b, args.sample, tmp), runtime=runtime, n_jobs=args.jobs)

    data = {b: training(b, variants[b]) for b in names}
    # Every board's models in every other board's feature variant too, for the prior's sources.
    other = {
        (b, r): training(b, r).X.loc[data[b].X.index]
        for b in names
        for r in set(variants.values()) - {variants[b]}
    }
    print(f"featurised in {time.perf_counter() - t0:.0f} s", file=sys.stderr)

    t1 = time.perf_counter()
    # Each board's full predictor, fitted on all its data, predicts every model once per
    # feature variant; every target board then reads its own models' predictions.
    union = {
        v: pd.concat([data[n].X if variants[n] == v else other[(n, v)] for n in data])
        for v in set(variants.values())
    }
    union = {v: X[~X.index.duplicated()] for v, X in union.items()}
    predicted = {}
    for src, d in data.items():
        est = FullPredictor().fit(d.X, d.y)
        X = union[variants[src]]
        predicted[src] = pd.Series(np.maximum(est.predict(X), 0), index=X.index)
        print(f"  source {src}: {time.perf_counter() - t1:.0f} s", file=sys.stderr, flush=True)
    sources = {
        tgt: {src: predicted[src] for src in data if src != tgt} for tgt in data
    }  # fmt: skip
    print(f"prior sources in {time.perf_counter() - t1:.0f} s", file=sys.stderr)

    def evaluate(name: str, d: Training) -> list[dict]:
        t = time.perf_counter()
        warnings.simplefilter("ignore")
        prior = MultiBoardPrior(
            [PriorSource(s, None, runtime=variants[s]) for s in sources[name]]
        ).for_runtime(variants[name])  # as `costmodel fit --prior` adapts it
        X = with_sources(d.X, sources[name])
        preds = predictors(d, prior, name in DEVICES, args.margin)
        out = []
        table = k_shot(preds, X, d.y, ks=ks, draws=args.draws, seed=0)
        for _, r in table.iterrows():
            out.append({"board": name, "protocol": "kshot", **r.to_dict()})
        if name in boards and not args.no_lofo:
            scores, _ = leave_one_family_out(preds, X, d.y, d.families)
            for pname, r in scores.iterrows():
                out.append({"board": name, "protocol": "lofo", "k": 0, "predictor": pname,
                            **r.to_dict()})  # fmt: skip
        print(f"{name}: {time.perf_counter() - t:.0f} s", file=sys.stderr, flush=True)
        return out

    # Boards are independent: evaluated in parallel (the slow ones, with per-op timings, first).
    scored = [b for b in args.evaluate.split(",") if b] or list(data)
    order = sorted(scored, key=lambda n: n in DEVICES)
    per_board = Parallel(n_jobs=args.jobs)(delayed(evaluate)(n, data[n]) for n in order)
    rows = [r for board_rows in per_board for r in board_rows]
    result = pd.DataFrame(rows)
    if args.evaluate:  # the other boards' rows as the last full run left them
        kept = pd.read_csv(args.out / "battery.csv")
        result = pd.concat([kept[~kept["board"].isin(scored)], result], ignore_index=True)
    result.to_csv(args.out / "battery.csv", index=False)
    text = summary(result)
    (args.out / "battery_summary.txt").write_text(text + "\n")
    print(text)
    print(f"\nbattery (after featurising) took {time.perf_counter() - t1:.0f} s", file=sys.stderr)
    return 0


def summary(result: pd.DataFrame) -> str:
    """MAPE per board, protocol and k (one column per predictor), the goals, HELP's Spearman."""
    piv = result.pivot_table(
        index=["board", "protocol", "k"], columns="predictor", values="MAPE", aggfunc="first"
    )
    cols = [c for c in ("constant", "mac", "optype", "full", "full+prior") if c in piv.columns]
    piv = piv[cols]
    lines = [
        "MAPE (%), median of draws (k-shot) or pooled (lofo, k = 0):",
        piv.round(2).to_string(),
    ]
    if "draws_worse" in result:
        full = result["predictor"].isin(["full", "full+prior"])
        ks = result[(result["protocol"] == "kshot") & full]
        worse = ks.pivot_table(index=["board", "k"], columns="predictor", values="draws_worse")
        lines += ["", "k-shot draws on which full / full+prior is worse than MAC-only on the same "
                  "draw by more than 0.5 points (share):", worse.round(2).to_string()]  # fmt: skip
    fails = []
    paired = result.set_index(["board", "protocol", "k", "predictor"])
    for (board, proto, k), r in piv.iterrows():
        for p in ("full", "full+prior"):
            if p in r and r[p] > r["mac"] + 0.5:
                why = f"{board} {proto} k={k}: {p} {r[p]:.2f} > MAC-only {r['mac']:.2f} + 0.5"
                if "draws_worse" in paired and (board, proto, k, p) in paired.index:
                    d = paired.loc[(board, proto, k, p)]
                    why += (f" (draw by draw: median {d['MAPE_minus_mac']:+.2f}, worse on "
                            f"{d['draws_worse']:.0%} of draws)")  # fmt: skip
                fails.append(why)
        if proto == "kshot" and k == 20 and r["mac"] > 8 and r["full"] > 0.7 * r["mac"]:
            fails.append(f"{board} k=20: full {r['full']:.2f} > 0.7 x MAC-only {r['mac']:.2f}")
        if proto == "kshot" and k == 20 and "optype" in r and pd.notna(r["optype"]):
            if r["full"] > r["optype"]:
                fails.append(f"{board} k=20: full {r['full']:.2f} > op-type peer {r['optype']:.2f}")
    for (board, proto), g in piv.groupby(level=[0, 1]):
        if proto != "kshot":
            continue
        for p in ("full", "full+prior"):
            vals = g[p].to_numpy()
            for i in range(len(vals)):
                for j in range(i + 1, len(vals)):
                    if vals[j] > vals[i] + 1.0:
                        fails.append(f"{board}: {p} worse at a larger k ({vals[i]:.2f} -> "
                                     f"{vals[j]:.2f})")  # fmt: skip
    sp = result[(result["protocol"] == "kshot") & result["board"].isin(HELP_K10)]
    sp = sp.pivot_table(index=["board", "k"], columns="predictor", values="spearman")
    help_rows = []
    for board, ref in HELP_K10.items():
        if (board, 10) in sp.index:
            r10, r5 = sp.loc[(board, 10)], sp.loc[(board, 5)] if (board, 5) in sp.index else None
            best10 = max(r10.get("full", np.nan), r10.get("full+prior", np.nan))
            best5 = (
                max(r5.get("full", np.nan), r5.get("full+prior", np.nan))
                if r5 is not None
                else np.nan
            )
            help_rows.append({"board": board, "HELP k=10": ref, "full k=10": r10.get("full"),
                              "full+prior k=10": r10.get("full+prior"), "best k=5": best5,
                              "met k=10": best10 >= ref, "met k=5": best5 >= ref})  # fmt: skip
    lines += ["", "Spearman beside HELP's (k = 10):", pd.DataFrame(help_rows).round(3).to_string()]
    lines += ["", f"goals not met ({len(fails)}):"] + [f"  {f}" for f in fails]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
