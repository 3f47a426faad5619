"""Non-negative ridge fits whose complexity is chosen by cross-validation on the calibration set.

Every whole-model linear predictor is one of these fits. The calibration rows are fitted on
*relative* error (each row divided by its measured latency, the quantity MAPE scores), all
coefficients are non-negative (every op costs time, and positive costs extrapolate sanely to
architectures never measured), and terms beyond a family's *base* columns are shrunk toward zero
by a ridge penalty on columns scaled to unit RMS. With the penalty infinite a fit is exactly its
base: MAC-only (``a * MACs + b``) or a scaled prior (``s * prior(x)``).

Which candidate (base, term set, penalty) is used is decided by cross-validation on the
calibration rows only — leave-one-out for a handful of rows, grouped K-fold by family when the
calibration set holds several families, K-fold otherwise — never by looking at held-out models.
Within a base, the simplest candidate whose held-out errors are within ``se_rule`` paired
standard errors of the best one's is taken (the rule relaxes as the rows grow past ten)
(more data buys more terms only as far as it supports them); between bases, the lower
cross-validated error wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import nnls

# Ridge strengths, times the number of rows; plus infinity (the base alone).
LAMBDAS = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)


@dataclass(frozen=True)
class Candidate:
    """One fit to try: ``base`` columns unpenalised, ``extra`` columns ridge-penalised by
    ``lam`` (per row); ``rank`` orders candidates from simplest to richest within a base."""

    family: str
    base: tuple[int, ...]
    extra: tuple[int, ...]
    lam: float
    rank: int


def fit_nnls_ridge(
    A: np.ndarray, y: np.ndarray, base: Sequence[int], extra: Sequence[int], lam: float
) -> np.ndarray:
    """Non-negative coefficients (one per column of ``A``; unused columns 0) minimising
    ``sum((A w / y - 1)^2) + lam * n * sum((s_j w_j)^2 over extra)``, with ``s_j`` the RMS of
    column j of ``A / y``."""
    n, d = A.shape
    w = np.zeros(d)
    B = A / y[:, None]
    cols = list(base) + (list(extra) if np.isfinite(lam) else [])
    scale = np.sqrt(np.mean(B[:, cols] ** 2, axis=0)) if cols else np.zeros(0)
    keep = [c for c, s in zip(cols, scale, strict=True) if s > 0]
    if not keep:
        return w
    M = B[:, keep]
    t = np.ones(n)
    pen = [i for i, c in enumerate(keep) if c not in base]
    if pen:
        s = np.sqrt(np.mean(M[:, pen] ** 2, axis=0))
        P = np.zeros((len(pen), len(keep)))
        P[np.arange(len(pen)), pen] = np.sqrt(lam * n) * s
        M = np.vstack([M, P])
        t = np.concatenate([t, np.zeros(len(pen))])
    # Columns scaled to unit RMS for a well-conditioned solve; coefficients scaled back.
    col = np.sqrt(np.mean(M[:n] ** 2, axis=0))
    coef, _ = nnls(M / col, t, maxiter=50 * M.shape[1])
    w[keep] = coef / col
    return w


def folds(n: int, groups: Sequence | None = None, max_folds: int = 5, seed: int = 0) -> list:
    """Test-index arrays: grouped K-fold when there are >= 3 groups, leave-one-out up to 12
    rows, K-fold beyond."""
    idx = np.arange(n)
    if groups is not None:
        g = np.asarray(groups)
        uniq = list(dict.fromkeys(g))
        if len(uniq) >= 3:
            k = min(max_folds, len(uniq))
            order = np.random.default_rng(seed).permutation(len(uniq))
            bucket = {uniq[u]: i % k for i, u in enumerate(order)}
            assign = np.array([bucket[v] for v in g])
            return [idx[assign == f] for f in range(k)]
    if n <= 12:
        return [np.array([i]) for i in range(n)]
    perm = np.random.default_rng(seed).permutation(n)
    return [np.sort(perm[f::max_folds]) for f in range(max_folds)]


def cv_errors(
    A: np.ndarray, y: np.ndarray, candidates: Sequence[Candidate], test_sets: list
) -> np.ndarray:
    """Held-out absolute relative error of every candidate on every row: (candidates, rows)."""
    err = np.full((len(candidates), len(y)), np.nan)
    for test in test_sets:
        train = np.setdiff1d(np.arange(len(y)), test)
        if len(train) < 2:
            continue
        for i, c in enumerate(candidates):
            w = fit_nnls_ridge(A[train], y[train], c.base, c.extra, c.lam)
            err[i, test] = np.abs(A[test] @ w / y[test] - 1.0)
    return err


def select(
    A: np.ndarray,
    y: np.ndarray,
    candidates: Sequence[Candidate],
    groups: Sequence | None = None,
    se_rule: float = 1.0,
    seed: int = 0,
) -> tuple[Candidate, dict[str, float]]:
    """The candidate cross-validation prefers (see the module docstring), and the CV error of
    each family's choice."""
    err = cv_errors(A, y, candidates, folds(len(y), groups, seed=seed))
    ok = ~np.isnan(err).any(axis=0)
    err = err[:, ok] if ok.any() else np.zeros((len(candidates), 1))
    mean = err.mean(axis=1)
    # Few rows make every held-out error estimate noisy: demand a clear win from a richer
    # candidate there; with more rows the rule relaxes toward the plain minimum.
    rule = se_rule * min(1.0, (10.0 / len(y)) ** 2)
    chosen: dict[str, int] = {}
    for fam in dict.fromkeys(c.family for c in candidates):
        members = [i for i, c in enumerate(candidates) if c.family == fam]
        best = min(members, key=lambda i: mean[i])

        diffs = err[members] - err[best]  # paired: the same held-out rows
        close = diffs.mean(axis=1) <= rule * diffs.std(axis=1) / np.sqrt(diffs.shape[1])
        chosen[fam] = min(
            (i for i, ok_ in zip(members, close, strict=True) if ok_),
            key=lambda i: candidates[i].rank,
        )
    fam_err = {f: float(min(mean[i] for i, c in enumerate(candidates) if c.family == f))
               for f in chosen}  # fmt: skip
    winner = min(chosen, key=lambda f: fam_err[f])
    return candidates[chosen[winner]], {f: float(mean[i]) for f, i in chosen.items()}


def nested_candidates(
    family: str, base: tuple[int, ...], term_sets: Sequence[tuple[int, ...]]
) -> list[Candidate]:
    """The base alone, then each (nested) term set with a decreasing penalty."""
    out = [Candidate(family, base, (), np.inf, 0)]
    rank = 1
    for extra in term_sets:
        extra = tuple(i for i in extra if i not in base)
        for lam in sorted(LAMBDAS, reverse=True):
            out.append(Candidate(family, base, extra, lam, rank))
            rank += 1
    return out
