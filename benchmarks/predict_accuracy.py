"""Prediction accuracy against the MAC-only baseline, on the same splits (evaluation.md).

Sections (each can be run alone with --only):
  lofo      leave-one-family-out on this machine's reference timings (oneDNN on and off)
  nb201     NAS-Bench-201 device data, k = 20 calibration networks, 20 draws, every device, on a
            seeded sample of the 15,625 networks (--sample; 0 = all)
  transfer  k-shot curves on the oneDNN-off board, with and without the oneDNN-on profile as prior
  featurize all 15,625 NAS-Bench-201 networks, cold cache then warm

    .venv/bin/python benchmarks/predict_accuracy.py --jobs 2 --out benchmarks/results
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import pandas as pd

from costmodel.predict.estimators import AdditivePredictor, MacPredictor
from costmodel.predict.evaluate import k_shot
from costmodel.predict.features import FeatureCache, featurize
from costmodel.predict.workflow import compare_predictors, load_training

ROOT = Path(__file__).resolve().parents[1]
BOARDS = ROOT / "calibration" / "boards"
NB201 = ROOT / "calibration" / "nb201"
DEVICES = ("raspi4", "pixel3", "gold_6226", "silver_4114", "titan_rtx_1", "1080ti_1")
COLUMNS = ["MAPE", "acc5", "acc10", "spearman", "kendall", "RMSE_ms", "MAPE_ratio_to_mac"]


def markdown(table: pd.DataFrame) -> str:
    """A GitHub markdown table (index included), floats to 3 decimals."""
    table = table.reset_index()
    cells = [
        [f"{v:.3f}" if isinstance(v, float) else str(v) for v in row]
        for row in table.itertuples(index=False)
    ]
    head = [str(c) for c in table.columns]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in cells])


def show(title: str, table: pd.DataFrame) -> None:
    print(f"\n### {title}\n")
    print(markdown(table))


def lofo(out: Path, jobs: int) -> None:
    for board in ("x86-2core-1t", "x86-2core-1t-noonednn"):
        data = load_training(BOARDS / board / "timings.csv", n_jobs=jobs)
        scores, preds = compare_predictors(data, protocol="lofo")
        scores = scores[[c for c in COLUMNS if c in scores]]
        show(
            f"leave-one-family-out, {board}: {len(data.X)} models, "
            f"{data.families.nunique()} families",
            scores,
        )
        scores.to_csv(out / f"lofo_{board}.csv")
        preds.to_csv(out / f"lofo_{board}_predictions.csv")
        fam = preds.groupby("family").apply(
            lambda g: pd.Series(
                {
                    c: (abs(g[c] - g["measured"]) / g["measured"]).mean() * 100
                    for c in ("mac", "additive", "oplevel")
                    if c in g
                }
            )
        )
        show(f"MAPE (%) per held-out family, {board}", fam)


def sampled(devices, sample: int):
    """(device, path) of each device's timings, a seeded sample of ``sample`` rows (0: all)."""
    tmp = Path(tempfile.mkdtemp(prefix="nb201-sample-"))
    for device in devices:
        frame = pd.read_csv(NB201 / f"{device}.csv")
        if sample:
            frame = frame.sample(n=sample, random_state=0)
        path = tmp / f"{device}.csv"
        frame.to_csv(path, index=False)
        yield device, path


def k20_rows(data, draws: int, **labels) -> list[dict]:
    """MAC-only and additive at k = 20 (median of ``draws``), one row per predictor."""
    preds = {"mac": MacPredictor(), "additive": AdditivePredictor()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = k_shot(preds, data.X, data.y, ks=(20,), draws=draws, seed=0)
    return [
        {**labels, "predictor": r["predictor"], **{c: r[c] for c in COLUMNS if c in r}}
        for _, r in table.iterrows()
    ]


def nb201(out: Path, jobs: int, draws: int, sample: int) -> None:
    rows = []
    for device, path in sampled(DEVICES, sample):
        for prune in (False, True):
            data = load_training(path, prune_dead=prune, n_jobs=jobs)
            rows += k20_rows(data, draws, device=device, prune_dead=prune)
    table = pd.DataFrame(rows)
    show(
        f"NAS-Bench-201 devices, k = 20, median of {draws} draws (connected networks only)",
        table.set_index(["device", "prune_dead", "predictor"]),
    )
    table.to_csv(out / "nb201_k20.csv", index=False)


def transfer(out: Path, jobs: int, draws: int) -> None:
    source = load_training(BOARDS / "x86-2core-1t" / "timings.csv", n_jobs=jobs)
    from costmodel.predict.estimators import OpLevelPredictor

    prior = OpLevelPredictor().fit(source.X, source.y)
    target = load_training(BOARDS / "x86-2core-1t-noonednn" / "timings.csv", n_jobs=jobs)
    X = target.X.assign(
        node_table=target.X["node_table"].map(
            lambda t: t.drop(columns="latency_us", errors="ignore")
        )
    )  # the new board: no per-op
    preds = {
        "mac": MacPredictor(),
        "additive": AdditivePredictor(),
        "prior (oneDNN on, adapted)": AdditivePredictor(prior=prior),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = k_shot(preds, X, target.y, ks=(5, 10, 20, 50), draws=draws, seed=0)
    show(
        f"k-shot on the oneDNN-off board, median of {draws} draws",
        table.set_index(["k", "predictor"])[[c for c in COLUMNS if c in table]],
    )
    table.to_csv(out / "kshot_transfer.csv", index=False)


def featurize_all(jobs: int) -> None:
    specs = list(pd.read_csv(NB201 / "raspi4.csv")["model"])
    with tempfile.TemporaryDirectory() as tmp:
        cache = FeatureCache(tmp)
        t = time.perf_counter()
        featurize(specs, n_jobs=jobs, cache=cache, progress=True)
        cold = time.perf_counter() - t
        t = time.perf_counter()
        featurize(specs, n_jobs=jobs, cache=cache)
        warm = time.perf_counter() - t
    print(
        f"\nfeaturising {len(specs)} NAS-Bench-201 networks with {jobs} processes: "
        f"cold {cold:.0f} s ({len(specs) / cold:.1f} networks/s), cached {warm:.1f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--only", action="append", choices=["lofo", "nb201", "transfer", "featurize"]
    )
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--draws", type=int, default=20)
    parser.add_argument("--sample", type=int, default=2000, help="NB201 networks per device")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    todo = args.only or ["lofo", "nb201", "transfer", "featurize"]
    if "lofo" in todo:
        lofo(args.out, args.jobs)
    if "nb201" in todo:
        nb201(args.out, args.jobs, args.draws, args.sample)
    if "transfer" in todo:
        transfer(args.out, args.jobs, args.draws)
    if "featurize" in todo:
        featurize_all(args.jobs)


if __name__ == "__main__":
    main()
