"""Fit the shipped profile of every board with data in calibration/ (calibration/profiles/).

    .venv/bin/python scripts/build_profiles.py [--sample 2000] [--jobs 2]

x86 boards: the full predictor on all their timings (op-level, with their per-op timings).
NAS-Bench-201 devices: the full predictor on a seeded sample of the 15,625 networks (the same
networks for every device; the TFLite devices with the tflite lowering, as the battery does). No
profile adapts a prior: each is one board's own evidence, and together they are the default
multi-board prior (costmodel.predict.profiles.default_prior).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from battery import DEVICES, timings_path  # noqa: E402  (one table of devices and runtimes)

from costmodel.predict.workflow import fit_profile  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sample", type=int, default=2000)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "calibration" / "profiles")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    warnings.simplefilter("ignore")
    tmp = Path(tempfile.mkdtemp(prefix="profiles-"))
    jobs = [(f.name, f / "timings.csv", None, None)
            for f in sorted((ROOT / "calibration" / "boards").iterdir())
            if (f / "timings.csv").exists()]  # fmt: skip
    jobs += [(d, timings_path(d, args.sample, tmp), d, rt) for d, rt in DEVICES.items()]
    for name, path, board, runtime in jobs:
        profile, data = fit_profile(
            path, board=board, runtime=runtime, n_jobs=args.jobs, use_default_prior=False
        )
        saved = profile.save(args.out / f"{name}.profile.json")
        print(f"{name}: {len(data.X)} models, {profile.describe()['estimator']}, runtime "
              f"{profile.runtime} -> {saved}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
