"""Domain of applicability and widening intervals, measured on the committed reference tables.

Per dataset, on a random run split and on each leave-one-family-out fold (the held-out family
is unseen), XGBoost is fitted on the training runs with its 90% intervals calibrated on
held-out training runs, twice: plain split-conformal intervals (as before the domain model),
and intervals that widen with the distance to the training zoo. On the test runs it reports
each one's coverage and mean width, the share of checkpoints whose verdict is ``outside``
(all checks; and the statistical check alone: distance above the 99th percentile), the share
covered by their interval or flagged ``outside``, and the median distance percentile.

A second table measures the distance itself: per fold, a DomainModel is fitted on 80% of the
training runs and calibrated on the other 20%, and the ROC AUC says how well each score (the
residual off the principal subspace, the nearest-neighbour distance inside it, and their
maximum, perfpredict's distance) separates the test checkpoints from those calibration runs:
about 0.5 on a random run split, high when the test family is unseen.

    python benchmarks/domain_quality.py [--datasets mnist,fashion_mnist,cifar10] [--json PATH]

About 3 minutes on 2 cores (XGBoost without the settings search, as ``--no-tune``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GroupShuffleSplit

from perfpredict.evaluation import TARGET, iter_splits, predictor_inputs, regression_metrics
from perfpredict.features import load_features
from perfpredict.features.structure import table_layer_kinds
from perfpredict.predictor.domain import OUTSIDE_PERCENTILE, DomainModel
from perfpredict.predictor.intervals import fit_calibrated
from predictor_quality import markdown  # this folder, beside this script

REPO = Path(__file__).parents[1]


def fold_rows(table, split: str, seed: int) -> list[dict]:
    """One row of measurements per fold of ``split``."""
    frame, X = table.frame, predictor_inputs(table)
    y, runs, kinds = frame[TARGET].to_numpy(), frame["run_id"].to_numpy(), table_layer_kinds(frame)
    rows = []
    for fold, train, test in iter_splits(frame, split, random_state=seed):
        fitted = {widen: fit_calibrated("xgboost", X.iloc[train], y[train], runs[train], tune=False,
                                        layer_kinds=[kinds[i] for i in train], widen=widen, random_state=seed)
                  for widen in (False, True)}
        (pred, plain), (_, widened) = fitted[False], fitted[True]
        Xt, yt = X.iloc[test], y[test]
        predicted = pred.predict(Xt)
        found = widened.domain.assess(Xt, [kinds[i] for i in test])
        verdicts, pct = found.verdicts, found.percentiles
        before = regression_metrics(yt, predicted, plain.halfwidths(Xt))
        after = regression_metrics(yt, predicted, widened.halfwidths(Xt), verdicts == "outside")
        statistical = regression_metrics(yt, predicted, widened.halfwidths(Xt), pct > OUTSIDE_PERCENTILE)
        rows.append({"fold": fold, "n": len(test), "r2": after["r2"],
                     "coverage_plain": before["coverage"], "width_plain": before["width_points"],
                     "coverage": after["coverage"], "width": after["width_points"],
                     "edge": float(np.mean(verdicts == "edge")), "outside": after["outside"],
                     "covered_or_outside": after["covered_or_outside"],
                     "outside_statistical": statistical["outside"],
                     "covered_or_outside_statistical": statistical["covered_or_outside"],
                     "median_percentile": float(np.median(pct))})
    return rows


def score_auc(table, split: str, seed: int) -> list[dict]:
    """ROC AUC of each distance score, test checkpoints against held-out training runs."""
    frame, X = table.frame, predictor_inputs(table)
    rows = []
    for fold, train, test in iter_splits(frame, split, random_state=seed):
        splitter = GroupShuffleSplit(n_splits=1, test_size=0.2, random_state=seed)
        fit, cal = (train[i] for i in next(splitter.split(train, groups=frame["run_id"].to_numpy()[train])))
        domain = DomainModel(random_state=seed).fit(X.iloc[fit], calibration=X.iloc[cal])
        labels = np.r_[np.zeros(len(cal)), np.ones(len(test))]
        (res_c, knn_c), (res_t, knn_t) = domain.distance_parts(X.iloc[cal]), domain.distance_parts(X.iloc[test])
        scores = {"residual": (res_c, res_t), "neighbours": (knn_c, knn_t),
                  "distance (max)": (np.maximum(res_c, knn_c), np.maximum(res_t, knn_t))}
        rows.append({"fold": fold, **{f"auc {name}": float(roc_auc_score(labels, np.r_[c, t]))
                                      for name, (c, t) in scores.items()}})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="mnist,fashion_mnist,cifar10")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="Also write every row as JSON.")
    args = parser.parse_args()
    start = time.perf_counter()
    rows, aucs = [], []
    for dataset in args.datasets.split(","):
        table = load_features(REPO / "data" / "zoos" / f"reference-{dataset}" / "features-agnostic.parquet")
        for split in ("run", "family"):
            rows += [{"dataset": dataset, **r} for r in fold_rows(table, split, args.seed)]
            aucs += [{"dataset": dataset, **r} for r in score_auc(table, split, args.seed)]
    print(markdown(pd.DataFrame(rows)) + "\n" + markdown(pd.DataFrame(aucs)))
    print(f"\n{time.perf_counter() - start:.0f} s")
    if args.json:
        args.json.write_text(json.dumps({"intervals": rows, "distance_auc": aucs}, indent=2))


if __name__ == "__main__":
    main()
