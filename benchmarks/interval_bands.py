"""Would intervals that depend on the predicted accuracy be narrower, and still cover the wild set?

The shipped intervals have one half-width per dataset and kind of architecture (split-conformal,
widened with the distance to the training zoo). Held-out errors are far from constant: they are
small near chance and near the top of a dataset, large in between. This script fits XGBoost (the
shipped settings: logit link, no settings search) on 75% of the runs of the committed zoo v2
portions, takes the held-out runs' errors as the calibration set, and compares per dataset:

* one half-width per dataset (the split-conformal 90% half-width of the held-out errors, per
  checkpoint, as the shipped intervals took it until they were calibrated per run), against
* one per band of predicted accuracy (Mondrian conformal prediction by predicted value),

first by their widths, then by how many wild-set networks each would cover (domain verdicts left
aside). The wild set only measures here; nothing is chosen on it.

    python benchmarks/interval_bands.py [--json PATH]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupShuffleSplit

from perfpredict.features import FeatureTable, concat_features, load_features
from perfpredict.predictor.intervals import conformal_halfwidth
from perfpredict.predictor.models import AccuracyPredictor, add_dataset_indicators

REPO = Path(__file__).resolve().parents[1]
BANDS = (0.0, 0.2, 0.4, 0.6, 0.8, 0.9, 0.95, 1.0)
COVERAGE = 0.9


def _inputs(frame: pd.DataFrame, names: list[str], datasets: list[str]) -> pd.DataFrame:
    return add_dataset_indicators(frame[names].reset_index(drop=True), frame["dataset"], datasets)


def _band(predicted: np.ndarray) -> pd.Categorical:
    return pd.cut(predicted, BANDS, include_lowest=True)


def held_out_errors(table: FeatureTable, seed: int = 0) -> tuple[AccuracyPredictor, pd.DataFrame]:
    """XGBoost (logit, no settings search) fitted on 75% of the runs; the other runs' rows with
    their dataset, predicted accuracy, signed error and band of predicted accuracy."""
    frame = table.frame.reset_index(drop=True)
    y = frame["test_accuracy"].to_numpy()
    runs = (frame["dataset"] + "/" + frame["family"] + "/" + frame["run_id"].astype(str)).to_numpy()
    fit_rows, held_rows = next(GroupShuffleSplit(1, test_size=0.25, random_state=seed).split(frame, y, runs))
    X = _inputs(frame, table.feature_names, sorted(frame["dataset"].unique()))
    model = AccuracyPredictor("xgboost", tune=False, link="logit", n_jobs=2, random_state=seed).fit(
        X.iloc[fit_rows], y[fit_rows], groups=runs[fit_rows])
    held = frame.iloc[held_rows][["dataset"]].assign(predicted=model.predict(X.iloc[held_rows]))
    return model, held.assign(error=y[held_rows] - held["predicted"], band=_band(held["predicted"].to_numpy()))


def halfwidths(held: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Split-conformal 90% half-width of the errors per dataset, and per (dataset, band)."""
    return (held.groupby("dataset")["error"].agg(conformal_halfwidth, coverage=COVERAGE),
            held.groupby(["dataset", "band"], observed=True)["error"].agg(conformal_halfwidth, coverage=COVERAGE))


def covered(rows: pd.DataFrame, per_dataset: pd.Series, per_band: pd.Series) -> pd.DataFrame:
    """``rows`` (dataset, test_accuracy, predicted) with whether each width holds the accuracy
    (a band without held-out checkpoints takes its dataset's width)."""
    error = (rows["test_accuracy"] - rows["predicted"]).abs()
    bands = _band(rows["predicted"].to_numpy())
    return rows.assign(per_dataset=error <= rows["dataset"].map(per_dataset),
                       per_band=[e <= per_band.get((d, b), per_dataset[d])
                                 for e, d, b in zip(error, rows["dataset"], bands)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", type=Path, help="write the widths and coverages here")
    args = parser.parse_args()
    paths = sorted((REPO / "data" / "zoos").glob("v2-*/features-transfer.parquet"))
    table = concat_features([load_features(p) for p in paths])
    model, held = held_out_errors(table)
    per_dataset, per_band = halfwidths(held)
    counts = held.groupby(["dataset", "band"], observed=True).size()
    wild = pd.read_parquet(REPO / "benchmarks" / "wild" / "features-transfer.parquet")
    datasets = sorted(table.frame["dataset"].unique())
    wild = covered(wild.assign(predicted=model.predict(_inputs(wild, table.feature_names, datasets))),
                   per_dataset, per_band)
    print(f"{len(table.frame)} checkpoints, {len(held)} held out; 90% half-width in points "
          "(held-out checkpoints per band in brackets)")
    for dataset in datasets:
        bands = ", ".join(f"{b}: {100 * w:.1f} [{counts[(d, b)]}]" for (d, b), w in per_band.items() if d == dataset)
        print(f"  {dataset}: one width {100 * per_dataset[dataset]:.1f}; by predicted accuracy {bands}")
    share = wild.groupby("dataset")[["per_dataset", "per_band"]].mean()
    print("wild set covered (before domain verdicts):")
    print(share.round(2).to_string())
    print(wild[["name", "test_accuracy", "predicted", "per_dataset", "per_band"]].round(3).to_string(index=False))
    if args.json:
        args.json.write_text(json.dumps({
            "halfwidth": {d: float(w) for d, w in per_dataset.items()},
            "halfwidth_by_band": {f"{d} {b}": float(w) for (d, b), w in per_band.items()},
            "wild_covered": share.to_dict()}, indent=1))


if __name__ == "__main__":
    main()
