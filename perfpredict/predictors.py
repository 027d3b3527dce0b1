"""Accuracy predictors (XGBoost and linear) and their pickle-free bundle format.

A bundle is a folder: ``manifest.json`` (schema, feature names, metrics, training
provenance, library versions, SHA-256 of every file), ``xgboost.ubj`` (XGBoost's own
format) and ``linear.json`` (imputation, scaling and coefficients).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from .errors import BundleError, PerfPredictError, SchemaMismatchError, unknown_name
from ._io import read_versioned_json, sha256_file, write_json_atomic

__all__ = ["AccuracyPredictor", "PredictorBundle", "MODELS", "DATASET_PREFIX", "dataset_indicators",
           "save_bundle", "load_bundle"]

MODELS = ("xgboost", "linear", "lasso", "logit_linear", "constant")
BUNDLE_FORMAT = 1
_RIDGE_ALPHAS = tuple(np.logspace(-3, 4, 15))
_LASSO_ALPHAS = tuple(np.logspace(-5, 0, 26))  # accuracies are in [0, 1], features standardized
_LINEAR = {"linear": ("ridge", "identity"), "lasso": ("lasso", "identity"), "logit_linear": ("ridge", "logit"),
           "constant": ("constant", "identity")}
"""Linear models: (estimator, link). ``logit``: fitted on logit(accuracy), as Unterthiner et al.
``constant`` predicts the mean training accuracy (a baseline)."""
_LOGIT_CLIP = 1e-3
DATASET_PREFIX = "dataset="
"""Prefix of the indicator columns that tell a several-dataset predictor the dataset."""


def dataset_indicators(datasets: Sequence[str], known: Sequence[str]) -> pd.DataFrame:
    """One 0/1 column ``dataset=NAME`` per known dataset, for rows of the given datasets."""
    values = np.asarray(datasets, dtype=object)
    return pd.DataFrame({f"{DATASET_PREFIX}{k}": (values == k).astype(np.float64) for k in known})


class AccuracyPredictor(RegressorMixin, BaseEstimator):
    """Predict test accuracy (0-1) from weight features.

    Parameters
    ----------
    model : {"xgboost", "linear", "lasso", "logit_linear", "constant"}, default="xgboost"
        Gradient-boosted trees; ridge (``linear``) or lasso regression on median-imputed,
        standardized features; ridge on the logit of the accuracy (``logit_linear``, as in
        Unterthiner et al.; accuracies clipped to [0.001, 0.999] before the logit); or the mean
        training accuracy (``constant``, a baseline). The
        penalty of a linear model is chosen by cross-validation over a fixed grid: folds by run
        when ``fit`` is given ``groups``, else leave-one-out (ridge) or 5 folds (lasso).
    n_estimators, max_depth, learning_rate, min_child_weight : int, int, float, float
        XGBoost settings. ``n_estimators`` is the most trees; when ``fit`` is given run ids,
        the number of trees is found by early stopping on held-out training runs.
    tune : bool, default=True
        With run ids and at least ``3 * cv_folds`` runs, choose ``max_depth`` and
        ``min_child_weight`` from :data:`perfpredict.tuning.XGB_GRID` by cross-validation
        grouped by run (:func:`perfpredict.tuning.tune_xgboost`).
    cv_folds : int, default=3
        Folds of that cross-validation.
    n_jobs : int or None
        XGBoost threads (``None``: XGBoost's default).
    random_state : int
        Seed.

    Attributes
    ----------
    feature_names_in_ : ndarray of str
        Columns seen in :meth:`fit` (when ``X`` is a DataFrame).
    model_ : xgboost.XGBRegressor or None
        The fitted booster (``model="xgboost"``).
    best_params_ : dict
        The XGBoost settings it was fitted with (after tuning and early stopping).
    cv_results_ : list of dict
        Each tuned setting with its cross-validated RMSE (empty when not tuned).
    linear_ : dict or None
        ``median``, ``mean``, ``scale``, ``coef``, ``intercept``, ``alpha`` and ``link``
        (linear models).
    """

    def __init__(
        self,
        model: str = "xgboost",
        *,
        n_estimators: int = 600,
        max_depth: int = 3,
        learning_rate: float = 0.03,
        min_child_weight: float = 3.0,
        tune: bool = True,
        cv_folds: int = 3,
        n_jobs: int | None = None,
        random_state: int = 0,
    ) -> None:
        self.model = model
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.learning_rate = learning_rate
        self.min_child_weight = min_child_weight
        self.tune = tune
        self.cv_folds = cv_folds
        self.n_jobs = n_jobs
        self.random_state = random_state

    def _xgb_params(self) -> dict[str, Any]:
        return {"n_estimators": self.n_estimators, "max_depth": self.max_depth,
                "learning_rate": self.learning_rate, "tree_method": "hist",
                "min_child_weight": self.min_child_weight, "subsample": 0.8,
                "colsample_bytree": 0.8, "n_jobs": self.n_jobs, "random_state": self.random_state}

    def _xgb(self, params: dict[str, Any] | None = None) -> Any:
        from xgboost import XGBRegressor

        return XGBRegressor(**(params or self._xgb_params()))

    def _fit_xgb(self, x: np.ndarray, y: np.ndarray, groups: Sequence[Any] | None) -> None:
        from .tuning import early_stopped_trees, tune_xgboost

        params, self.cv_results_ = self._xgb_params(), []
        n_groups = 0 if groups is None else len(np.unique(np.asarray(groups)))
        if self.tune and n_groups >= 3 * self.cv_folds:
            params, self.cv_results_ = tune_xgboost(params, x, y, groups, folds=self.cv_folds)
        elif n_groups >= 5:
            params["n_estimators"] = early_stopped_trees(params, x, y, groups, random_state=self.random_state)
        self.best_params_ = params
        self.model_ = self._xgb(params).fit(x, y)

    def fit(self, X: pd.DataFrame | np.ndarray, y: Sequence[float],
            groups: Sequence[Any] | None = None) -> "AccuracyPredictor":
        """Fit on features ``X`` and accuracies ``y`` (fractions in [0, 1]).

        ``groups`` (one run id per row) keeps each run's checkpoints on one side of every
        cross-validation and early-stopping split.
        """
        if self.model not in MODELS:
            raise unknown_name("model", self.model, MODELS)
        if isinstance(X, pd.DataFrame):
            self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        x = np.asarray(X, dtype=np.float64)
        yv = np.asarray(y, dtype=np.float64)
        self.n_features_in_ = x.shape[1]
        self.model_, self.linear_ = None, None
        if self.model == "xgboost":
            self._fit_xgb(x, yv, groups)
        else:
            self.linear_ = _fit_linear(x, yv, self.model, groups, self.random_state)
        return self

    def predict(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """Predicted accuracies, clipped to [0, 1]."""
        check_is_fitted(self, "n_features_in_")
        x = self._matrix(X)
        if self.model_ is not None:
            raw = self.model_.predict(x)
        else:
            p = self.linear_
            xi = np.where(np.isnan(x), p["median"], x)
            raw = ((xi - p["mean"]) / p["scale"]) @ p["coef"] + p["intercept"]
            if p.get("link") == "logit":
                raw = 1 / (1 + np.exp(-raw))
        return np.clip(np.asarray(raw, dtype=np.float64), 0.0, 1.0)

    def _matrix(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        names = getattr(self, "feature_names_in_", None)
        if isinstance(X, pd.DataFrame) and names is not None:
            missing = [n for n in names if n not in X.columns]
            if missing:
                raise SchemaMismatchError(f"features lack {len(missing)} columns the predictor "
                                          f"was fitted on (e.g. {missing[:3]}); extract them with "
                                          "the predictor's schema")
            X = X[list(names)]
        x = np.asarray(X, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.n_features_in_:
            raise SchemaMismatchError(f"expected {self.n_features_in_} features, got shape {x.shape}")
        return x


def _cv(y: np.ndarray, groups: Sequence[Any] | None, folds: int = 5) -> Any:
    """Cross-validation splits by group when there are enough groups, else None."""
    from sklearn.model_selection import GroupKFold

    if groups is None or len(np.unique(np.asarray(groups))) < folds:
        return None
    return list(GroupKFold(n_splits=folds).split(np.zeros((len(y), 1)), y, groups))


def _fit_linear(x: np.ndarray, y: np.ndarray, model: str, groups: Sequence[Any] | None,
                random_state: int) -> dict[str, Any]:
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LassoCV, Ridge, RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    estimator, link = _LINEAR[model]
    target = y if link == "identity" else _logit(y)
    cv = _cv(y, groups)
    if estimator == "constant":
        reg = Ridge(alpha=1e300)  # all coefficients zero: the intercept is the mean
    elif estimator == "ridge":
        reg = RidgeCV(alphas=_RIDGE_ALPHAS, cv=cv, scoring=None if cv is None else "neg_mean_squared_error")
    else:
        reg = LassoCV(alphas=_LASSO_ALPHAS, cv=cv if cv is not None else 5, max_iter=5000,
                      random_state=random_state)
    pipe = make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler(), reg)
    pipe.fit(x, target)
    imputer, scaler = pipe.steps[0][1], pipe.steps[1][1]
    return {"median": imputer.statistics_.astype(np.float64), "mean": scaler.mean_,
            "scale": scaler.scale_, "coef": np.asarray(reg.coef_, dtype=np.float64),
            "intercept": float(reg.intercept_), "alpha": float(getattr(reg, "alpha_", 0.0)), "link": link}


def _logit(y: np.ndarray) -> np.ndarray:
    p = np.clip(y, _LOGIT_CLIP, 1 - _LOGIT_CLIP)
    return np.log(p / (1 - p))


@dataclass
class PredictorBundle:
    """Fitted predictors with the feature schema they expect.

    Attributes
    ----------
    models : dict of str to AccuracyPredictor
        Fitted predictors by name (``xgboost``, ``linear``).
    schema, schema_version : str, int
        Feature schema the predictors were trained on.
    feature_names : list of str
        Their input columns.
    info : dict
        Provenance and held-out metrics, stored in the manifest.
    """

    models: dict[str, AccuracyPredictor]
    schema: str
    schema_version: int
    feature_names: list[str]
    info: dict[str, Any] = field(default_factory=dict)

    def check_features(self, schema: str, schema_version: int) -> None:
        """Raise :class:`SchemaMismatchError` unless features use this bundle's schema."""
        if (schema, schema_version) != (self.schema, self.schema_version):
            raise SchemaMismatchError(
                f"features use schema {schema} v{schema_version}, but the predictor needs "
                f"{self.schema} v{self.schema_version}; re-extract with --schema {self.schema}")

    def predict(self, X: pd.DataFrame, model: str = "xgboost") -> np.ndarray:
        """Predicted accuracies of feature rows ``X`` with predictor ``model``."""
        if model not in self.models:
            raise unknown_name("model in this bundle", model, self.models)
        return self.models[model].predict(X)

    @property
    def datasets(self) -> list[str]:
        """Datasets of the training zoo."""
        return list(self.info.get("datasets", []))

    @property
    def needs_dataset(self) -> bool:
        """Whether predictions need the dataset the checkpoints were trained on."""
        return any(n.startswith(DATASET_PREFIX) for n in self.feature_names)

    def predict_checkpoints(self, checkpoints: Sequence[Any], model: str = "xgboost",
                            dataset: str | None = None) -> np.ndarray:
        """Predicted accuracies of checkpoints (paths or state dicts) trained on ``dataset``.

        ``dataset`` is required when the bundle was trained on several datasets, and must be
        one of them.
        """
        from .features.transformer import WeightStatistics

        self._check_dataset(dataset)
        ws = WeightStatistics(self.schema).fit(checkpoints)
        frame = pd.DataFrame(ws.transform(checkpoints), columns=ws.get_feature_names_out())
        if self.needs_dataset:
            frame = pd.concat([frame, dataset_indicators([dataset] * len(frame), self.datasets)], axis=1)
        return self.predict(frame.reindex(columns=self.feature_names), model)

    def _check_dataset(self, dataset: str | None) -> None:
        known = ", ".join(self.datasets)
        if dataset is None and self.needs_dataset:
            raise PerfPredictError(f"this predictor was trained on several datasets ({known}); say which "
                                   "one the checkpoints were trained on (--dataset NAME)")
        if dataset is not None and self.datasets and dataset not in self.datasets:
            raise PerfPredictError(f"this predictor was trained on {known} only, not {dataset!r}; "
                                   "fit one on a zoo of that dataset (perfpredict fit)")

    def intervals(self, predictions: np.ndarray, model: str = "xgboost") -> tuple[np.ndarray, np.ndarray] | None:
        """Conformal intervals around ``predictions`` of ``model``, or None if not calibrated."""
        from .conformal import intervals

        halfwidth = self.info.get("intervals", {}).get("halfwidth", {}).get(model)
        return None if halfwidth is None else intervals(np.asarray(predictions), halfwidth)

    @property
    def coverage(self) -> float | None:
        """Nominal coverage of :meth:`intervals`."""
        return self.info.get("intervals", {}).get("coverage")


def _linear_json(p: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in p.items()}


def save_bundle(bundle: PredictorBundle, path: str | os.PathLike[str]) -> Path:
    """Write ``bundle`` to the folder ``path`` (created); returns the folder."""
    from . import __version__

    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, dict[str, str]] = {}
    for name, pred in bundle.models.items():
        if pred.model == "xgboost":
            file = out / f"{name}.ubj"
            pred.model_.save_model(str(file))
        else:
            file = out / f"{name}.json"
            write_json_atomic(file, _linear_json(pred.linear_))
        files[name] = {"file": file.name, "kind": pred.model, "sha256": sha256_file(file),
                       "params": json.loads(json.dumps(pred.get_params())),
                       "fitted": json.loads(json.dumps(getattr(pred, "best_params_", {})))}
    import sklearn
    import xgboost

    manifest = {"format_version": BUNDLE_FORMAT, "schema": bundle.schema,
                "schema_version": bundle.schema_version, "feature_names": bundle.feature_names,
                "models": files, "info": bundle.info,
                "versions": {"perfpredict": __version__, "xgboost": xgboost.__version__,
                             "scikit-learn": sklearn.__version__}}
    write_json_atomic(out / "manifest.json", manifest)
    return out


