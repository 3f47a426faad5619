"""The MAC-only guard: a full-feature fit is used only where its calibration data show it beats
MAC-only.

Every full-feature prediction is reported beside the MAC-only baseline (``a * MACs + b``), and
must never be worse than it. Whether it is cannot be read off the fit itself: a fit that chose
its terms by cross-validation on the same rows carries that choice's optimism, and a node model
that saw every calibration op predicts those models well by construction. So the whole fitting
procedure is cross-validated against MAC-only inside the calibration set (nested: each training
fold refits the full predictor, its own model selection included; where several candidate
predictors compete, each is cross-validated on the same folds and the lowest is the one
checked), on the folds of
:func:`costmodel.predict.selection.folds`. Where the rows hold ten families or more, whole
families are held out, so a family unlike the others counts as it will for an architecture
never measured, and the held-out relative errors of the two are paired per family (each family
one unit, however many times it was measured); with fewer, per row, in folds of rows. The full
fit is kept only when it is lower by at least ``margin`` paired standard errors, otherwise the
predictor *is* MAC-only. Nothing outside the calibration rows is looked at.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from costmodel.predict.evaluate import _fit_predict
from costmodel.predict.selection import folds

# The fewest families for each to be one unit of evidence, and held out whole; with fewer, a
# mean over a handful of family means says little, and holding one of three out leaves
# training folds unlike the models to predict: rows are the units, in folds of rows.
MIN_FAMILY_UNITS = 10
# Folds of the guard's cross-validation. Choosing among many candidates (blends included) on five
# folds of three or four families each picked by chance more often: leave one family out,
# ExecuTorch / ONNX Runtime / x86 oneDNN on, 13.8 / 11.2 / 8.9% MAPE with 5, 13.7 / 11.0 / 8.8%
# with 10 (benchmarks/RESULTS.md, "Blends of the node model").
GUARD_FOLDS = 10


@dataclass(frozen=True)
class GuardReport:
    """What the guard saw: the chosen candidate, mean held-out relative errors (fractions) of
    it and of MAC-only on the same rows (per family with ten families or more), the paired
    standard error of their difference, the number of rows and folds, whether the full fit was
    kept, each usable candidate's held-out error, and the candidates passed over because
    their fit on all the rows was MAC-only itself."""

    candidate: str
    cv_full: float
    cv_mac: float
    paired_se: float
    rows: int
    folds: int
    kept: bool
    candidates: dict[str, float] = field(default_factory=dict)
    passed_over: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def held_out_predictions(
    estimator, X: pd.DataFrame, y: np.ndarray, test_sets: list[np.ndarray]
) -> np.ndarray:
    """The prediction of every row by a clone of ``estimator`` fitted on the rows outside its
    test set; NaN where that fit failed (too few rows for it)."""
    pred = np.full(len(y), np.nan)
    for test in test_sets:
        train = np.setdiff1d(np.arange(len(y)), test)
        try:
            pred[test] = np.asarray(
                _fit_predict(estimator, X.iloc[train], y[train], X.iloc[test]), float
            )
        except ValueError:
            continue  # e.g. a training fold too small for this predictor
    return pred


def held_out_errors(
    estimator, X: pd.DataFrame, y: np.ndarray, test_sets: list[np.ndarray]
) -> np.ndarray:
    """|prediction / measured - 1| of every row (:func:`held_out_predictions`); NaN where the
    fit failed."""
    return np.abs(held_out_predictions(estimator, X, y, test_sets) / y - 1.0)


def compare_with_mac(
    full,
    mac,
    X: pd.DataFrame,
    y,
    groups=None,
    margin: float = 0.0,
    seed: int = 0,
) -> GuardReport:
    """Cross-validate ``full`` against ``mac`` on the calibration rows (see the module docstring)
    and say whether ``full`` is better by more than ``margin`` paired standard errors."""
    return choose_against_mac([full], mac, X, y, groups, margin, seed)[1]


def choose_against_mac(
    candidates: Sequence,
    mac,
    X: pd.DataFrame,
    y,
    groups=None,
    margin: float = 0.0,
    seed: int = 0,
    usable: Callable[[int], bool] | None = None,
) -> tuple[int, GuardReport]:
    """The candidate with the lowest cross-validated error, and whether it beats ``mac``: the
    index into ``candidates`` and the guard's report on it.

    Every candidate is cross-validated on the same folds; the lowest is paired with MAC-only.
    The pick among a few strongly correlated candidates (the same terms with and without a
    prior) is not cross-validated once more: doing so made the decision noisier than the
    optimism it removes (benchmarks/RESULTS.md, "Candidates of the full predictor"). A
    candidate whose fit fails on some fold (too few rows for it) is judged on the other rows.
    A blend (a candidate with ``parts`` and ``combine``) is judged on the combination of its
    parts' held-out predictions, which is what refitting it on each fold would give.
    ``usable(i)``, when given, is asked in order of held-out error: a candidate it refuses
    (one whose fit on all the rows is MAC-only itself, so its error was earned by other fits)
    is passed over for the next.
    """
    y = np.asarray(y, float)
    if groups is not None and len(set(groups)) < MIN_FAMILY_UNITS:
        groups = None  # a few families: rows are the units, and folds of rows
    test_sets = folds(len(y), groups, max_folds=GUARD_FOLDS, seed=seed)
    e_mac = held_out_errors(mac, X, y, test_sets)
    labels = _labels(candidates)
    cache: dict[int, np.ndarray] = {}  # id(estimator) -> its held-out predictions

    def predicted(c) -> np.ndarray:
        parts = getattr(c, "parts", None)
        if parts is not None:
            return c.combine([predicted(p) for p in parts])
        if id(c) not in cache:
            cache[id(c)] = held_out_predictions(c, X, y, test_sets)
        return cache[id(c)]

    judged: dict[int, tuple[float, float, float, int]] = {}  # candidate -> cv, mac, se, rows
    for i, c in enumerate(candidates):
        e = np.abs(predicted(c) / y - 1.0)
        ok = ~(np.isnan(e) | np.isnan(e_mac))
        units = _units(ok, groups)
        if len(units) < 2:
            continue  # nothing to judge it by
        diff = np.array([e[u].mean() - e_mac[u].mean() for u in units])
        cv_mac = float(np.mean([e_mac[u].mean() for u in units]))
        se = float(diff.std(ddof=1) / np.sqrt(len(diff)))
        judged[i] = (cv_mac + float(diff.mean()), cv_mac, se, int(ok.sum()))
    if not judged:  # the baseline
        return 0, GuardReport(labels[0], np.nan, np.nan, np.nan, 0, len(test_sets), False)
    ranked = sorted(judged, key=lambda i: judged[i][0])  # stable: the first on a tie
    chosen, passed = None, []
    for i in ranked:
        cv, cv_mac, se, _ = judged[i]
        # A tie (the full fit chose MAC-only itself) keeps MAC-only; 1e-9 absorbs rounding.
        if cv - cv_mac >= -max(margin * se, 1e-9):
            break  # no better than MAC-only, nor is any candidate after it
        if usable is None or usable(i):
            chosen = i
            break
        passed.append(labels[i])
    best = ranked[0] if chosen is None else chosen
    cv, cv_mac, se, rows = judged[best]
    scores = {labels[i]: v[0] for i, v in judged.items()}
    report = GuardReport(labels[best], cv, cv_mac, se, rows, len(test_sets), chosen is not None,
                         scores, passed)  # fmt: skip
    return best, report


def _labels(candidates: Sequence) -> list[str]:
    """Each candidate's label, numbered where two would read the same."""
    labels = [_label(c) for c in candidates]
    return [f"{n} #{i}" if labels.count(n) > 1 else n for i, n in enumerate(labels)]


