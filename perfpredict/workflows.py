"""The user journeys as functions: fit a bundle on a run split; the demo zoo."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd

from .predictor.bundles import PredictorBundle
from .predictor.intervals import DEFAULT_COVERAGE, Calibration, fit_calibrated
from .evaluation import TARGET, outside_flags, predictor_inputs, regression_metrics, run_split
from .features.structure import table_layer_kinds
from .features.table import FeatureTable
from .zoo.spec import SearchSpace, ZooSpec

__all__ = ["DEMO_SPEC", "FitResult", "fit_bundle", "runs_hash"]

DEMO_SPEC = ZooSpec(
    name="demo", datasets=("digits",), families=("mlp", "cnn"), runs_per_group=128, epochs=16, seed=0,
    space=SearchSpace(mlp_depth=(2,), mlp_width=(64,), mlp_norm=("none",), cnn_depth=(2,), cnn_channels=(16,),
                      cnn_kernel=(3,), cnn_norm=("none",), cnn_head=("gap",), activations=("relu",),
                      inits=("default", "xavier_uniform", "kaiming_uniform", "orthogonal"), batch_size=(32, 64),
                      full_data=1.0, label_noise=(0.0,)))
"""The demo zoo: 128 runs each of an MLP (64-64) and a CNN (2 convolutions of 16 channels) on
scikit-learn digits (no download), as in Unterthiner et al. 2020: a fixed architecture per
family, trained 16 epochs on the whole training set with every optimizer, learning rate,
schedule, initialization, weight decay, dropout and batch size of the space. Chosen by
measurement (``benchmarks/RESULTS.md``): wider spaces (every family, activation and
initialization, BatchNorm, label noise, small data) need far more runs than two minutes allow."""


@dataclass(frozen=True)
class FitResult:
    """A fitted bundle, its held-out metrics and the held-out rows of the table."""

    bundle: PredictorBundle
    metrics: pd.DataFrame
    test_rows: np.ndarray
    test_predictions: dict[str, np.ndarray]


def fit_bundle(
    table: FeatureTable,
    models: Sequence[str] = ("xgboost", "linear"),
    *,
    test_size: float = 0.25,
    coverage: float = DEFAULT_COVERAGE,
    calibration_size: float = 0.2,
    tune: bool = True,
    link: str = "identity",
    refit: bool = False,
    calibration_folds: int = 1,
    n_fits: int = 1,
    n_jobs: int | None = None,
    random_state: int = 0,
) -> FitResult:
    """Fit predictors on the training runs of a run split and score them on the held-out runs.

    Each model is fitted on part of the training runs; the rest (``calibration_size`` of
    them) calibrate its ``coverage`` prediction intervals (:mod:`perfpredict.predictor.intervals`)
    and the domain model (:mod:`perfpredict.predictor.domain`) that the bundle keeps. A
    table of several datasets gives the predictors the dataset as ``dataset=NAME`` inputs.
    With ``test_size=0`` every run is used for training and no metrics are computed.
    ``tune=False`` skips the XGBoost settings search and only early-stops the trees;
    ``link="logit"`` fits XGBoost to the logit of the accuracy, ``n_fits`` averages that many
    XGBoost fits of successive seeds and ``n_jobs`` sets its threads (``None``: every core;
    :class:`~perfpredict.predictor.models.AccuracyPredictor`). ``refit`` fits each model again
    on every training run once its intervals are calibrated; ``calibration_folds`` K > 1
    calibrates on every training run instead, by K folds (cross-conformal), and fits the models
    returned on every run (:func:`~perfpredict.predictor.intervals.fit_calibrated`).
    """
    table.require([TARGET, "run_id"] if test_size > 0 else [TARGET], "fit predictors of test accuracy")
    frame = table.frame
    X = predictor_inputs(table)
    y = frame[TARGET].to_numpy(dtype=float)
    if test_size > 0:
        train, test = run_split(frame, test_size, random_state)
    else:
        train, test = np.arange(len(frame)), np.arange(0)
    runs = frame["run_id"].to_numpy()[train] if "run_id" in frame else None
    kinds = table_layer_kinds(frame)
    fitted, calibrations = {}, {}
    for m in models:
        fitted[m], calibrations[m] = fit_calibrated(m, X.iloc[train], y[train], runs, coverage=coverage,
                                                    calibration_size=calibration_size, tune=tune,
                                                    link=link, layer_kinds=[kinds[i] for i in train],
                                                    refit=refit, calibration_folds=calibration_folds,
                                                    n_fits=n_fits, n_jobs=n_jobs, random_state=random_state)
    preds = {m: p.predict(X.iloc[test]) for m, p in fitted.items()} if len(test) else {}
    halfwidths = {m: c.halfwidths(X.iloc[test]) for m, c in calibrations.items()}
    first = next(iter(calibrations.values()), None)  # one split for every model: one domain model
    outside = outside_flags(first, X.iloc[test], [kinds[i] for i in test]) if first and len(test) else None
    metrics = pd.DataFrame([{"model": m, **regression_metrics(y[test], p, halfwidths[m], outside),
                             "nominal_coverage": coverage} for m, p in preds.items()])
    info = {
        "target": TARGET,
        "n_train_checkpoints": int(len(train)),
        "n_train_runs": int(frame["run_id"].iloc[train].nunique()) if "run_id" in frame else None,
        "test_runs": sorted(frame["run_id"].iloc[test].unique().tolist()) if len(test) else [],
        "training_runs_sha256": runs_hash(frame, train),
        "datasets": sorted(frame["dataset"].unique().tolist()) if "dataset" in frame else [],
        "families": sorted(frame["family"].unique().tolist()) if "family" in frame else [],
        "heldout_metrics": metrics.to_dict(orient="records"),
        "intervals": _intervals_info(calibrations, coverage, calibration_folds),
        "tuned": tune,
        "link": link,
        "refit": refit,
        "n_fits": n_fits,
        "random_state": random_state,
    }
    bundle = PredictorBundle(fitted, table.schema, table.schema_version, list(X.columns), info,
                             first.domain if first else None)
    return FitResult(bundle, metrics, test, preds)


def _intervals_info(calibrations: dict[str, Calibration], coverage: float, folds: int) -> dict[str, Any]:
    """The manifest's description of the intervals: overall and per-stratum half-widths."""
    how = ("split-conformal on held-out training runs" if folds <= 1
           else f"cross-conformal over {folds} folds of the training runs")
    return {"coverage": coverage, "calibration_folds": folds,
            "method": f"{how}, each run weighing equally (hierarchical), per dataset/kind of architecture, "
                      "deep convolutional networks apart (perfpredict.predictor.intervals.stratum_keys), "
                      "normalized by the distance to the training zoo",
            "halfwidth": {m: (c.halfwidth if np.isfinite(c.halfwidth) else None) for m, c in calibrations.items()},
            "halfwidth_by_stratum": {m: c.by_stratum for m, c in calibrations.items()}}


def runs_hash(frame: pd.DataFrame, rows: np.ndarray) -> str | None:
    """SHA-256 of the sorted run ids a predictor was trained on (identifies its training zoo)."""
    if "run_id" not in frame:
        return None
    runs = sorted(frame["run_id"].iloc[rows].astype(str).unique())
    return hashlib.sha256("\n".join(runs).encode()).hexdigest()
