"""Feature importance of fitted predictors: XGBoost gain and standardized linear coefficients."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .bundles import PredictorBundle

__all__ = ["importance_table"]


def importance_table(bundle: PredictorBundle) -> pd.DataFrame:
    """One row per feature, sorted by XGBoost gain share (or by |linear coefficient|).

    Columns: ``feature``; ``xgboost_gain`` (share of total gain, sums to 1) when the bundle
    has an XGBoost model; ``linear_coef`` (coefficient on the standardized feature) and
    ``linear_abs_share`` (share of the sum of absolute coefficients) when it has a linear one.
    """
    frame = pd.DataFrame({"feature": bundle.feature_names})
    for name, pred in bundle.models.items():
        if pred.model_ is not None:
            scores = pred.model_.get_booster().get_score(importance_type="total_gain")
            gain = np.array([scores.get(f"f{i}", 0.0) for i in range(len(bundle.feature_names))])
            frame[f"{name}_gain"] = gain / gain.sum() if gain.sum() > 0 else gain
        else:
            coef = np.asarray(pred.linear_["coef"], dtype=float)
            frame[f"{name}_coef"] = coef
            total = np.abs(coef).sum()
            frame[f"{name}_abs_share"] = np.abs(coef) / total if total > 0 else np.abs(coef)
    key = next((c for c in frame.columns if c.endswith(("_gain", "_abs_share"))), "feature")
    return frame.sort_values(key, ascending=False, ignore_index=True)
