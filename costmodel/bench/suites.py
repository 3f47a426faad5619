"""Named measurement suites: lists of model specs for `costmodel calibrate --suite NAME`."""

from __future__ import annotations

import random

from costmodel.zoo.catalog import catalog, zoo_specs
from costmodel.zoo.nb201 import OPS as NB201_OPS


def nb201_sample(n: int, seed: int = 0) -> list[str]:
    """``n`` distinct NAS-Bench-201 cells drawn with a seeded generator."""
    rng = random.Random(seed)
    seen: dict[str, None] = {}
    while len(seen) < n:
        e = [rng.choice(NB201_OPS) for _ in range(6)]
        seen[f"nb201:|{e[0]}~0|+|{e[1]}~0|{e[2]}~1|+|{e[3]}~0|{e[4]}~1|{e[5]}~2|"] = None
    return list(seen)


def random_sample(n: int, start: int = 0, attention: bool = False) -> list[str]:
    """Random networks by seed; ``attention`` adds transformer blocks to the mix."""
    extra = "attention=true&" if attention else ""
    return [f"random:{extra}seed={s}" for s in range(start, start + n)]


def _smallest_per_family() -> list[str]:
    """The first-listed variant of each family whose spec sets a width or size below 1."""
    table = catalog()
    picks = []
    for _, group in table.groupby("family", sort=False):
        small = [s for s in group["spec"] if "width=0." in s or "mode=small" in s]
        picks.append(small[0] if small else group["spec"].iloc[0])
    return picks


def suite(name: str) -> list[str]:
    """The specs of a named suite: quick, study, zoo, nb201, default."""
    if name == "quick":  # a first look and CI: one small model per family plus a few cells
        return (
            _smallest_per_family()
            + nb201_sample(4, seed=1)
            + random_sample(4)
            + random_sample(2, attention=True)
        )
    if name == "study":
        return zoo_specs(study_only=True)
    if name == "zoo":
        return zoo_specs()
    if name == "nb201":
        return nb201_sample(200)
    if name == "default":
        return (
            zoo_specs() + nb201_sample(200) + random_sample(100) + random_sample(50, attention=True)
        )
    raise KeyError(f"unknown suite {name!r}; use one of {', '.join(SUITES)}")


SUITES = ("quick", "study", "zoo", "nb201", "default")
