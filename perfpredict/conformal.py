"""Prediction intervals by split-conformal calibration on held-out training runs.

The training runs are split in two: the predictor is fitted on one part, and its absolute
errors on the other part (the calibration runs) give the interval half-width: the
``ceil((n + 1) · coverage)``-th smallest of the ``n`` calibration errors. If runs are
exchangeable, an interval ``prediction ± half-width`` holds a new checkpoint's accuracy with
probability at least ``coverage`` (Vovk et al. 2005; Lei et al. 2018). Test runs are never
used; an evaluation measures the coverage it actually reaches on them.

Given strata (the dataset of each checkpoint), each stratum also gets its own half-width from
its own calibration runs (Mondrian conformal prediction; Vovk et al. 2005, ch. 4), so that
a dataset whose errors are small does not narrow the intervals of one whose errors are large.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupShuffleSplit

from .predictors import AccuracyPredictor

__all__ = ["DEFAULT_COVERAGE", "Calibration", "conformal_halfwidth", "fit_calibrated", "intervals"]

DEFAULT_COVERAGE = 0.9
MIN_CALIBRATION_RUNS = 2
MIN_FIT_RUNS = 3


def conformal_halfwidth(errors: Sequence[float], coverage: float = DEFAULT_COVERAGE) -> float:
    """Half-width from calibration errors: their ``ceil((n + 1) · coverage)``-th smallest |value|.

    With too few errors for that coverage it is 1, an interval that holds every accuracy.
    """
    e = np.sort(np.abs(np.asarray(errors, dtype=np.float64)))
    k = math.ceil((len(e) + 1) * coverage)
    return float(min(e[k - 1], 1.0)) if 0 < k <= len(e) else 1.0


@dataclass(frozen=True)
class Calibration:
    """Interval half-widths of a calibrated predictor.

    Attributes
    ----------
    halfwidth : float
        From all calibration runs (NaN when not calibrated).
    by_stratum : dict of str to float
        From each stratum's calibration runs, for strata with at least
        ``MIN_CALIBRATION_RUNS`` of them.
    """

    halfwidth: float
    by_stratum: dict[str, float] = field(default_factory=dict)

    def for_rows(self, strata: Sequence[Any] | None, n: int) -> np.ndarray:
        """Half-width of each of ``n`` rows: its stratum's, else the overall one."""
        if strata is None:
            return np.full(n, self.halfwidth)
        return np.array([self.by_stratum.get(str(s), self.halfwidth) for s in strata], dtype=np.float64)


def intervals(predictions: np.ndarray, halfwidth: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds, clipped to accuracies in [0, 1]."""
    return np.clip(predictions - halfwidth, 0.0, 1.0), np.clip(predictions + halfwidth, 0.0, 1.0)


def fit_calibrated(
    model: str,
    X: pd.DataFrame,
    y: np.ndarray,
    runs: Sequence[Any] | None,
    *,
    calibration_size: float = 0.2,
    coverage: float = DEFAULT_COVERAGE,
    strata: Sequence[Any] | None = None,
    tune: bool = True,
    random_state: int = 0,
) -> tuple[AccuracyPredictor, Calibration]:
    """Fit ``model`` on part of the training runs and calibrate its intervals on the rest.

    At least ``MIN_CALIBRATION_RUNS`` runs calibrate. Returns the predictor and its
    :class:`Calibration`: the half-width is NaN when ``calibration_size`` is 0 or fewer than
    ``MIN_CALIBRATION_RUNS + MIN_FIT_RUNS`` runs are given (the predictor then uses every
    run). ``strata`` (one label per row, e.g. the dataset) adds a half-width per stratum.
    ``tune`` is passed to :class:`~perfpredict.predictors.AccuracyPredictor`.
    """
    groups = np.asarray(runs) if runs is not None else np.arange(len(y))
    n_runs = len(np.unique(groups))
    n_cal = max(MIN_CALIBRATION_RUNS, round(calibration_size * n_runs))
    if calibration_size <= 0 or n_runs - n_cal < MIN_FIT_RUNS:
        pred = AccuracyPredictor(model, tune=tune, random_state=random_state).fit(X, y, runs)
        return pred, Calibration(float("nan"))
    split = GroupShuffleSplit(n_splits=1, test_size=n_cal, random_state=random_state)
    fit_rows, cal_rows = next(split.split(X, y, groups))
    pred = AccuracyPredictor(model, tune=tune, random_state=random_state).fit(
        X.iloc[fit_rows], y[fit_rows], groups[fit_rows] if runs is not None else None)
    errors = y[cal_rows] - pred.predict(X.iloc[cal_rows])
    by_stratum = {} if strata is None else _by_stratum(errors, np.asarray(strata)[cal_rows], groups[cal_rows],
                                                       coverage)
    return pred, Calibration(conformal_halfwidth(errors, coverage), by_stratum)


def _by_stratum(errors: np.ndarray, strata: np.ndarray, runs: np.ndarray, coverage: float) -> dict[str, float]:
    """Half-width of each stratum with at least ``MIN_CALIBRATION_RUNS`` calibration runs."""
    labels = strata.astype(str)
    return {label: conformal_halfwidth(errors[labels == label], coverage) for label in np.unique(labels)
            if len(np.unique(runs[labels == label])) >= MIN_CALIBRATION_RUNS}
