"""The MAC-only guard: the full predictor falls back to MAC-only unless cross-validation inside
the calibration set shows it better, judged per family, never by looking at held-out models."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, RegressorMixin, clone

from costmodel.predict.estimators import FullPredictor, GeometricBlend, MacPredictor
from costmodel.predict.guard import (
    choose_against_mac,
    compare_with_mac,
    held_out_errors,
    mac_only_note,
)
from costmodel.predict.selection import folds

rng = np.random.default_rng(3)


def rows(n, launch_cost):
    """Features where latency is MACs plus ``launch_cost`` ms per element-wise op."""
    X = pd.DataFrame(
        {
            "macs": rng.uniform(1e6, 300e6, n),
            "elementwise_ops": rng.integers(5, 200, n).astype(float),
            "module_calls": rng.integers(20, 300, n).astype(float),
            "copy_bytes": rng.uniform(0, 5e6, n),
        },
        index=[f"m{i}" for i in range(n)],
    )
    y = 0.01 * X["macs"] / 1e6 + launch_cost * X["elementwise_ops"] + 0.3
    return X, y * (1 + 0.03 * rng.standard_normal(n))


class Fixed(RegressorMixin, BaseEstimator):
    """Predicts a fixed column of X (to plant known held-out errors)."""

    def __init__(self, column: str = "a") -> None:
        self.column = column

    def fit(self, X, y):
        self.fitted_ = True
        return self

    def predict(self, X):
        return X[self.column].to_numpy(float)


def test_full_keeps_its_terms_when_the_data_support_them():
    X, y = rows(120, 0.05)
    est = FullPredictor().fit(X, y)
    assert est.kind_ == "AdditivePredictor" and est.guard_["kept"]
    assert est.guard_["cv_full"] < est.guard_["cv_mac"]
    assert est.score(X, y) > MacPredictor().fit(X, y).score(X, y)


def test_full_is_mac_only_when_the_data_are():
    X, y = rows(40, 0.0)
    est = FullPredictor().fit(X, y)
    mac = MacPredictor().fit(X, y)
    assert est.kind_ == "MacPredictor" and not est.guard_["kept"]
    assert np.allclose(est.predict(X), mac.predict(X))
    assert np.allclose(est.breakdown(X).sum(axis=1), est.predict(X))
    unguarded = FullPredictor(guard=False).fit(X, y)
    assert unguarded.guard_ is None and unguarded.kind_ == "AdditivePredictor"


def test_families_count_once_however_often_measured():
    """Better by far on one family measured 30 times, worse on nine measured twice: per row the
    full fit wins, per family (an architecture never measured is a new family) it loses. With
    fewer than ten families the rows are the units."""
    fam = ["big"] * 30 + [f"f{i}" for i in range(9) for _ in range(2)]
    y = np.ones(len(fam))
    X = pd.DataFrame(
        {
            "a": [1.0] * 30 + [1.6] * 18,  # the "full" fit: exact on big, 60% off elsewhere
            "b": [1.3] * 48,  # the "MAC-only" fit: 30% off everywhere
        },
        index=[f"m{i}" for i in range(len(fam))],
    )
    per_family = compare_with_mac(Fixed("a"), Fixed("b"), X, y, fam, margin=0.0)
    assert not per_family.kept
    assert per_family.cv_full == pytest.approx(0.54) and per_family.cv_mac == pytest.approx(0.3)
    per_row = compare_with_mac(Fixed("a"), Fixed("b"), X, y, None, margin=0.0)
    assert per_row.kept and per_row.cv_full == pytest.approx(0.225)
    few = [f if f == "big" else f[:2] for f in fam[:34]]  # big, f0, f1: three families
    assert compare_with_mac(Fixed("a"), Fixed("b"), X.iloc[:34], y[:34], few, 0.0).kept


def test_the_candidate_with_the_lowest_held_out_error_is_checked():
    """Three candidates on the same folds: the lowest is chosen and paired with MAC-only; each
    one's error is reported; one that cannot be fitted on some fold is judged on the others."""
    n = 6
    y = np.ones(n)
    X = pd.DataFrame({"b": 1.3, "good": 1.1, "worse": 1.2, "bad": 2.0}, index=range(n))

    class Picky(Fixed):
        def fit(self, X, y):
            if 0 not in X.index:  # fails on the fold that holds row 0 out
                raise ValueError("too few rows")
            return super().fit(X, y)

    cands = [Fixed("worse"), Fixed("good"), Fixed("bad")]
    best, report = choose_against_mac(cands, Fixed("b"), X, y)
    assert best == 1 and report.kept and report.cv_full == pytest.approx(0.1)
    assert report.candidates == {
        "Fixed #0": pytest.approx(0.2),
        "Fixed #1": pytest.approx(0.1),
        "Fixed #2": pytest.approx(1.0),
    }
    best, report = choose_against_mac([Picky("good"), Fixed("worse")], Fixed("b"), X, y)
    assert best == 0 and report.rows == n - 1  # judged on the rows its fits could predict
    assert report.candidates == {"Picky": pytest.approx(0.1), "Fixed": pytest.approx(0.2)}
    _, none = choose_against_mac([Fixed("bad")], Fixed("b"), X, y)
    assert not none.kept and none.cv_full == pytest.approx(1.0)


