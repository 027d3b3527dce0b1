"""Evaluation protocol: splits that keep every run on one side, and regression metrics."""

from __future__ import annotations

from typing import Any, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.stats import kendalltau, spearmanr
from sklearn.metrics import r2_score
from sklearn.model_selection import GroupShuffleSplit

from .baselines import baseline_inputs
from .features.structure import table_layer_kinds
from .predictor.intervals import DEFAULT_COVERAGE, Calibration, fit_calibrated, intervals
from .errors import PerfPredictError, unknown_name
from .features.table import FeatureTable
from .predictor.models import add_dataset_indicators

__all__ = ["SPLITS", "run_split", "epoch_split", "iter_splits", "regression_metrics", "predictor_inputs",
           "evaluate", "evaluate_repeated", "summarize", "outside_flags"]

SPLITS = ("run", "family", "dataset", "epoch")
TARGET = "test_accuracy"


def run_split(frame: pd.DataFrame, test_size: float = 0.25, random_state: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of a random split by ``run_id``: all checkpoints of a run on one side."""
    groups = frame["run_id"].to_numpy()
    if len(np.unique(groups)) < 2:
        raise PerfPredictError("a run split needs checkpoints from at least 2 runs")
    splitter = GroupShuffleSplit(n_splits=1, test_size=test_size, random_state=random_state)
    train, test = next(splitter.split(frame, groups=groups))
    return train, test


def epoch_split(frame: pd.DataFrame, test_size: float = 0.25, random_state: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Train on the final checkpoint of each training run, test on the earlier checkpoints of
    the held-out runs (a run split, so no run is on both sides)."""
    train, test = run_split(frame, test_size, random_state)
    final = frame.groupby("run_id")["epoch"].transform("max").to_numpy() == frame["epoch"].to_numpy()
    return train[final[train]], test[~final[test]]


def iter_splits(frame: pd.DataFrame, split: str = "run", *, test_size: float = 0.25,
                random_state: int = 0) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """Yield ``(fold name, train rows, test rows)``.

    ``run``: one random split by run. ``family`` / ``dataset``: leave one family (dataset)
    out at a time, training on the others. ``epoch``: :func:`epoch_split`.
    """
    if split not in SPLITS:
        raise unknown_name("split", split, SPLITS)
    if split == "run":
        yield ("random runs", *run_split(frame, test_size, random_state))
        return
    if split == "epoch":
        yield ("final -> earlier epochs", *epoch_split(frame, test_size, random_state))
        return
    values = frame[split].to_numpy()
    if len(np.unique(values)) < 2:
        raise PerfPredictError(f"leave-one-{split}-out needs at least 2 values of {split!r}; "
                               f"this table has only {np.unique(values).tolist()}")
    for held_out in np.unique(values):
        yield f"{split}={held_out}", np.flatnonzero(values != held_out), np.flatnonzero(values == held_out)


def regression_metrics(y_true: Sequence[float], y_pred: Sequence[float],
                       halfwidth: float | Sequence[float] | None = None,
                       outside: Sequence[bool] | None = None) -> dict[str, float]:
    """R², Kendall τ, Spearman ρ, mean absolute error in accuracy points (0-100 scale), and
    the coverage and mean width (points) of the intervals ``y_pred ± halfwidth`` (one
    half-width, or one per row; None or NaN: no intervals). With ``outside`` (one flag per
    row: the domain verdict is ``outside``), also the fraction flagged ``outside`` and the
    fraction covered by its interval or flagged."""
    t, p = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    out = {"r2": float("nan"), "kendall_tau": float("nan"), "spearman_rho": float("nan"),
           "mae_points": float(100 * np.abs(t - p).mean()) if len(t) else float("nan"),
           "coverage": float("nan"), "width_points": float("nan"), "outside": float("nan"),
           "covered_or_outside": float("nan"), "n": float(len(t))}
    if len(t) >= 2:
        out["r2"] = float(r2_score(t, p))
    if len(t) >= 2 and np.ptp(t) > 0 and np.ptp(p) > 0:  # rank correlations need variation
        out.update(kendall_tau=float(kendalltau(t, p).statistic), spearman_rho=float(spearmanr(t, p).statistic))
    if len(t) and halfwidth is not None and np.isfinite(halfwidth).all():
        lo, hi = intervals(p, np.asarray(halfwidth, dtype=float))
        covered = (lo <= t) & (t <= hi)
        out.update(coverage=float(covered.mean()), width_points=float(100 * (hi - lo).mean()))
        if outside is not None:
            flagged = np.asarray(outside, dtype=bool)
            out.update(outside=float(flagged.mean()), covered_or_outside=float((covered | flagged).mean()))
    return out


def predictor_inputs(table: FeatureTable, split: str = "run", X: pd.DataFrame | None = None) -> pd.DataFrame:
    """The features (or ``X``, rows aligned with the table), plus ``dataset=NAME`` indicators
    when the table holds several datasets (not for a leave-one-dataset-out split, where the
    held-out dataset is unknown by design)."""
    frame = table.frame
    X = table.X.reset_index(drop=True) if X is None else X
    datasets = sorted(frame["dataset"].unique()) if "dataset" in frame else []
    if len(datasets) < 2 or split == "dataset":
        return X
    return add_dataset_indicators(X, frame["dataset"], datasets)


def _subsets(frame: pd.DataFrame, rows: np.ndarray) -> Iterator[tuple[str, np.ndarray]]:
    """``all``, then each dataset and each family present among ``rows`` (positions in rows)."""
    yield "all", np.arange(len(rows))
    for column in ("dataset", "family"):
        if column in frame:
            values = frame[column].to_numpy()[rows]
            for value in np.unique(values):
                yield f"{column}={value}", np.flatnonzero(values == value)


def evaluate(table: FeatureTable, split: str = "run", models: Sequence[str] = ("xgboost", "linear"),
             *, test_size: float = 0.25, coverage: float = DEFAULT_COVERAGE, calibration_size: float = 0.2,
             baselines: bool = False, extra_features: Mapping[str, FeatureTable] | None = None,
             tune: bool = True, link: str = "identity", refit: bool = False, calibration_folds: int = 1,
             n_fits: int = 1, n_jobs: int | None = None, random_state: int = 0) -> pd.DataFrame:
    """Fit each model on the training side of each fold and score it on the held-out side.

    Each model is fitted on part of the training runs and its ``coverage`` intervals are
    calibrated on the rest (``calibration_size`` of them; :mod:`perfpredict.predictor.intervals`, which
    also calibrates per dataset and kind of architecture).
    With ``baselines``, the baselines of :mod:`perfpredict.baselines` and the ``constant``
    model (mean training accuracy) are scored on the same folds; so are ``extra_features``
    tables of the same zoo (e.g. ``{"statnn": table}``). ``tune=False`` skips the XGBoost
    settings search (:func:`perfpredict.predictor.tuning.tune_xgboost`) and only early-stops the trees;
    ``link="logit"`` fits XGBoost to the logit of the accuracy; ``refit`` fits each model again
    on all training runs once calibrated; ``calibration_folds`` K > 1 calibrates on every
    training run by K folds (cross-conformal) and fits on all of them; ``n_fits`` averages that
    many XGBoost fits of successive seeds; ``n_jobs`` is XGBoost's threads (``None``: every
    core; give fewer beside other busy work, such as a zoo generation).

    Returns
    -------
    pandas.DataFrame
        One row per (fold, features, model, subset): ``r2``, ``kendall_tau``,
        ``spearman_rho``, ``mae_points``, ``coverage`` (measured) beside
        ``nominal_coverage``, ``width_points``, ``outside`` (the fraction whose domain verdict
        is ``outside``; :mod:`perfpredict.predictor.domain`), ``covered_or_outside``, ``n``
        (held-out checkpoints) and ``n_train``.
        ``features`` is the table's schema or a baseline's name; ``subset`` is ``all`` (the
        whole held-out side), then ``dataset=...`` and ``family=...``.
    """
    needed = {"run": [], "epoch": ["epoch"], "family": ["family"], "dataset": ["dataset"]}.get(split, [])
    table.require([TARGET, "run_id", *needed], f"evaluate on a {split} split")
    inputs = {table.schema: predictor_inputs(table, split)}
    others = baseline_inputs(table, extra_features, in_table=baselines)
    inputs.update({name: predictor_inputs(table, split, X) for name, X in others.items()})
    jobs = [(name, m) for name in inputs for m in models]
    if baselines:
        jobs.append((table.schema, "constant"))
    y = table.frame[TARGET].to_numpy()
    kinds = table_layer_kinds(table.frame)
    rows = []
    for fold, train, test in iter_splits(table.frame, split, test_size=test_size, random_state=random_state):
        if len(train) == 0 or len(test) == 0:
            raise PerfPredictError(f"the {split} split left no {'training' if len(train) == 0 else 'test'} "
                                   "checkpoints; the table needs more runs (or more epochs per run)")
        runs = table.frame["run_id"].to_numpy()[train] if "run_id" in table.frame else None
        for features, model in jobs:
            X = inputs[features]
            pred, calibration = fit_calibrated(model, X.iloc[train], y[train], runs, coverage=coverage,
                                               calibration_size=calibration_size, tune=tune, link=link,
                                               layer_kinds=[kinds[i] for i in train], refit=refit,
                                               calibration_folds=calibration_folds, n_fits=n_fits,
                                               n_jobs=n_jobs, random_state=random_state)
            predicted = pred.predict(X.iloc[test])
            halfwidth = calibration.halfwidths(X.iloc[test])
            outside = outside_flags(calibration, X.iloc[test], [kinds[i] for i in test])
            for subset, part in _subsets(table.frame, test):
                scores = regression_metrics(y[test][part], predicted[part], halfwidth[part],
                                            None if outside is None else outside[part])
                rows.append({"split": split, "fold": fold, "features": "none" if model == "constant" else features,
                             "model": model, "subset": subset, **scores, "nominal_coverage": coverage,
                             "n_train": len(train)})
    return pd.DataFrame(rows)


def evaluate_repeated(table: FeatureTable, n_repeats: int, *, random_state: int = 0, **kwargs: Any) -> pd.DataFrame:
    """:func:`evaluate` with the seeds ``random_state``, ..., ``random_state + n_repeats - 1``:
    for a run or epoch split, a new random split of the runs each time (a family or dataset
    split only changes the models' seeds). One split of a few hundred runs can be off by
    several points of coverage, so report the mean over several (:func:`summarize`).

    Returns
    -------
    pandas.DataFrame
        The rows of :func:`evaluate` for every seed, with a ``seed`` column.
    """
    return pd.concat([evaluate(table, random_state=seed, **kwargs).assign(seed=seed)
                      for seed in range(random_state, random_state + n_repeats)], ignore_index=True)


def summarize(metrics: pd.DataFrame, statistic: str = "mean") -> pd.DataFrame:
    """One row per (split, fold, features, model, subset) of :func:`evaluate_repeated`'s rows:
    each metric's ``statistic`` over the seeds (``mean``, ``std``, ``min``, ``max``)."""
    keys = [c for c in ("split", "fold", "features", "model", "subset") if c in metrics]
    values = [c for c in metrics.columns if c not in keys and c != "seed" and pd.api.types.is_numeric_dtype(metrics[c])]
    return metrics.groupby(keys, sort=False)[values].agg(statistic).reset_index()


def outside_flags(calibration: Calibration, X: pd.DataFrame, kinds: Sequence[frozenset[str]]) -> np.ndarray | None:
    """Whether the domain verdict of each row is ``outside`` (None without a domain model)."""
    if calibration.domain is None:
        return None
    return calibration.domain.assess(X, kinds).verdicts == "outside"
