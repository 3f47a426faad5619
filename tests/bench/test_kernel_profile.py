"""Kernel times from a runtime profiler's per-run readings (costmodel.bench.kernel_profile)."""

from __future__ import annotations

import pytest

from costmodel.bench.kernel_profile import tick_median


def test_a_median_rounded_by_the_clock_is_replaced_by_a_trimmed_mean():
    # a 0.4 us kernel on a 1 us clock reads 0 or 1; its median would be 0
    snapped = [0.0] * 6 + [1.0] * 4
    assert tick_median(snapped, 1.0) == pytest.approx(0.375)  # one 0 and one 1 trimmed
    # a pre-empted run does not move it
    assert tick_median([0.0] * 6 + [1.0] * 3 + [50.0], 1.0) == pytest.approx(0.375)


def test_the_median_stands_where_the_clock_does_not_round_it():
    assert tick_median([12.0, 13.0, 11.0, 500.0], 1.0) == pytest.approx(12.5)  # many ticks
    assert tick_median([2.1, 2.3, 9.9], 1.0) == pytest.approx(2.3)  # a finer clock
