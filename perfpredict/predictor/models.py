"""Accuracy predictors: XGBoost, linear models and a constant baseline, as scikit-learn
regressors whose fitted state is plain arrays (saved by :mod:`perfpredict.predictor.bundles`)."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from ..errors import SchemaMismatchError, unknown_name

__all__ = ["AccuracyPredictor", "MODELS", "DATASET_PREFIX", "add_dataset_indicators", "row_datasets"]

MODELS = ("xgboost", "linear", "lasso", "logit_linear", "constant")
_RIDGE_ALPHAS = tuple(np.logspace(-3, 4, 15))
_LASSO_ALPHAS = tuple(np.logspace(-5, 0, 26))  # accuracies are in [0, 1], features standardized
_LINEAR = {"linear": ("ridge", "identity"), "lasso": ("lasso", "identity"), "logit_linear": ("ridge", "logit"),
           "constant": ("constant", "identity")}
"""Linear models: (estimator, link). ``logit``: fitted on logit(accuracy), as Unterthiner et al.
``constant`` predicts the mean training accuracy (a baseline)."""
_LOGIT_CLIP = 1e-3
_LINKS = ("identity", "logit")
DATASET_PREFIX = "dataset="
"""Prefix of the indicator columns that tell a several-dataset predictor the dataset."""


def add_dataset_indicators(X: pd.DataFrame, datasets: Sequence[str | None], known: Sequence[str]) -> pd.DataFrame:
    """``X`` (index 0..n-1) with one 0/1 column ``dataset=NAME`` per known dataset, for rows
    whose checkpoints were trained on ``datasets``."""
    values = np.asarray(datasets, dtype=object)
    indicators = pd.DataFrame({f"{DATASET_PREFIX}{k}": (values == k).astype(np.float64) for k in known})
    return pd.concat([X, indicators], axis=1)


def row_datasets(X: pd.DataFrame) -> np.ndarray:
    """Dataset of each row of predictor inputs, from its ``dataset=NAME`` indicators (None per
    row when the inputs have none)."""
    indicators = [c for c in X.columns if str(c).startswith(DATASET_PREFIX)]
    if not indicators:
        return np.full(len(X), None, dtype=object)
    names = np.array([c[len(DATASET_PREFIX):] for c in indicators], dtype=object)
    return names[X[indicators].to_numpy().argmax(axis=1)]


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
        the number of trees is found by early stopping on held-out training runs. Trees are
        grown on 64-bin histograms (on the reference MNIST table, 3x faster than XGBoost's
        default 256 bins, with the same held-out R²).
    tune : bool, default=True
        With run ids and at least ``3 * cv_folds`` runs, choose ``max_depth`` and
        ``min_child_weight`` from :data:`perfpredict.predictor.tuning.XGB_GRID` by cross-validation
        grouped by run (:func:`perfpredict.predictor.tuning.tune_xgboost`).
    cv_folds : int, default=3
        Folds of that cross-validation.
    link : {"identity", "logit"}, default="identity"
        What XGBoost's trees fit: the accuracy, or its logit (accuracies clipped to
        [0.001, 0.999]; predictions mapped back through the sigmoid), which spreads the
        accuracies of good networks (0.97 and 0.99 are 1.1 apart in logit, 0.02 in accuracy).
        Linear models choose theirs by name (``logit_linear``).
    n_fits : int, default=1
        XGBoost fits whose outputs are averaged (in the units their trees fit: logits for
        ``link="logit"``). Fit ``k`` has seed ``random_state + k``, hence its own row and column
        subsamples and early-stopping split; settings are tuned once, with the first seed. The
        average depends less on XGBoost's draws than one fit does (``benchmarks/averaged_fits.py``;
        the rest of a seed's effect is which runs calibrate, see ``fit_calibrated``'s ``refit``).
    n_jobs : int or None
        XGBoost threads (``None``: XGBoost's default).
    random_state : int
        Seed.

    Attributes
    ----------
    feature_names_in_ : ndarray of str
        Columns seen in :meth:`fit` (when ``X`` is a DataFrame).
    boosters_ : list of xgboost.XGBRegressor
        The ``n_fits`` fitted boosters (``model="xgboost"``; empty for linear models).
    best_params_ : dict
        The XGBoost settings of the first fit (after tuning and early stopping; the others
        differ in ``random_state`` and, when early-stopped, ``n_estimators``).
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
        link: str = "identity",
        n_fits: int = 1,
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
        self.link = link
        self.n_fits = n_fits
        self.n_jobs = n_jobs
        self.random_state = random_state

    def _xgb_params(self) -> dict[str, Any]:
        return {"n_estimators": self.n_estimators, "max_depth": self.max_depth,
                "learning_rate": self.learning_rate, "tree_method": "hist", "max_bin": 64,
                "min_child_weight": self.min_child_weight, "subsample": 0.8,
                "colsample_bytree": 0.8, "n_jobs": self.n_jobs, "random_state": self.random_state}

    def _xgb(self, params: dict[str, Any] | None = None) -> Any:
        from xgboost import XGBRegressor

        return XGBRegressor(**(params or self._xgb_params()))

    def _fit_xgb(self, x: np.ndarray, y: np.ndarray, groups: Sequence[Any] | None) -> None:
        from .tuning import early_stopped_trees, tune_xgboost

        if self.link not in _LINKS:
            raise unknown_name("link", self.link, _LINKS)
        y = _logit(y) if self.link == "logit" else y
        params, self.cv_results_ = self._xgb_params(), []
        n_groups = 0 if groups is None else len(np.unique(np.asarray(groups)))
        tuned = self.tune and n_groups >= 3 * self.cv_folds
        if tuned:
            params, self.cv_results_ = tune_xgboost(params, x, y, groups, folds=self.cv_folds)
        self.boosters_ = []
        for k in range(self.n_fits):
            member = {**params, "random_state": self.random_state + k}
            if not tuned and n_groups >= 5:
                member["n_estimators"] = early_stopped_trees(member, x, y, groups, random_state=member["random_state"])
            self.boosters_.append(self._xgb(member).fit(x, y))
            if k == 0:
                self.best_params_ = member

    def fit(self, X: pd.DataFrame | np.ndarray, y: Sequence[float],
            groups: Sequence[Any] | None = None) -> "AccuracyPredictor":
        """Fit on features ``X`` and accuracies ``y`` (fractions in [0, 1]).

        ``groups`` (one run id per row) keeps each run's checkpoints on one side of every
        cross-validation and early-stopping split.
        """
        if self.model not in MODELS:
            raise unknown_name("model", self.model, MODELS)
        if not (isinstance(self.n_fits, (int, np.integer)) and self.n_fits >= 1):
            raise ValueError(f"n_fits must be a whole number of at least 1, got {self.n_fits!r}")
        if isinstance(X, pd.DataFrame):
            self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        x = np.asarray(X, dtype=np.float64)
        yv = np.asarray(y, dtype=np.float64)
        self.n_features_in_ = x.shape[1]
        self.boosters_, self.linear_ = [], None
        if self.model == "xgboost":
            self._fit_xgb(x, yv, groups)
        else:
            self.linear_ = _fit_linear(x, yv, self.model, groups, self.random_state)
        return self

    def predict(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """Predicted accuracies, clipped to [0, 1]."""
        x = self.feature_matrix(X)
        if self.boosters_:
            raw = np.mean([booster.predict(x) for booster in self.boosters_], axis=0)
            if self.link == "logit":
                raw = _sigmoid(raw)
        else:
            p = self.linear_
            xi = np.where(np.isnan(x), p["median"], x)
            raw = ((xi - p["mean"]) / p["scale"]) @ p["coef"] + p["intercept"]
            if p.get("link") == "logit":
                raw = _sigmoid(raw)
        return np.clip(np.asarray(raw, dtype=np.float64), 0.0, 1.0)

    def feature_matrix(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """``X`` as the float64 matrix the fitted model takes, columns in fitting order.

        Raises
        ------
        SchemaMismatchError
            If ``X`` lacks columns the predictor was fitted on, or has the wrong width.
        """
        check_is_fitted(self, "n_features_in_")
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


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-np.asarray(z, dtype=np.float64)))
