"""Scoring definitions and the evaluation protocols."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, RegressorMixin

from costmodel.predict.evaluate import k_shot, leave_one_family_out, score


def test_score_definitions():
    s = score([10, 20, 40, 80], [11, 20, 30, 84])
    assert s["MAPE"] == pytest.approx(100 * (0.1 + 0 + 0.25 + 0.05) / 4)
    assert s["acc10"] == pytest.approx(0.75) and s["acc5"] == pytest.approx(0.5)
    assert s["RMSE_ms"] == pytest.approx(np.sqrt((1 + 0 + 100 + 16) / 4))
    assert s["spearman"] == pytest.approx(1.0) and s["n"] == 4  # the ranking is right
    assert score([1, 2, 3, 4], [4, 3, 2, 1])["spearman"] == pytest.approx(-1.0)


class Spy(RegressorMixin, BaseEstimator):
    """Predicts the mean of its training targets and remembers what it was trained on."""

    seen: list = []

    def fit(self, X, y):
        Spy.seen.append(set(X.index))
        self.mean_ = float(np.mean(y))
        return self

    def predict(self, X):
        return np.full(len(X), self.mean_)


def test_leave_one_family_out_never_trains_on_the_held_out_family():
    X = pd.DataFrame({"macs": np.arange(9.0)}, index=[f"m{i}" for i in range(9)])
    y = pd.Series(np.arange(1.0, 10.0), index=X.index)
    fams = pd.Series(["a"] * 3 + ["b"] * 3 + ["c"] * 3, index=X.index)
    Spy.seen = []
    scores, preds = leave_one_family_out({"spy": Spy(), "mac": Spy()}, X, y, fams)
    for trained in Spy.seen:
        held = set(X.index) - trained
        assert len({fams[m] for m in held}) == 1  # exactly one family held out
    assert preds.loc["m0", "spy"] == pytest.approx(np.mean(range(4, 10)))
    assert scores.loc["spy", "n"] == 9 and "MAPE_ratio_to_mac" in scores


def test_k_shot_is_seeded_and_holds_out_the_rest():
    X = pd.DataFrame({"macs": np.arange(30.0)}, index=[f"m{i}" for i in range(30)])
    y = pd.Series(np.arange(1.0, 31.0), index=X.index)
    a = k_shot({"mac": Spy()}, X, y, ks=(5, 10), draws=4, seed=1)
    b = k_shot({"mac": Spy()}, X, y, ks=(5, 10), draws=4, seed=1)
    pd.testing.assert_frame_equal(a, b)
    assert list(a["k"]) == [5, 10] and (a["n"] == [25, 20]).all() and (a["draws"] == 4).all()


class Shifted(Spy):
    """The training mean plus ``shift``: a predictor worse than ``Spy`` on every draw."""

    def __init__(self, shift: float = 0.0) -> None:
        self.shift = shift

    def fit(self, X, y):
        super().fit(X, y)
        self.mean_ += self.shift
        return self


def test_k_shot_pairs_each_draw_with_mac_only():
    X = pd.DataFrame({"macs": np.arange(30.0)}, index=[f"m{i}" for i in range(30)])
    y = pd.Series(np.arange(1.0, 31.0), index=X.index)
    t = k_shot({"mac": Spy(), "same": Shifted(0.0), "worse": Shifted(1e3)}, X, y, ks=(5,), draws=6)
    t = t.set_index("predictor")
    assert t.loc["same", "MAPE_minus_mac"] == 0 and t.loc["same", "draws_worse"] == 0
    assert t.loc["worse", "draws_worse"] == 1.0
    assert t.loc["worse", "MAPE_minus_mac"] > 3000  # 1,000 ms on latencies of 1-30 ms
    assert "MAPE_minus_mac" not in k_shot({"spy": Spy()}, X, y, ks=(5,), draws=2)
