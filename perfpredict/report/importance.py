"""Feature importance of fitted predictors, on held-out runs.

Four measures, each per feature and aggregated per statistic family and per layer role
(:mod:`.taxonomy`):

- ``gain``: XGBoost's share of the total split gain (sums to 1);
- ``shap``: mean |SHAP value| on the held-out rows (XGBoost ``pred_contribs``), as a share;
- ``permutation``: drop in held-out R² when a feature's group of correlated features (|Spearman|
  at least ``correlation`` between every pair) is permuted together, so that correlated
  features do not hide each other; per family or role, all its features permuted together;
- ``coef`` / ``abs_share``: linear coefficients on standardized features, and their share of
  the sum of absolute coefficients.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform

from ..predictor.bundles import PredictorBundle
from ..evaluation import regression_metrics
from ..predictor.models import AccuracyPredictor
from .taxonomy import FAMILIES, describe_feature

__all__ = ["Importance", "feature_importance", "correlated_groups", "shap_values"]


@dataclass(frozen=True)
class Importance:
    """Importance tables of one bundle on one held-out set.

    Attributes
    ----------
    features : pandas.DataFrame
        One row per input: ``feature``, ``statistic``, ``family``, ``role``, ``group`` (its
        correlated group) and the measures ``{model}_{gain|shap|permutation|coef|abs_share}``,
        sorted by the first measure.
    by_family, by_role : pandas.DataFrame
        The measures aggregated: shares summed, permutation of all members together.
    scores : pandas.DataFrame
        Held-out R², Kendall τ and MAE of each model: importance of a poor model means little.
    """

    features: pd.DataFrame
    by_family: pd.DataFrame
    by_role: pd.DataFrame
    scores: pd.DataFrame

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready contents (``importance.json``)."""
        def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
            return [{k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in row.items()}
                    for row in frame.to_dict(orient="records")]

        return {"scores": records(self.scores), "by_family": records(self.by_family),
                "by_role": records(self.by_role), "features": records(self.features)}


def shap_values(pred: AccuracyPredictor, X: pd.DataFrame) -> np.ndarray:
    """SHAP values of an XGBoost predictor, shape ``(rows, features)`` (bias column dropped), in
    the units its trees fit (logits of the accuracy for ``link="logit"``); for averaged fits,
    the mean of their SHAP values (the SHAP values of the averaged output)."""
    import xgboost

    matrix = xgboost.DMatrix(pred.feature_matrix(X))
    contribs = [b.get_booster().predict(matrix, pred_contribs=True) for b in pred.boosters_]
    return np.mean(contribs, axis=0)[:, :-1]


def _booster_scores(pred: AccuracyPredictor, kind: str, width: int) -> np.ndarray:
    """XGBoost's ``kind`` importance (``weight``, ``total_gain``, ...) of each of ``width``
    input columns (0 for a column no tree splits on), averaged over the predictor's fits."""
    scores = [b.get_booster().get_score(importance_type=kind) for b in pred.boosters_]
    return np.mean([[s.get(f"f{i}", 0.0) for i in range(width)] for s in scores], axis=0)


def correlated_groups(X: pd.DataFrame, correlation: float = 0.9) -> np.ndarray:
    """A group label per column: columns whose pairwise |Spearman ρ| is at least ``correlation``
    share a label (complete linkage). Constant and all-missing columns are alone."""
    ranks = X.rank().to_numpy(dtype=np.float64)
    present = ~np.isnan(ranks)
    counts = present.sum(axis=0)
    means = np.divide(np.nansum(ranks, axis=0), counts, out=np.zeros(X.shape[1]), where=counts > 0)
    filled = np.where(present, ranks, means)  # a missing value gets its column's mean rank
    labels = np.arange(X.shape[1]) + 1
    varying = np.flatnonzero(filled.std(axis=0) > 0) if len(filled) else np.arange(0)
    if len(varying) > 1:
        rho = np.nan_to_num(np.corrcoef(filled[:, varying], rowvar=False))
        distance = np.clip(1.0 - np.abs(rho), 0.0, 1.0)
        np.fill_diagonal(distance, 0.0)
        tree = linkage(squareform(distance, checks=False), method="complete")
        labels[varying] = X.shape[1] + fcluster(tree, t=1.0 - correlation, criterion="distance")
    return np.unique(labels, return_inverse=True)[1]


_ROWS_PER_PREDICT = 1 << 16
"""Permuted copies are stacked into predictions of up to this many rows: one call per copy
costs more in call overhead than in trees."""


def _used_columns(pred: AccuracyPredictor, width: int) -> np.ndarray:
    """Which input columns the fitted model reads: split on by a tree, or a nonzero coefficient."""
    if pred.boosters_:
        return _booster_scores(pred, "weight", width) > 0
    return np.asarray(pred.linear_["coef"], dtype=float) != 0


