"""The measurement protocol on fake clocks: no real timing anywhere."""

import pytest

from costmodel.bench.protocol import Protocol, Subject, measure_group, stats


class FakeClock:
    """Time advances only when a fake model runs: by that model's next latency."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def fake_subject(clock, key, latencies, log):
    seq = iter(latencies)

    def run():
        log.append(key)
        clock.now += next(seq)

    return Subject(key, run)


def test_stats():
    s = stats([1.0, 2.0, 3.0, 4.0, 100.0])
    assert s.median == 3.0 and s.n == 5
    assert s.iqr == pytest.approx(2.0)  # inclusive quartiles 2 and 4
    assert s.cv > 1.0  # the outlier shows in the CV, not in median or IQR
    assert stats([2.0]).iqr == 0 and stats([2.0]).cv == 0


def test_medians_warmup_and_interleaving():
    clock, log = FakeClock(), []
    p = Protocol(warmup=2, rounds=3, runs_per_round=2, max_spread=0.5)
    a = fake_subject(clock, "a", [9.0] * 2 + [0.010] * 100, log)  # slow warm-up, then 10 ms
    b = fake_subject(clock, "b", [9.0] * 2 + [0.020] * 100, log)
    rounds = []
    out = measure_group([a, b], p, clock, lambda s, r, xs: rounds.append((s.key, r, len(xs))))
    assert out["a"][0].median == pytest.approx(0.010) and not out["a"][1]
    assert out["b"][0].median == pytest.approx(0.020)
    assert out["a"][0].n == 6  # warm-up runs are not kept
    assert log[:4] == ["a", "a", "b", "b"]  # warm-up
    # rounds rotate: a b | b a | a b, each visit two runs
    assert log[4:] == ["a", "a", "b", "b", "b", "b", "a", "a", "a", "a", "b", "b"]
    assert rounds == [("a", 0, 2), ("b", 0, 2), ("b", 1, 2), ("a", 1, 2), ("a", 2, 2), ("b", 2, 2)]


def test_unstable_measurement_is_retaken_then_flagged():
    clock, log = FakeClock(), []
    p = Protocol(warmup=0, rounds=2, runs_per_round=2, max_spread=0.10, retakes=1)
    noisy = fake_subject(clock, "noisy", [0.01, 0.03] * 50, log)
    settles = fake_subject(clock, "settles", [0.01, 0.03] * 2 + [0.02] * 50, log)
    out = measure_group([noisy, settles], p, clock)
    assert out["noisy"][1] is True  # still unstable after the re-take: flagged
    assert out["settles"][1] is False and out["settles"][0].median == pytest.approx(0.02)
    assert out["settles"][0].n == 4  # the re-take replaced the unstable samples
    assert log.count("noisy") == 8 and log.count("settles") == 8


def test_prior_samples_resume_without_remeasuring():
    clock, log = FakeClock(), []
    p = Protocol(warmup=3, rounds=3, runs_per_round=2)
    s = fake_subject(clock, "a", [0.01] * 100, log)
    s.samples = [0.01] * 4  # two rounds recovered from an interrupted run
    out = measure_group([s], p, clock)
    assert out["a"][0].n == 6
    assert log.count("a") == 3 + 2  # warm-up (the group is incomplete) plus the missing round
    done = fake_subject(clock, "b", [0.01] * 100, log)
    done.samples = [0.01] * 6
    measure_group([done], p, clock)
    assert log.count("b") == 0  # complete: neither warmed up nor run