def _read_manifest(folder: Path) -> dict[str, Any]:
    return read_versioned_json(folder / "manifest.json", BUNDLE_FORMAT, BundleError,
                               missing="it is not a predictor bundle (no manifest.json); make one "
                                       "with `perfpredict fit FEATURES -o DIR`",
                               corrupt="re-fit the predictor")


def _load_model(folder: Path, entry: dict[str, Any], names: list[str]) -> AccuracyPredictor:
    file = folder / entry["file"]
    if not file.exists():
        raise BundleError(f"{file} is missing from the bundle; re-fit the predictor")
    if sha256_file(file) != entry["sha256"]:
        raise BundleError(f"{file} was altered (SHA-256 differs from manifest.json); "
                          "re-fit the predictor or restore the file")
    pred = AccuracyPredictor(**entry["params"])
    pred.feature_names_in_ = np.asarray(names, dtype=object)
    pred.n_features_in_ = len(names)
    pred.model_, pred.linear_ = None, None
    if entry["kind"] == "xgboost":
        pred.best_params_ = entry.get("fitted", {})
        pred.model_ = pred._xgb()
        pred.model_.load_model(str(file))
    else:
        raw = json.loads(file.read_text())
        pred.linear_ = {k: np.asarray(v, dtype=np.float64) if isinstance(v, list) else v for k, v in raw.items()}
    return pred


def load_bundle(path: str | os.PathLike[str]) -> PredictorBundle:
    """Load a bundle written by :func:`save_bundle`, verifying every file's SHA-256.

    Raises
    ------
    BundleError
        Missing or altered files, or an unknown format.
    """
    folder = Path(path)
    manifest = _read_manifest(folder)
    names = list(manifest["feature_names"])
    models = {name: _load_model(folder, entry, names) for name, entry in manifest["models"].items()}
    return PredictorBundle(models, manifest["schema"], manifest["schema_version"], names,
                           manifest.get("info", {}))
