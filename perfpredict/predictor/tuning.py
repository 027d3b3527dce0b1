"""XGBoost settings chosen on the training runs alone: grouped cross-validation, early stopping.

Every fold keeps all checkpoints of a run on one side, so a setting is judged on runs it did
not see; the number of trees is found by early stopping on the held-out fold. The test runs
of an evaluation never reach this module.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from sklearn.model_selection import GroupKFold, GroupShuffleSplit

__all__ = ["XGB_GRID", "tune_xgboost", "early_stopped_trees"]

XGB_GRID: tuple[dict[str, float], ...] = (
    {"max_depth": 3, "min_child_weight": 3.0},
    {"max_depth": 3, "min_child_weight": 1.0},
    {"max_depth": 6, "min_child_weight": 1.0},
    {"max_depth": 6, "min_child_weight": 5.0},
)
"""Settings tried by :func:`tune_xgboost` (on top of the predictor's own)."""


def _fit_scored(base: dict[str, Any], x: np.ndarray, y: np.ndarray, train: np.ndarray,
                valid: np.ndarray, rounds: int) -> tuple[float, int]:
    """Validation RMSE and best number of trees of one early-stopped fit."""
    from xgboost import XGBRegressor

    model = XGBRegressor(**base, early_stopping_rounds=rounds)
    model.fit(x[train], y[train], eval_set=[(x[valid], y[valid])], verbose=False)
    return float(model.best_score), int(model.best_iteration) + 1


def early_stopped_trees(base: dict[str, Any], x: np.ndarray, y: np.ndarray, groups: Sequence[Any],
                        *, rounds: int = 50, valid_size: float = 0.2, random_state: int = 0) -> int:
    """Trees for ``base`` settings, by early stopping on a held-out part of the runs."""
    split = GroupShuffleSplit(n_splits=1, test_size=valid_size, random_state=random_state)
    train, valid = next(split.split(x, y, groups))
    return _fit_scored(base, x, y, train, valid, rounds)[1]


def tune_xgboost(base: dict[str, Any], x: np.ndarray, y: np.ndarray, groups: Sequence[Any], *,
                 grid: Sequence[dict[str, Any]] = XGB_GRID, folds: int = 3,
                 rounds: int = 50) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Choose settings from ``grid`` by ``folds``-fold cross-validation grouped by run.

    Parameters
    ----------
    base : dict
        XGBRegressor settings; ``n_estimators`` is the most trees a fit may grow.
    x, y, groups : arrays
        Training features, accuracies and run ids.
    grid : sequence of dict
        Settings to try on top of ``base``.
    folds, rounds : int
        Cross-validation folds; early-stopping patience in trees.

    Returns
    -------
    best : dict
        ``base`` updated with the winning settings and ``n_estimators`` set to the mean best
        number of trees over the folds.
    table : list of dict
        Every setting with its mean validation RMSE and trees.
    """
    splits = list(GroupKFold(n_splits=folds).split(x, y, groups))
    table = []
    for setting in grid:
        params = {**base, **setting}
        scores = [_fit_scored(params, x, y, tr, va, rounds) for tr, va in splits]
        table.append({**setting, "cv_rmse": float(np.mean([s for s, _ in scores])),
                      "n_estimators": int(round(np.mean([t for _, t in scores])))})
    winner = min(table, key=lambda row: row["cv_rmse"])
    best = {**base, **{k: winner[k] for k in (*grid[0], "n_estimators")}}
    return best, table
