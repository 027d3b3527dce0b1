"""How much the shipped predictor's answers depend on its seed, with one XGBoost fit and with several averaged.

Fits the shipped predictor's recipe (its manifest's feature tables, every run, logit link, no
settings search) once per seed, with ``n_fits=1`` and with ``n_fits=K`` (each fit of seed ``s``
averages the boosters of seeds ``s, ..., s + K - 1``; the seeds are spaced so that no booster is
shared), the latter fitted again on every run once calibrated with ``--refit``, and prints per
dataset of the wild set: the mean absolute error (mean and range over
seeds), Spearman's rho, the share covered by the 90% interval or flagged ``outside`` (worst
seed), and the *seed spread*: the standard deviation of a checkpoint's prediction across seeds,
averaged over checkpoints, in points. The seed also draws the calibration runs, as it does for
``perfpredict fit --seed``. The held-out set is not used.

    python benchmarks/averaged_fits.py [--seeds 4] [--fits 5] [--refit] [--threads 2] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from perfpredict import load_pretrained
from perfpredict.features import FeatureTable, concat_features, load_features
from perfpredict.workflows import fit_bundle

REPO = Path(__file__).resolve().parents[1]
WILD = REPO / "benchmarks" / "wild" / "features-transfer.parquet"
sys.path.insert(0, str(WILD.parent))
from evaluate import assess_features, summary as per_dataset  # noqa: E402  (the wild set's own scoring)


def shipped_tables() -> FeatureTable:
    """The feature tables the shipped predictor was fitted on, combined."""
    files = [REPO / f["file"] for f in load_pretrained().info["features"]]
    return concat_features([load_features(f) for f in files])


def predictions(table: FeatureTable, wild: FeatureTable, n_fits: int, refit: bool, seed: int,
                threads: int) -> pd.DataFrame:
    """The wild set's rows assessed by the shipped recipe fitted with ``n_fits`` boosters from ``seed``."""
    bundle = fit_bundle(table, ("xgboost",), test_size=0, tune=False, link="logit", refit=refit, n_fits=n_fits,
                        n_jobs=threads, random_state=seed).bundle
    return assess_features(wild, bundle)


def summary(runs: dict[tuple[str, int], pd.DataFrame]) -> pd.DataFrame:
    """One row per (recipe, dataset): error, ranking, honesty over seeds, and the seed spread."""
    rows = []
    for recipe in dict.fromkeys(k for k, _ in runs):
        frames = [f for (k, _), f in runs.items() if k == recipe]
        scores = pd.concat([per_dataset(f) for f in frames])
        for dataset, g in scores.groupby("dataset", sort=False):
            predicted = [f.loc[f["dataset"] == dataset, "predicted"].to_numpy() for f in frames]
            rows.append({"recipe": recipe, "dataset": dataset, "seeds": len(g), "mae_mean": g["MAE (points)"].mean(),
                         "mae_min": g["MAE (points)"].min(), "mae_max": g["MAE (points)"].max(),
                         "rho_mean": g["spearman"].mean(), "covered_or_outside_min": g["covered or outside"].min(),
                         "seed_spread_points": 100 * np.std(predicted, axis=0).mean()})
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=4, help="Seeds per setting (default 4).")
    parser.add_argument("--fits", type=int, default=5, help="Boosters averaged (default 5).")
    parser.add_argument("--refit", action="store_true", help="Refit the averaged boosters on every run.")
    parser.add_argument("--threads", type=int, default=2, help="XGBoost threads (default 2).")
    parser.add_argument("--json", type=Path, help="Also write the summary here.")
    args = parser.parse_args()
    if (args.fits, args.refit) == (1, False):
        raise SystemExit("--fits 1 without --refit is the one-booster recipe itself: nothing to compare")
    recipes = {"one booster": (1, False), f"{args.fits} boosters{', refit' if args.refit else ''}": (args.fits, args.refit)}
    table, wild = shipped_tables(), load_features(WILD)
    runs = {}
    for recipe, (fits, refit) in recipes.items():
        for i in range(args.seeds):
            start = time.perf_counter()
            runs[recipe, i] = predictions(table, wild, fits, refit, i * fits, args.threads)
            print(f"{recipe}, seed {i * fits}: {time.perf_counter() - start:.0f} s", flush=True)
    result = summary(runs)
    print(result.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    single, averaged = (result[result["recipe"] == k].set_index("dataset") for k in recipes)
    ratio = averaged["seed_spread_points"] / single["seed_spread_points"]
    print("seed spread, averaged / single: " + ", ".join(f"{d} {r:.2f}" for d, r in ratio.items()))
    if args.json:
        args.json.write_text(json.dumps(result.to_dict(orient="records"), indent=2))


if __name__ == "__main__":
    main()
