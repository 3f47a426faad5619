"""Runtimes: prediction accuracy on boards measured with ExecuTorch / ONNX Runtime, and the
effect of lowering (the graph the runtime executes) on imported TFLite timings.

Sections (each can be run alone with --only):
  boards  leave-one-family-out and k-shot on calibration/boards/x86-2core-1t-{executorch,
          onnxruntime}, counting the board runtime's lowering (and eager counts, for contrast);
          k-shot also adapts the shipped eager board's full predictor (full+prior)
  nb201   NAS-Bench-201 raspi4 / pixel3 (TFLite), k = 20, 20 draws, a seeded sample of --sample
          networks: no lowering, --prune-dead, and --runtime tflite

    .venv/bin/python benchmarks/runtimes.py --jobs 2 --out benchmarks/results
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
from predict_accuracy import BOARDS, COLUMNS, k20_rows, sampled, show

from costmodel.predict.workflow import compare_predictors, fit_profile, load_training

RUNTIME_BOARDS = {
    "x86-2core-1t-executorch": "executorch",
    "x86-2core-1t-onnxruntime": "onnxruntime",
}
LOWERINGS = {"none": ("eager", False), "prune_dead": ("eager", True), "tflite": ("tflite", False)}


def boards(out: Path, jobs: int, draws: int) -> None:
    # the shipped prior: the full predictor of the eager board (x86-2core-1t, oneDNN on)
    prior, _ = fit_profile(BOARDS / "x86-2core-1t" / "timings.csv", predictor="full", n_jobs=jobs)
    for board, runtime in RUNTIME_BOARDS.items():
        path = BOARDS / board / "timings.csv"
        if not path.exists():
            print(f"\n{board}: not measured")
            continue
        for lowering in (runtime, "eager"):
            data = load_training(path, runtime=lowering, n_jobs=jobs)
            title = (
                f"{board}: {len(data.X)} models, {data.families.nunique()} families, "
                f"features of the {lowering} graph"
            )
            scores, preds = compare_predictors(data, protocol="lofo")
            scores = scores[[c for c in COLUMNS if c in scores]]
            show(f"leave-one-family-out, {title}", scores)
            scores.to_csv(out / f"lofo_{board}_{lowering}.csv")
            preds.to_csv(out / f"lofo_{board}_{lowering}_predictions.csv")
            kshot, _ = compare_predictors(
                data, protocol="kshot", ks=(5, 10, 20, 50), draws=draws, prior=prior
            )
            kshot = kshot.set_index(["k", "predictor"])[[c for c in COLUMNS if c in kshot]]
            show(f"k-shot (median of {draws} draws), {title}", kshot)
            kshot.to_csv(out / f"kshot_{board}_{lowering}.csv")


def nb201(out: Path, jobs: int, draws: int, sample: int) -> None:
    rows = []
    for device, path in sampled(("raspi4", "pixel3"), sample):
        for lowering, (runtime, prune) in LOWERINGS.items():
            data = load_training(path, runtime=runtime, prune_dead=prune, n_jobs=jobs)
            rows += k20_rows(data, draws, device=device, lowering=lowering)
    table = pd.DataFrame(rows)
    show(
        f"NAS-Bench-201 TFLite devices, k = 20, median of {draws} draws, {sample} networks",
        table.set_index(["device", "lowering", "predictor"]),
    )
    table.to_csv(out / "nb201_k20_lowering.csv", index=False)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", choices=["boards", "nb201"], action="append")
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--draws", type=int, default=20)
    p.add_argument("--sample", type=int, default=2000)
    p.add_argument("--out", default="benchmarks/results")
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    only = set(args.only or ["boards", "nb201"])
    if "boards" in only:
        boards(out, args.jobs, args.draws)
    if "nb201" in only:
        nb201(out, args.jobs, args.draws, args.sample)


if __name__ == "__main__":
    main()
