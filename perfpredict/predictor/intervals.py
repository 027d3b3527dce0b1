"""Prediction intervals by split-conformal calibration on held-out training runs.

The training runs are split in two: the predictor is fitted on one part, and its absolute
errors on the other part (the calibration runs) give the interval half-width. Runs, not
checkpoints, are the exchangeable units (checkpoints of one run share its architecture,
recipe and often its error), so the half-width is a hierarchical conformal quantile (Lee,
Barber and Willett 2023; Dunn, Wasserman and Ramdas 2023): each of the ``K`` calibration runs
weighs ``1 / (K + 1)``, shared equally among its checkpoints, the new run keeps ``1 / (K + 1)``
(at an infinite error), and the half-width is the ``coverage`` quantile of those weighted
errors. With one checkpoint per run it is the ``ceil((n + 1) · coverage)``-th smallest of the
``n`` errors (Vovk et al. 2005; Lei et al. 2018). If runs are exchangeable, an interval
``prediction ± half-width`` holds the accuracy of a checkpoint of a new run with probability
at least ``coverage``. Test runs are never used; an evaluation measures the coverage it
actually reaches on them.

Errors differ between datasets and kinds of architecture (on the reference zoos, MLPs are
mispredicted by more than ViTs, MNIST runs by more than CIFAR-10 runs). So the calibration
runs are also grouped into strata, by dataset (when the predictor is told it) and kind of
architecture (attention, convolution or dense, from the layer counts of the ``agnostic``
features), and each stratum gets a half-width from its own runs (Mondrian conformal
prediction; Vovk et al. 2005, ch. 4). Deep convolutional networks (more than ``DEEP_CONV``
convolution layers, such as ResNets) are mispredicted by more than shallow ones, so they get a
half-width of their own within their dataset's ``conv`` stratum where they have enough
calibration runs (that of the ``conv`` stratum otherwise). All of it is read from the
predictor's inputs, so an unseen checkpoint has a stratum too.

Intervals widen with the distance to the training zoo (normalized conformal prediction; Lei et
al. 2018, sec. 5.2). A :class:`~perfpredict.predictor.domain.DomainModel` is fitted on the
predictor's fitting runs; each calibration error is divided by its checkpoint's *difficulty*
``max(1, d / d90) ** 2``, where ``d`` is the checkpoint's distance to the training zoo and
``d90`` the 90th percentile of the calibration runs' distances, and the half-width of a new
checkpoint is the conformal quantile of those ratios times its own difficulty. Nine in ten
typical checkpoints keep the plain half-width; one far from every training run gets an
interval that grows with the square of its distance, up to the whole range. The difficulty is
fixed before calibration, so the coverage guarantee for exchangeable runs is unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.model_selection import GroupShuffleSplit

from .domain import DomainModel, interval_strata
from .models import AccuracyPredictor

__all__ = ["DEFAULT_COVERAGE", "Calibration", "conformal_halfwidth", "fit_calibrated", "intervals",
           "interval_strata", "stratum_keys"]

DEFAULT_COVERAGE = 0.9
MIN_CALIBRATION_RUNS = 2
MIN_STRATUM_RUNS = 10
"""Calibration runs a stratum needs for its own half-width (else the overall one applies)."""
MIN_FIT_RUNS = 3
DEEP_CONV = 4
DEEP = "/deep"
"""Convolution layers beyond which a convolutional network has a half-width of its own (the
zoo's plain CNNs have 2-4, its ResNets 7 or 9)."""
WIDEN_FROM = 0.9
"""Quantile of the calibration runs' distances beyond which intervals widen."""
WIDEN_POWER = 2.0


def conformal_halfwidth(errors: Sequence[float], coverage: float = DEFAULT_COVERAGE,
                        runs: Sequence[Any] | None = None) -> float:
    """Half-width from calibration errors: the ``coverage`` quantile of their |values|, each
    run weighing ``1 / (K + 1)`` (shared among its checkpoints) and ``1 / (K + 1)`` kept for a
    new run.

    Parameters
    ----------
    errors : sequence of float
        Calibration errors (prediction minus truth, or scaled so), one per checkpoint.
    coverage : float
        Nominal coverage of the intervals.
    runs : sequence, optional
        Run of each error (default: every error its own run, which gives the
        ``ceil((n + 1) · coverage)``-th smallest of ``n`` errors).

    Returns
    -------
    float
        The half-width; 1 (an interval that holds every accuracy) when too few runs reach
        ``coverage``.
    """
    e = np.abs(np.asarray(errors, dtype=np.float64))
    _, run_of, per_run = np.unique(np.arange(len(e)) if runs is None else np.asarray(runs),
                                   return_inverse=True, return_counts=True)
    order = np.argsort(e, kind="stable")
    mass = np.cumsum(1.0 / ((len(per_run) + 1) * per_run[run_of[order]]))
    reached = np.flatnonzero(mass >= coverage - 1e-12)
    return float(min(e[order[reached[0]]], 1.0)) if len(reached) else 1.0


@dataclass(frozen=True)
class Calibration:
    """Interval half-widths of a calibrated predictor.

    Attributes
    ----------
    halfwidth : float
        From all calibration runs, for a checkpoint of difficulty 1 (NaN when not calibrated).
    by_stratum : dict of str to float
        From the calibration runs of each stratum (:func:`interval_strata`) that has at least
        ``MIN_STRATUM_RUNS`` of them.
    domain : DomainModel or None
        The training zoo's domain, whose distances set each checkpoint's difficulty.
    widen : bool
        Whether intervals widen with the distance (False, or no domain: every difficulty is 1).
    """

    halfwidth: float
    by_stratum: dict[str, float] = field(default_factory=dict)
    domain: DomainModel | None = None
    widen: bool = True

    def difficulty(self, X: pd.DataFrame) -> np.ndarray:
        """``max(1, d / d90) ** 2`` of each row, ``d`` its distance to the training zoo."""
        if self.domain is None or not self.widen:
            return np.ones(len(X))
        base = max(self.domain.quantile(WIDEN_FROM), 1e-12)
        return np.maximum(1.0, self.domain.distance(X) / base) ** WIDEN_POWER

    def halfwidths(self, X: pd.DataFrame) -> np.ndarray:
        """Half-width of each row of predictor inputs: its stratum's (a deep convolutional
        network's own where calibrated, else its ``conv`` stratum's; else the overall one)
        times its difficulty."""
        base = np.array([self.by_stratum.get(k, self.by_stratum.get(k.removesuffix(DEEP), self.halfwidth))
                         for k in stratum_keys(X)], dtype=np.float64)
        return base * self.difficulty(X)


def stratum_keys(X: pd.DataFrame) -> np.ndarray:
    """The finest stratum of each row of predictor inputs: :func:`interval_strata`, with
    ``/deep`` appended for a convolutional network of more than ``DEEP_CONV`` convolution
    layers (``mnist/conv/deep``)."""
    strata = interval_strata(X)
    if "network.n_conv" not in X.columns:
        return strata
    conv = np.array([str(s).endswith("conv") for s in strata], dtype=bool)
    deep = conv & (X["network.n_conv"].to_numpy() > DEEP_CONV)
    return np.where(deep, strata + DEEP, strata).astype(object)


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
    tune: bool = True,
    link: str = "identity",
    layer_kinds: Sequence[frozenset[str]] | None = None,
    widen: bool = True,
    refit: bool = False,
    calibration_folds: int = 1,
    n_fits: int = 1,
    n_jobs: int | None = None,
    random_state: int = 0,
) -> tuple[AccuracyPredictor, Calibration]:
    """Fit ``model`` on part of the training runs and calibrate its intervals on the rest.

    At least ``MIN_CALIBRATION_RUNS`` runs calibrate. Returns the predictor and its
    :class:`Calibration`: the half-width is NaN when ``calibration_size`` is 0 or fewer than
    ``MIN_CALIBRATION_RUNS + MIN_FIT_RUNS`` runs are given (the predictor then uses every
    run); strata with enough calibration runs get their own. A
    :class:`~perfpredict.predictor.domain.DomainModel` is fitted on the fitting runs (with
    their ``layer_kinds``, one set per row) and calibrated on the calibration runs; it widens
    the intervals of checkpoints far from the training zoo (unless ``widen`` is False: plain
    split-conformal intervals, with the domain model kept for verdicts).

    With ``refit``, the predictor returned is fitted again on every run once calibrated: its
    predictions use the calibration runs too and no longer depend on which runs calibrated; the
    half-widths are those calibrated on the fit without them (valid by construction for that
    fit only; ``benchmarks/RESULTS.md``, "Averaged fits", measures the coverage). ``tune``,
    ``link``, ``n_fits`` (XGBoost fits averaged) and ``n_jobs`` (XGBoost threads) are passed to
    :class:`~perfpredict.predictor.models.AccuracyPredictor`.

    With ``calibration_folds`` K > 1, every training run calibrates (cross-conformal; Vovk
    2015, Barber et al. 2021): the runs are split into K folds, each fold is scored by a
    predictor and domain model fitted on the other folds, and the half-widths are the conformal
    quantiles of every run's errors, so they rest on K times the calibration runs of one
    split (``calibration_size`` is then unused). The predictor returned is fitted on every run
    (as with ``refit``) and the domain model is the first fold's. K times the fitting time,
    plus the final fit. The guarantee of split-conformal intervals does not carry over exactly;
    ``benchmarks/RESULTS.md`` measures the coverage.
    """
    groups = np.asarray(runs) if runs is not None else np.arange(len(y))
    pred = AccuracyPredictor(model, tune=tune, link=link, n_fits=n_fits, n_jobs=n_jobs, random_state=random_state)
    splits = _calibration_splits(groups, calibration_size, calibration_folds, random_state)
    if not splits:
        return pred.fit(X, y, runs), Calibration(float("nan"))
    scored = [_score_fold(pred, X, y, groups if runs is not None else None, fit_rows, cal_rows, layer_kinds,
                          widen, random_state) for fit_rows, cal_rows in splits]
    cal_rows = np.concatenate([rows for _, rows in splits])
    errors = np.concatenate([e for _, _, e in scored])
    by_stratum = _by_stratum(errors, X.iloc[cal_rows], groups[cal_rows], coverage)
    fitted, domain, _ = scored[0]
    if refit or len(splits) > 1:
        fitted = clone(pred).fit(X, y, runs)
    return fitted, Calibration(conformal_halfwidth(errors, coverage, groups[cal_rows]), by_stratum, domain, widen)


