"""How long a cached featurising rerun takes: N NAS-Bench-201 specs, cold then from the cache.

    python benchmarks/cache_speed.py --n 200

Uses a temporary cache folder (never the user's). Prints the cold and cached times and the
cached time extrapolated to all 15,625 NAS-Bench-201 networks.
"""

import argparse
import itertools
import os
import tempfile
import time

OPS = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]


def nb201_specs(n: int) -> list[str]:
    archs = itertools.product(OPS, repeat=6)
    return [
        f"nb201:|{e[0]}~0|+|{e[1]}~0|{e[2]}~1|+|{e[3]}~0|{e[4]}~1|{e[5]}~2|"
        for e in itertools.islice(archs, n)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=200)
    args = parser.parse_args()
    os.environ["COSTMODEL_CACHE"] = tempfile.mkdtemp()
    from costmodel.predict.features import featurize

    specs = nb201_specs(args.n)
    t = time.perf_counter()
    featurize(specs)
    cold = time.perf_counter() - t
    t = time.perf_counter()
    featurize(specs)
    warm = time.perf_counter() - t
    print(
        f"{args.n} specs: cold {cold:.1f} s, cached {warm:.2f} s "
        f"({warm / args.n * 1e3:.2f} ms each; {warm / args.n * 15625:.1f} s for 15,625)"
    )


if __name__ == "__main__":
    main()
