"""The predictor registry: every predictor by name, each class owning what the workflows ask of it.

A predictor is a scikit-learn estimator class with the :class:`Predictor` mixin and three class
attributes — ``name`` (the registry key and ``--predictor`` value), ``min_models`` (the fewest
calibration timings it can be fitted on) and ``description`` (one line for the README and
``--help``) — and a ``breakdown(X)`` method (predicted ms per kind of work, one row per model).
The command line, the workflows and profiles iterate :data:`PREDICTORS`; a new predictor is one
decorated class.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pandas as pd

PREDICTORS: dict[str, type] = {}


class Predictor:
    """Mixin of every registered predictor (see the module docstring)."""

    name: ClassVar[str] = ""
    min_models: ClassVar[int] = 1
    description: ClassVar[str] = ""

    def breakdown(self, X: pd.DataFrame) -> pd.DataFrame:
        """Predicted milliseconds per kind of work (rows sum to the prediction); none by default."""
        return pd.DataFrame(index=X.index)


def register(cls: type) -> type:
    """Class decorator: add ``cls`` to :data:`PREDICTORS` under ``cls.name`` (once)."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no registry name")
    if cls.name in PREDICTORS:
        raise ValueError(f"a predictor named {cls.name!r} is already registered")
    PREDICTORS[cls.name] = cls
    return cls


def make_predictor(name: str, **params: Any):
    """A fresh predictor by registry name."""
    if name not in PREDICTORS:
        raise KeyError(f"unknown predictor {name!r}; use one of {', '.join(PREDICTORS)}")
    return PREDICTORS[name](**params)


def check_size(name: str, n: int) -> None:
    """Raise a one-line ValueError when ``n`` timings are too few for predictor ``name``."""
    need = PREDICTORS[name].min_models
    if n < need:
        raise ValueError(
            f"the {name} predictor needs at least {need} calibration models, got {n}; measure "
            "more models or use --predictor mac (2 parameters)"
        )