def _calibration_splits(groups: np.ndarray, size: float, folds: int,
                        random_state: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(fitting rows, calibration rows)``: one split with ``size`` of the runs calibrating, or
    ``folds`` folds of runs; none when there are too few runs to fit and calibrate."""
    names = np.unique(groups)
    if folds > 1:
        largest_fold = -(-len(names) // folds)
        if len(names) < max(folds, MIN_CALIBRATION_RUNS) or len(names) - largest_fold < MIN_FIT_RUNS:
            return []
        fold_of = np.empty(len(names), dtype=int)
        fold_of[np.random.default_rng(random_state).permutation(len(names))] = np.arange(len(names)) % folds
        row_fold = fold_of[np.searchsorted(names, groups)]
        return [(np.flatnonzero(row_fold != k), np.flatnonzero(row_fold == k)) for k in range(folds)]
    n_cal = max(MIN_CALIBRATION_RUNS, round(size * len(names)))
    if size <= 0 or len(names) - n_cal < MIN_FIT_RUNS:
        return []
    split = GroupShuffleSplit(n_splits=1, test_size=n_cal, random_state=random_state)
    return [next(split.split(groups, groups=groups))]


def _score_fold(pred: AccuracyPredictor, X: pd.DataFrame, y: np.ndarray, runs: np.ndarray | None,
                fit_rows: np.ndarray, cal_rows: np.ndarray, layer_kinds: Sequence[frozenset[str]] | None,
                widen: bool, random_state: int) -> tuple[AccuracyPredictor, DomainModel, np.ndarray]:
    """A copy of ``pred`` and a domain model fitted on ``fit_rows``, and the calibration rows'
    errors, each divided by its difficulty."""
    fitted = clone(pred).fit(X.iloc[fit_rows], y[fit_rows], runs[fit_rows] if runs is not None else None)
    kinds = [layer_kinds[i] for i in fit_rows] if layer_kinds is not None else ()
    domain = DomainModel(random_state=random_state).fit(X.iloc[fit_rows], calibration=X.iloc[cal_rows],
                                                        layer_kinds=kinds)
    unscaled = Calibration(1.0, domain=domain, widen=widen)
    return fitted, domain, (y[cal_rows] - fitted.predict(X.iloc[cal_rows])) / unscaled.difficulty(X.iloc[cal_rows])


def _by_stratum(errors: np.ndarray, X: pd.DataFrame, runs: np.ndarray, coverage: float) -> dict[str, float]:
    """Half-width of each stratum (:func:`interval_strata`, none when all rows are of one: the
    overall half-width is its own) and of each stratum's deep convolutional networks
    (:func:`stratum_keys`) with at least ``MIN_STRATUM_RUNS`` calibration runs."""
    keys = stratum_keys(X)
    strata = np.array([k.removesuffix(DEEP) for k in keys], dtype=object)
    names = np.unique(strata)
    rows = {} if len(names) < 2 else {s: strata == s for s in names}
    rows |= {k: keys == k for k in np.unique(keys) if k not in names}
    return {str(k): conformal_halfwidth(errors[m], coverage, runs[m])
            for k, m in rows.items() if len(np.unique(runs[m])) >= MIN_STRATUM_RUNS}
