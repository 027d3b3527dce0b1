"""What else the XGBoost predictor could be, on one reference zoo's run split.

Reads a committed feature table (default: MNIST ``agnostic``), splits it by run as the
results table does (``run_split(frame, 0.25, seed)``), and fits on all training runs (no
calibration), then scores the held-out runs overall and per family:

- the predictor as used in the results table (``tune=False``: early-stopped trees);
- tuned (``tune=True``: depth and leaf weight by 3-fold grouped cross-validation);
- a faster learning rate with more trees, and deeper trees;
- one predictor per family instead of one for all.

    python benchmarks/predictor_variants.py [--table data/zoos/reference-mnist/features-agnostic.parquet]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from perfpredict.evaluation import regression_metrics, run_split
from perfpredict.features import load_features
from perfpredict.predictor.models import AccuracyPredictor
from predictor_quality import markdown  # this folder, beside this script
from reference_results import r2_by_family

VARIANTS = {
    "untuned (results table)": {"tune": False},
    "tuned": {"tune": True},
    "learning rate 0.1, up to 2000 trees": {"tune": False, "learning_rate": 0.1, "n_estimators": 2000},
    "learning rate 0.1, depth 6": {"tune": False, "learning_rate": 0.1, "n_estimators": 2000, "max_depth": 6},
}


def _scores(name: str, y: np.ndarray, predicted: np.ndarray, family: np.ndarray, seconds: float) -> dict:
    scores = regression_metrics(y, predicted)
    return {"variant": name, **{k: scores[k] for k in ("r2", "kendall_tau", "mae_points")},
            **r2_by_family(y, predicted, family), "fit s": seconds}


def compare(table_path: Path, seed: int = 0) -> pd.DataFrame:
    """One row per variant: held-out R², τ, MAE, R² per family and fitting time."""
    table = load_features(table_path)
    frame, X = table.frame, table.X.reset_index(drop=True)
    y, runs, family = frame["test_accuracy"].to_numpy(), frame["run_id"].to_numpy(), frame["family"].to_numpy()
    train, test = run_split(frame, random_state=seed)
    rows = []
    for name, params in VARIANTS.items():
        start = time.perf_counter()
        pred = AccuracyPredictor(random_state=seed, **params).fit(X.iloc[train], y[train], runs[train])
        rows.append(_scores(name, y[test], pred.predict(X.iloc[test]), family[test], time.perf_counter() - start))
    start, predicted = time.perf_counter(), np.empty(len(test))
    for f in np.unique(family):
        mine, theirs = train[family[train] == f], family[test] == f
        pred = AccuracyPredictor(tune=False, random_state=seed).fit(X.iloc[mine], y[mine], runs[mine])
        predicted[theirs] = pred.predict(X.iloc[test[theirs]])
    rows.append(_scores("one per family (untuned)", y[test], predicted, family[test], time.perf_counter() - start))
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    default = Path(__file__).parents[1] / "data" / "zoos" / "reference-mnist" / "features-agnostic.parquet"
    parser.add_argument("--table", type=Path, default=default, help="A feature table with family and run_id.")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(markdown(compare(args.table, args.seed)))


if __name__ == "__main__":
    main()