def test_a_candidate_whose_fit_is_mac_only_itself_is_passed_over():
    """``usable`` is asked in order of held-out error: a refused candidate (its fit on all rows
    is the baseline, its error earned by fold fits) gives way to the next one that beats MAC."""
    y = np.ones(6)
    X = pd.DataFrame({"b": 1.3, "good": 1.1, "worse": 1.2, "bad": 2.0}, index=range(6))
    cands = [Fixed("bad"), Fixed("good"), Fixed("worse")]
    asked = []

    def usable(i):
        asked.append(i)
        return i != 1

    best, report = choose_against_mac(cands, Fixed("b"), X, y, usable=usable)
    assert best == 2 and report.kept and report.cv_full == pytest.approx(0.2)
    assert asked == [1, 2] and report.passed_over == ["Fixed #1"]
    _, none = choose_against_mac(cands, Fixed("b"), X, y, usable=lambda i: False)
    assert not none.kept and none.passed_over == ["Fixed #1", "Fixed #2"]  # "bad" loses to MAC
    assert "Fixed #1, Fixed #2" in mac_only_note(none.as_dict())


class Counted(Fixed):
    """A fixed column, counting its fits."""

    fits = 0

    def fit(self, X, y):
        type(self).fits += 1
        return super().fit(X, y)


def test_a_blend_is_judged_on_its_parts_held_out_predictions():
    """A blend's held-out error is that of its parts' held-out predictions combined (what
    refitting it on every fold gives), and the parts are fitted once per fold, not again."""
    n = 8
    y = np.ones(n)
    X = pd.DataFrame({"b": 1.3, "hi": 1.25, "lo": 0.8}, index=range(n))
    hi, lo = Counted("hi"), Counted("lo")
    blend = GeometricBlend((hi, lo), 0.5)
    Counted.fits = 0
    best, report = choose_against_mac([hi, lo, blend], Fixed("b"), X, y)
    assert best == 2 and report.cv_full == pytest.approx(0.0)  # sqrt(1.25 * 0.8) = 1
    assert report.candidate == "Counted^0.5 * Counted"
    assert Counted.fits == 2 * len(folds(n))
    refitted = held_out_errors(blend, X, y, folds(n))
    assert np.allclose(refitted, 0.0)


def test_held_out_errors_come_from_fits_that_never_saw_the_row():
    X, y = rows(20, 0.05)
    seen: list[set] = []

    class Spy(MacPredictor):
        def fit(self, X, y):
            seen.append(set(X.index))
            return super().fit(X, y)

    test_sets = folds(len(y))
    err = held_out_errors(Spy(), X, y.to_numpy(), test_sets)
    assert np.isfinite(err).all() and len(seen) == len(test_sets)
    for s, test in zip(seen, test_sets, strict=True):
        assert not s & set(X.index[test])


def test_the_guard_only_reads_the_calibration_rows():
    """Refitting on the same calibration rows gives the same decision whatever other models say."""
    X, y = rows(80, 0.05)
    cal = X.index[:25]
    first = FullPredictor().fit(X.loc[cal], y.loc[cal])
    poisoned = y.copy()
    poisoned.loc[X.index[25:]] = 1e3
    again = FullPredictor().fit(X.loc[cal], poisoned.loc[cal])
    assert first.guard_ == again.guard_
    assert np.allclose(first.predict(X), again.predict(X))


def test_a_clone_keeps_the_guard_settings():
    est = FullPredictor(margin=0.5, guard=False)
    assert clone(est).get_params() == est.get_params()
