"""The measurement protocol: warm-up, interleaved rounds of timed runs, median and spread,
re-take of unstable measurements, then a flag.

Models are measured in small groups. Every model of a group is warmed up, then the group is
visited ``rounds`` times in a rotating order, each visit timing ``runs_per_round`` forward passes
of one model, so slow drift of the machine (thermal state, other load) spreads over all models
of the group instead of biasing one. Each finished round is reported through ``on_round`` (the
harness appends those samples to disk, so an interruption loses at most one round).
A model whose relative spread (IQR / median) exceeds ``max_spread`` is re-taken with fresh
rounds; if it is still above, it is kept but flagged.

The clock is injected, so the logic is tested with fake clocks and no real timing.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Protocol:
    """Measurement settings (stored untouched; see the module docstring for what they mean)."""

    warmup: int = 5
    rounds: int = 6
    runs_per_round: int = 5
    max_spread: float = 0.10
    retakes: int = 1
    group_size: int = 6


DEFAULT_PROTOCOL = Protocol()


@dataclass
class Subject:
    """One thing to time: ``run()`` executes one forward pass; ``samples`` holds latencies (s)
    already taken (e.g. recovered from an interrupted run)."""

    key: str
    run: Callable[[], object]
    samples: list[float] = field(default_factory=list)
    # number of the next round reported to ``on_round`` (default: the rounds ``samples`` hold);
    # a re-take continues the numbering, so no two rounds of one subject share a number
    next_round: int | None = None


@dataclass(frozen=True)
class Stats:
    """Median, IQR and coefficient of variation of a list of latencies, in seconds."""

    median: float
    iqr: float
    cv: float
    n: int

    @property
    def spread(self) -> float:
        return self.iqr / self.median if self.median > 0 else float("inf")


def stats(samples: Sequence[float]) -> Stats:
    """Median, interquartile range and coefficient of variation (std / mean)."""
    xs = sorted(samples)
    n = len(xs)
    if n == 0:
        raise ValueError("no samples")
    q = statistics.quantiles(xs, n=4, method="inclusive") if n > 1 else [xs[0]] * 3
    mean = statistics.fmean(xs)
    cv = statistics.pstdev(xs) / mean if mean > 0 and n > 1 else 0.0
    return Stats(median=statistics.median(xs), iqr=q[2] - q[0], cv=cv, n=n)


def _rounds(
    subjects: list[Subject],
    protocol: Protocol,
    clock: Callable[[], float],
    on_round: Callable[[Subject, int, list[float]], None],
    targets: dict[str, int],
) -> None:
    """Interleaved timed rounds until each subject holds ``targets[key]`` rounds of samples."""
    per = protocol.runs_per_round
    done = {s.key: len(s.samples) // per for s in subjects}
    for s in subjects:
        if s.next_round is None:
            s.next_round = done[s.key]
    r = 0
    while any(done[s.key] < targets[s.key] for s in subjects):
        order = subjects[r % len(subjects) :] + subjects[: r % len(subjects)]  # rotate
        for s in order:
            if done[s.key] >= targets[s.key]:
                continue
            taken = []
            for _ in range(per):
                t0 = clock()
                s.run()
                taken.append(clock() - t0)
            s.samples.extend(taken)
            on_round(s, s.next_round, taken)
            s.next_round += 1
            done[s.key] += 1
        r += 1


def measure_group(
    subjects: list[Subject],
    protocol: Protocol = DEFAULT_PROTOCOL,
    clock: Callable[[], float] = time.perf_counter,
    on_round: Callable[[Subject, int, list[float]], None] = lambda s, r, xs: None,
) -> dict[str, tuple[Stats, bool]]:
    """Measure a group of subjects; return key -> (stats, flagged)."""
    for s in subjects:
        if len(s.samples) < protocol.rounds * protocol.runs_per_round:
            for _ in range(protocol.warmup):
                s.run()
    _rounds(subjects, protocol, clock, on_round, {s.key: protocol.rounds for s in subjects})
    results = {s.key: stats(s.samples) for s in subjects}
    for _ in range(protocol.retakes):
        unstable = [s for s in subjects if results[s.key].spread > protocol.max_spread]
        if not unstable:
            break
        for s in unstable:
            s.samples = []  # a re-take replaces the unstable samples
            for _ in range(protocol.warmup):
                s.run()
        _rounds(unstable, protocol, clock, on_round, {s.key: protocol.rounds for s in unstable})
        for s in unstable:
            results[s.key] = stats(s.samples)
    return {k: (v, v.spread > protocol.max_spread) for k, v in results.items()}
