"""Prediction throughput: featurised candidates per second for every predictor, in one run.

    python benchmarks/predict_speed.py --models 200 --candidates 10000

Candidates: ``--models`` real NAS-Bench-201 networks (the first connected ones of
calibration/nb201/pixel2.csv) are featurised once, in every feature variant a prior source reads
(eager, tflite, executorch, onnxruntime; the feature cache makes a rerun fast), and their rows,
node tables included, are tiled to ``--candidates`` rows. Featurising is not timed. Two
candidate sets: ``tiled`` (copies: a search space repeats node configurations, as NB201 does)
and ``perturbed`` (``--perturbed`` rows, every candidate's totals and every node's sizes scaled
by their own factor, so that no node configuration repeats: the op-level predictor's worst
case, its node model evaluated on every node).

Predictors: ``constant``, ``mac`` and ``additive`` fitted on the candidates' pixel2 latencies;
``oplevel`` and ``full`` from the shipped x86-2core-1t profile (op-level), ``full`` also from
the shipped pixel2 profile (additive); ``full+prior``: the full predictor adapting every other
shipped profile (14 sources, two of them op-level), fitted on 20 pixel2 latencies.

Timed: :func:`costmodel.predict_table` (prediction, interval, MAC-only baseline; prior source
predictions included), median of ``--repeats``. ``cold``: every repetition gets a fresh node
batch, so it pays for finding the distinct node configurations; ``warm``: the same batch again.
"""

import argparse
import os
import platform
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = [(False, "eager"), (False, "tflite"), (False, "executorch"), (False, "onnxruntime")]
SIZE_COLUMNS = ("macs", "flops", "bytes", "params", "act_bytes", "param_bytes", "out_bytes",
                "out_elems")  # fmt: skip


def real_models(n: int) -> pd.DataFrame:
    frame = pd.read_csv(ROOT / "calibration" / "nb201" / "pixel2.csv")
    frame = frame[frame["output_connected"].astype(str).str.lower() == "true"]
    return frame.drop_duplicates("model").head(n).set_index("model")


def tile(X: pd.DataFrame, copies: int, perturb: bool) -> pd.DataFrame:
    """``X`` (with a node batch) repeated ``copies`` times; ``perturb``: candidate c's totals
    x (1 + c / 10^5) and node j's sizes x (1 + j / 10^8), so that no two nodes are alike."""
    from costmodel.predict.nodes import BATCH, OWNER, NodeBatch, attach, nodes_of

    batch, positions = nodes_of(X)
    big = batch.take(np.tile(positions, copies))
    index = pd.Index([f"{s}#{k}" for k in range(copies) for s in X.index], name="model")
    table = big.table
    rows = pd.concat([X.drop(columns=[BATCH, OWNER])] * copies)
    rows.index = index
    if perturb:
        factor = 1 + np.arange(len(rows)) / 1e5
        per_node = 1 + np.arange(len(table)) / 1e8
        table = table.assign(**{c: table[c] * per_node for c in table.columns if c in SIZE_COLUMNS})
        sized = [c for c in rows.columns if any(k in c for k in SIZE_COLUMNS)]
        rows[sized] = rows[sized].mul(factor, axis=0)
    return attach(rows, NodeBatch(table, index, big.offsets))


def fresh(X: pd.DataFrame) -> pd.DataFrame:
    """The same rows with a new node batch object (no distinct configurations found yet)."""
    from costmodel.predict.nodes import NodeBatch, attach, nodes_of

    batch, _ = nodes_of(X)
    return attach(X, NodeBatch(batch.table, batch.models, batch.offsets))


def fit_predictors(X: pd.DataFrame, y: pd.Series, tmp: Path) -> dict:
    from costmodel.predict.estimators import make_predictor
    from costmodel.predict.profiles import get_profile
    from costmodel.predict.workflow import fit_profile

    models = {name: make_predictor(name).fit(X, y) for name in ("constant", "mac", "additive")}
    x86 = get_profile("x86-2core-1t")
    models["oplevel"] = x86.predictor.estimator_
    models["full (x86-2core-1t, op-level)"] = x86
    models["full (pixel2, additive)"] = get_profile("pixel2")
    few = pd.DataFrame({"model": y.index[:20], "latency_ms": y.to_numpy()[:20], "board": "pixel2"})
    few.to_csv(tmp / "few.csv", index=False)
    (tmp / "board.json").write_text('{"board": "pixel2"}')  # its own profile is not a source
    models["full+prior (13 boards)"], _ = fit_profile(tmp / "few.csv")  # adapts the default
    return models