def _sse_of_copies(pred: AccuracyPredictor, x: np.ndarray, y: np.ndarray,
                   copies: Sequence[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Squared error of the predictions on each copy of ``x`` whose ``columns`` are reordered
    by ``order`` (one ``(columns, order)`` per copy), predicted in one call."""
    n = len(x)
    stacked = np.tile(x, (len(copies), 1))
    for i, (columns, order) in enumerate(copies):
        stacked[i * n:(i + 1) * n, columns] = x[np.ix_(order, columns)]
    return ((pred.predict(stacked).reshape(len(copies), n) - y) ** 2).sum(axis=1)


def _permutations(pred: AccuracyPredictor, X: pd.DataFrame, y: np.ndarray, sets: Mapping[Any, Sequence[int]],
                  repeats: int, random_state: int) -> dict[Any, float]:
    """Mean drop in held-out R² when each set's columns are permuted together, ``repeats`` times.

    A set of columns the model never reads drops by exactly 0 and is not predicted.
    """
    if len(y) < 3 or np.ptp(y) == 0:
        return {key: float("nan") for key in sets}
    x = pred.feature_matrix(X)
    total = float(((y - y.mean()) ** 2).sum())
    base = 1.0 - float(((pred.predict(x) - y) ** 2).sum()) / total
    used = _used_columns(pred, x.shape[1])
    rng = np.random.default_rng(random_state)
    drops: dict[Any, list[float]] = {key: [] for key in sets}
    pending: list[tuple[Any, np.ndarray, np.ndarray]] = []

    def predict_pending() -> None:
        for (key, _, _), sse in zip(pending, _sse_of_copies(pred, x, y, [(c, o) for _, c, o in pending])):
            drops[key].append(base - (1.0 - sse / total))
        pending.clear()

    for key, columns in sets.items():
        columns = np.asarray(columns, dtype=int)
        read = used[columns].any()
        for _ in range(repeats):
            order = rng.permutation(len(x))  # drawn for every set: each set's draws do not depend on the model
            if read:
                pending.append((key, columns, order))
            else:
                drops[key].append(0.0)
            if len(pending) * len(x) >= _ROWS_PER_PREDICT:
                predict_pending()
    if pending:
        predict_pending()
    return {key: float(np.mean(values)) for key, values in drops.items()}


def _shares(values: np.ndarray) -> np.ndarray:
    total = values.sum()
    return values / total if total > 0 else values


def _model_columns(name: str, pred: AccuracyPredictor, X: pd.DataFrame) -> dict[str, np.ndarray]:
    if pred.boosters_:
        gain = _booster_scores(pred, "total_gain", X.shape[1])
        shap = np.abs(shap_values(pred, X)).mean(axis=0) if len(X) else np.zeros(X.shape[1])
        return {f"{name}_gain": _shares(gain), f"{name}_shap": _shares(shap)}
    coef = np.asarray(pred.linear_["coef"], dtype=float)
    return {f"{name}_coef": coef, f"{name}_abs_share": _shares(np.abs(coef))}


def _aggregate(features: pd.DataFrame, key: str, permutation: dict[str, dict[Any, float]],
               order: Sequence[str] | None = None) -> pd.DataFrame:
    shares = [c for c in features.columns if c.endswith(("_gain", "_shap", "_abs_share"))]
    table = features.groupby(key)[shares].sum()
    table.insert(0, "n_features", features.groupby(key).size())
    for name, drops in permutation.items():
        table[f"{name}_permutation"] = pd.Series(drops)
    if order is not None:
        table = table.reindex([k for k in order if k in table.index])
    return table.rename_axis(key).reset_index()


def feature_importance(bundle: PredictorBundle, X: pd.DataFrame, y: np.ndarray, *,
                       correlation: float = 0.9, repeats: int = 5, random_state: int = 0) -> Importance:
    """Importance of every model of ``bundle`` on held-out rows ``X`` (the bundle's inputs,
    dataset indicators included) with accuracies ``y``.

    Parameters
    ----------
    correlation : float
        |Spearman ρ| at which features are grouped for permutation.
    repeats : int
        Permutations per group (their mean is reported).
    """
    y = np.asarray(y, dtype=np.float64)
    X = X.reset_index(drop=True)
    kinds = [describe_feature(n) for n in X.columns]
    features = pd.DataFrame({"feature": list(X.columns), "statistic": [k.statistic for k in kinds],
                             "family": [k.family for k in kinds], "role": [k.role for k in kinds],
                             "group": correlated_groups(X, correlation) if len(X) > 2 else np.arange(X.shape[1])})
    sets = {key: {value: np.flatnonzero(features[key].to_numpy() == value) for value in features[key].unique()}
            for key in ("group", "family", "role")}
    permutation: dict[str, dict[str, dict[Any, float]]] = {key: {} for key in sets}
    score_rows = []
    for name, pred in bundle.models.items():
        for column, values in _model_columns(name, pred, X).items():
            features[column] = values
        for key, members in sets.items():
            permutation[key][name] = _permutations(pred, X, y, members, repeats, random_state)
        features[f"{name}_permutation"] = features["group"].map(permutation["group"][name])
        score_rows.append({"model": name, **regression_metrics(y, pred.predict(X))})
    measures = [c for c in features.columns if c.startswith(tuple(bundle.models))]
    features = features.sort_values(measures[0], ascending=False, ignore_index=True, key=np.abs)
    return Importance(features, _aggregate(features, "family", permutation["family"], FAMILIES),
                      _aggregate(features, "role", permutation["role"]), pd.DataFrame(score_rows))