def _label(estimator) -> str:
    """A candidate's name in reports: its class, with a prior and a reduced term set marked; a
    blend names its parts and the first one's weight."""
    parts = getattr(estimator, "parts", None)
    if parts is not None:
        return f"{_label(parts[0])}^{estimator.weight:g} * {_label(parts[1])}"
    name = type(estimator).__name__
    if getattr(estimator, "prior", None) is not None:
        name += "+prior"
    sets = getattr(estimator, "term_sets", None)
    param = inspect.signature(type(estimator)).parameters.get("term_sets")
    if sets is not None and param is not None and sets != param.default:
        name += f"({'+'.join(sets) or 'base terms'})"
    return name


def _units(ok: np.ndarray, groups) -> list[np.ndarray]:
    """The rows each independent unit of evidence averages: one family each when families are
    given (an architecture never measured is a new family, and a family measured many times
    must not outvote the others), else one row each."""
    rows = np.flatnonzero(ok)
    if groups is None:
        return [np.array([r]) for r in rows]
    g = np.asarray(groups)[rows]
    return [rows[g == v] for v in dict.fromkeys(g)]


def mac_only_note(report: dict) -> str:
    """The profile note when the guard kept MAC-only (``report``: a :class:`GuardReport` dict)."""
    if report.get("passed_over"):
        why = (
            f"the fits that cross-validated better on these {report['rows']} timings "
            f"({', '.join(report['passed_over'])}) are MAC-only themselves when fitted on all"
        )
    elif np.isfinite(report["cv_full"]):
        why = (
            f"cross-validated on these {report['rows']} timings, the {report['candidate']} fit "
            f"was no better (held-out error {report['cv_full']:.1%}, MAC-only "
            f"{report['cv_mac']:.1%})"
        )
    else:
        why = "too few timings to cross-validate it against MAC-only"
    return f"the full predictor is MAC-only here: {why} (measure more models)"