def timed(fn, repeats: int, setup=None) -> float:
    times = []
    for _ in range(repeats):
        args = setup() if setup else ()
        t = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", type=int, default=200, help="real networks featurised")
    parser.add_argument("--candidates", type=int, default=10000, help="at least this many")
    parser.add_argument("--perturbed", type=int, default=1000, help="perturbed candidates")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cache", help="feature cache folder (default: the usual one)")
    args = parser.parse_args()
    if args.cache:
        os.environ["COSTMODEL_CACHE"] = args.cache
    import sklearn
    import torch

    from costmodel.predict.features import featurize

    warnings.simplefilter("ignore")
    real = real_models(args.models)
    specs = list(real.index)
    t = time.perf_counter()
    feats = {v: featurize(specs, prune_dead=v[0], runtime=v[1], errors="skip") for v in VARIANTS}
    ok = [s for s in specs if all(s in f.X.index for f in feats.values())]
    featurising = time.perf_counter() - t
    X = {v: f.with_node_batch(ok) for v, f in feats.items()}
    copies = -(-args.candidates // len(ok))
    n = copies * len(ok)
    tmp = Path(tempfile.mkdtemp())
    models = fit_predictors(X[VARIANTS[0]], real.loc[ok, "latency_ms"], tmp)
    nodes = len(X[VARIANTS[0]].iloc[0]["node_batch"].table) * copies
    print(
        f"{len(ok)} NB201 networks, featurize() in {len(VARIANTS)} variants {featurising:.0f} s "
        f"(not timed), tiled x{copies} to {n:,} candidates ({nodes:,} nodes each variant); "
        f"median of {args.repeats}; {platform.machine()}, {os.cpu_count()} cores, torch "
        f"{torch.__version__}, scikit-learn {sklearn.__version__}, load {os.getloadavg()[0]:.2f}"
    )
    rows = []
    small = -(-args.perturbed // len(ok))
    for mode, k in (("tiled", copies), ("perturbed", small)):
        cands = {v: tile(x, k, perturb=mode == "perturbed") for v, x in X.items()}
        for name, model in models.items():
            rows.append(measure(model, cands, args.repeats, warm=mode == "tiled"))
            rows[-1].update(candidates=mode, predictor=name)
            r = rows[-1]
            print(f"  {mode:9s} {r['n']:>6,} {name:31s} {r['cold_per_s']:>10,.0f}/s cold "
                  f"{r['warm_per_s']:>10,.0f}/s warm")  # fmt: skip
    table = pd.DataFrame(rows)
    goal = table["cold_per_s"] >= 10000
    print(f"goal >= 10,000/s (cold): met by {goal.sum()} of {len(table)}")
    if not goal.all():
        missed = table.loc[~goal, ["candidates", "predictor"]].agg(" ".join, axis=1)
        print("  not met:", ", ".join(missed))
    print(f"load average after: {os.getloadavg()[0]:.2f}")


def measure(model, cands: dict, repeats: int, warm: bool) -> dict:
    """Candidates per second of predict_table, cold (fresh node batches) and warm."""
    import costmodel

    def run(x, variants):
        costmodel.predict_table(model, x, features_for=variants)

    def setup():
        return fresh(cands[VARIANTS[0]]), {v: fresh(x) for v, x in cands.items()}

    n = len(cands[VARIANTS[0]])
    cold = timed(run, repeats, setup)
    warm_s = float("nan")
    if warm:
        again = setup()
        run(*again)
        warm_s = timed(lambda: run(*again), repeats)
    return {"n": n, "cold_per_s": n / cold, "warm_per_s": n / warm_s, "cold_s": cold}


if __name__ == "__main__":
    main()
