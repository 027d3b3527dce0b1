"""How much would a larger zoo help? Held-out quality of XGBoost against the number of training
runs, from the committed zoo v2 tables only (``data/zoos/v2-*/features-transfer.parquet``).

Per dataset and seed, the split of ``zoo_v2_results.py`` is drawn once: a quarter of the runs
held out (``--split run``), or each family in turn (``--split family``). The predictor is fitted
on 1/8, 1/4, 1/2 and all of the training runs (nested: each fraction's runs include the
smaller fractions'), and scored per family on the same held-out checkpoints. XGBoost fits the
logit of the accuracy with the default settings (``AccuracyPredictor``, 600 trees: no early
stopping, so that every size gets the same model). Prints R² and Kendall τ per dataset,
family and fraction (mean over seeds), then, per dataset, the gain of the last doubling of
the runs and how many more doublings the targets of issue [L] (R² 0.95, τ 0.85) would take if
every doubling gained as much (an extrapolation, not a measurement).

    python benchmarks/zoo_size.py [--split run|family] [--seeds 3] [--datasets mnist,...] [--json rows.json]

About 8 minutes here for ``--split run`` with 3 seeds, as for ``--split family --seeds 1``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from perfpredict.evaluation import TARGET, iter_splits, regression_metrics
from perfpredict.features import FeatureTable
from perfpredict.predictor.models import AccuracyPredictor
from zoo_v2_results import R2, TAU, load_tables  # this folder, beside this script

FRACTIONS = (0.125, 0.25, 0.5, 1.0)


def nested_runs(runs: np.ndarray, fractions: Sequence[float], seed: int) -> dict[float, np.ndarray]:
    """For each fraction, the first ``fraction`` of the unique ``runs`` in one random order
    (at least 2 runs): every fraction's runs include those of the smaller ones."""
    order = np.random.default_rng(seed).permutation(np.unique(runs))
    return {f: order[:max(2, int(round(f * len(order))))] for f in fractions}


def _scores(y: np.ndarray, p: np.ndarray, families: np.ndarray) -> list[dict]:
    groups = [("all", np.ones(len(y), dtype=bool))] if len(np.unique(families)) > 1 else []
    groups += [(str(f), families == f) for f in np.unique(families)]
    scores = [(name, s, regression_metrics(y[s], p[s])) for name, s in groups if s.sum() > 1]
    return [{"family": name, "r2": m["r2"], "tau": m["kendall_tau"], "n": int(s.sum())} for name, s, m in scores]


def curve(table: FeatureTable, split: str = "run", seeds: int = 3,
          fractions: Sequence[float] = FRACTIONS, n_jobs: int = 2) -> pd.DataFrame:
    """Held-out R² and τ per fold, family, training fraction and seed (one row each)."""
    frame = table.frame.reset_index(drop=True)
    X, y = table.X.reset_index(drop=True), frame[TARGET].to_numpy(dtype=np.float64)
    runs, families = frame["run_id"].to_numpy(), frame["family"].astype(str).to_numpy()
    rows = []
    for seed in range(seeds):
        for fold, train, test in iter_splits(frame, split, random_state=seed):
            for fraction, kept in nested_runs(runs[train], fractions, seed).items():
                rows_in = train[np.isin(runs[train], kept)]
                model = AccuracyPredictor(model="xgboost", link="logit", n_jobs=n_jobs, random_state=seed)
                p = model.fit(X.iloc[rows_in], y[rows_in]).predict(X.iloc[test])
                rows += [{"fold": fold, "seed": seed, "fraction": fraction, "runs": len(kept), **s}
                         for s in _scores(y[test], p, families[test])]
    return pd.DataFrame(rows)


def doublings(rows: pd.DataFrame) -> pd.DataFrame:
    """Per dataset (the ``all`` rows, or the mean over held-out families), the gain of the last
    doubling of the runs and the further doublings each target would take at that gain."""
    out = []
    for ds, part in rows.groupby("dataset"):
        pooled = part[part["family"] == "all"] if (part["family"] == "all").any() else part
        mean = pooled.groupby("fraction")[["r2", "tau", "runs"]].mean().sort_index()
        last, before = mean.iloc[-1], mean.iloc[-2]
        row = {"dataset": ds, "runs": int(last["runs"])}
        for key, target in (("r2", R2), ("tau", TAU)):
            gain = last[key] - before[key]
            row[key] = last[key]
            row[f"{key} gain per doubling"] = gain
            row[f"doublings to {target}"] = (0.0 if last[key] >= target else
                                            (target - last[key]) / gain if gain > 0 else np.inf)
        out.append(row)
    return pd.DataFrame(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="run", choices=("run", "family"))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--datasets", help="Comma-separated (default: every dataset of zoo v2).")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    wanted = args.datasets.split(",") if args.datasets else None
    parts = []
    for ds, table in load_tables().items():
        if wanted is None or ds in wanted:
            parts.append(curve(table, args.split, args.seeds).assign(dataset=ds))
            print(f"{ds}: done", flush=True)
    rows = pd.concat(parts, ignore_index=True)
    means = rows.groupby(["dataset", "family", "fraction"])[["r2", "tau"]].mean().unstack("fraction")
    print(f"\n{args.split} split, held-out R² and Kendall τ by fraction of the training runs "
          f"(mean of {args.seeds} seeds)")
    print(means.round(3).to_string())
    print("\nif every further doubling of the runs gained as much as the last one")
    print(doublings(rows).round(3).to_string(index=False))
    if args.json:
        args.json.write_text(json.dumps(rows.to_dict(orient="records"), indent=1))


if __name__ == "__main__":
    main()
