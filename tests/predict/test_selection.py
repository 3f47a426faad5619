"""Cross-validated model selection: nested candidates, the ridge-to-prior path, no peeking."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, RegressorMixin

from costmodel.predict.estimators import AdditivePredictor, MacPredictor
from costmodel.predict.evaluate import k_shot
from costmodel.predict.selection import Candidate, fit_nnls_ridge, folds, nested_candidates, select

rng = np.random.default_rng(1)


def table(n):
    """Feature rows where the truth needs more than MACs: a launch cost per element-wise op."""
    X = pd.DataFrame(
        {
            "macs": rng.uniform(1e6, 300e6, n),
            "elementwise_ops": rng.integers(5, 200, n).astype(float),
            "conv_dense_ops": rng.integers(5, 60, n).astype(float),
            "module_calls": rng.integers(20, 300, n).astype(float),
        },
        index=[f"m{i}" for i in range(n)],
    )
    truth = 0.01 * X["macs"] / 1e6 + 0.05 * X["elementwise_ops"] + 0.3
    return X, truth * (1 + 0.02 * rng.standard_normal(n))


def test_infinite_penalty_is_the_base_and_coefficients_are_non_negative():
    A = np.column_stack([rng.uniform(1, 10, 30), np.ones(30), rng.uniform(0, 5, 30)])
    y = 2 * A[:, 0] + 1 + 0.5 * A[:, 2]
    base_only = fit_nnls_ridge(A, y, (0, 1), (2,), np.inf)
    assert base_only[2] == 0 and (base_only >= 0).all()
    rich = fit_nnls_ridge(A, y, (0, 1), (2,), 1e-6)
    assert rich == pytest.approx([2, 1, 0.5], rel=1e-3)
    neg = fit_nnls_ridge(A, 50 - A[:, 0], (0, 1), (2,), 1e-6)
    assert (neg >= 0).all()


def test_folds_group_by_family_and_fall_back_to_loo():
    assert [list(t) for t in folds(4)] == [[0], [1], [2], [3]]
    groups = ["a", "a", "b", "b", "c", "c", "d"]
    for test in folds(7, groups):
        assert len({groups[i] for i in test}) >= 1
        held = {groups[i] for i in test}
        assert all(groups[i] not in held for i in set(range(7)) - set(test))


def test_more_data_buys_more_terms():
    X, y = table(200)
    large = AdditivePredictor().fit(X, y)
    assert "elementwise_ops" in large.coefficients_
    assert large.coefficients_["elementwise_ops"][0] == pytest.approx(0.05, rel=0.15)
    assert MacPredictor().fit(X, y).score(X, y) < large.score(X, y)


def test_selection_never_peeks_at_held_out_models():
    """A planted leak: held-out models whose latency follows a term the calibration rows do not
    support. The fit (and its choice) must be the same whatever the held-out models say."""
    X, y = table(60)
    cal = X.index[:12]
    est = AdditivePredictor().fit(X.loc[cal], y.loc[cal])
    leaked = y.copy()
    leaked.loc[X.index[12:]] = 100 * X.loc[X.index[12:], "module_calls"]  # planted pattern
    again = AdditivePredictor().fit(X.loc[cal], leaked.loc[cal])
    assert again.chosen_ == est.chosen_ and np.allclose(again.coef_, est.coef_)

    seen: list[set] = []

    class Spy(AdditivePredictor):
        def fit(self, X, y):
            seen.append(set(X.index))
            return super().fit(X, y)

    table_ = k_shot({"spy": Spy()}, X, leaked, ks=(8,), draws=3, seed=0)
    assert len(seen) == 3 and all(len(s) == 8 for s in seen) and len(table_) == 1


class Curve(RegressorMixin, BaseEstimator):
    """A fitted stand-in for another board's predictor, nonlinear in every feature."""

    def fit(self, X, y):
        self.fitted_ = True
        return self

    def predict(self, X):
        return 0.01 * X["macs"].to_numpy() / 1e6 + 0.4 * np.sqrt(X["elementwise_ops"].to_numpy())


def test_prior_shrinkage_reduces_to_the_prior_at_tiny_k_and_to_the_plain_fit_at_large_k():
    X, y = table(400)
    # The prior board: costs no term set here can express (so a fit on MACs and launches cannot
    # tie it on 4 rows by rounding); this board is 2x slower.
    src = Curve().fit(X, y)
    cal = X.iloc[:4]
    tiny = AdditivePredictor(prior=src).fit(cal, 2 * src.predict(cal))
    assert tiny.chosen_["base"].startswith("prior") and tiny.chosen_["terms"] == ["prior:prior"]
    assert np.allclose(tiny.predict(X), 2 * src.predict(X), rtol=1e-6)
    with_prior = AdditivePredictor(prior=src).fit(X, y)
    plain = AdditivePredictor().fit(X, y)
    assert np.abs(with_prior.predict(X) / plain.predict(X) - 1).max() < 0.05


def test_select_takes_the_simplest_candidate_within_the_rule():
    A = np.column_stack([rng.uniform(1, 10, 20), np.ones(20), rng.uniform(0, 5, 20)])
    y = 2 * A[:, 0] + 1  # the extra column explains nothing
    cands = nested_candidates("mac", (0, 1), [(2,)])
    chosen, errors = select(A, y, cands)
    assert chosen.rank == 0 and isinstance(chosen, Candidate) and set(errors) == {"mac"}
