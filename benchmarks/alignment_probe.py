"""Do consecutive layers learn to fit each other? The ``alignment`` statistics, probed beside ``transfer`` v1.

The statistics (:mod:`perfpredict.features.alignment`, schema ``alignment``; ``transfer`` v2
holds them) measured on zoo portions whose committed tables are ``transfer`` v1: they take
zoo folders with their checkpoints and the committed table of the same portion
(``data/zoos/<zoo name>/features-transfer.parquet``, or the zoo's own), and add the
``alignment`` columns to it. Prints the Spearman ρ of each statistic with test accuracy per
family (all and trained checkpoints) beside the best single ``transfer`` feature, then held-out
Kendall τ and R² of XGBoost (settings as ``transfer.py``) on ``transfer`` v1 and ``learned``,
with and without the statistics: run split over ``--seeds`` seeds, and leave one family out
with several families.

    python benchmarks/alignment_probe.py ZOO [ZOO ...] [--seeds 5] [--json rows.json] [--threads N]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from perfpredict.checkpoints import load_checkpoint
from perfpredict.evaluation import evaluate
from perfpredict.features import FeatureTable, concat_features, get_schema, load_features
from perfpredict.features.batching import feature_matrix

ALIGNMENT = get_schema("alignment")
STATS = list(ALIGNMENT.fixed_names)
DATA = Path(__file__).resolve().parents[1] / "data" / "zoos"


def probe_table(zoo: Path) -> FeatureTable:
    """The portion's ``transfer`` v1 table with the ``alignment`` statistics as extra frame columns."""
    own = zoo / "features-transfer.parquet"
    table = load_features(own if own.exists() else DATA / zoo.name / "features-transfer.parquet").select("transfer@1")
    index = pd.read_parquet(zoo / "index.parquet").dropna(subset=["path"])
    index = index[index["status"] == "ok"]
    values = feature_matrix(ALIGNMENT, [load_checkpoint(zoo / p) for p in index["path"]], STATS)
    stats = pd.DataFrame(values, columns=STATS).assign(run_id=index["run_id"].to_numpy(),
                                                       epoch=index["epoch"].to_numpy())
    frame = table.frame.merge(stats, on=["run_id", "epoch"], how="inner", validate="one_to_one")
    return FeatureTable(frame.reset_index(drop=True), table.schema, table.schema_version, table.feature_names)


def feature_sets(table: FeatureTable) -> dict[str, FeatureTable]:
    """``transfer`` v1 and ``learned``, each with and without the ``alignment`` statistics."""
    learned = [c for c in table.feature_names if c.startswith("learned.")]
    names = {"transfer": table.feature_names, "learned": learned,
             "transfer+alignment": [*table.feature_names, *STATS], "learned+alignment": [*learned, *STATS]}
    return {k: FeatureTable(table.frame, k, table.schema_version, v) for k, v in names.items()}


def _spearman(part: pd.DataFrame, columns: list[str]) -> pd.Series:
    """Spearman ρ of each column with test accuracy (Pearson of ranks; NaN for constant columns)."""
    ranks = part[columns].rank()
    varies = ranks.columns[ranks.std() > 0]
    return ranks[varies].corrwith(part["test_accuracy"].rank()).reindex(columns)


def correlations(table: FeatureTable) -> pd.DataFrame:
    """Spearman ρ with accuracy per family, over all and over trained checkpoints (epoch 1 on):
    each statistic, and the best ``transfer`` feature."""
    rows = []
    for family, group in table.frame.groupby("family"):
        for checkpoints, part in (("all", group), ("trained", group[group["epoch"] >= 1])):
            rho = _spearman(part, [*table.feature_names, *STATS])
            best = rho[table.feature_names].abs().idxmax()
            rows.append({"family": family, "checkpoints": checkpoints, "n": len(part),
                         **rho[STATS].round(3).to_dict(), "best transfer feature": best,
                         "its rho": round(float(rho[best]), 3)})
    return pd.DataFrame(rows)


def scores(table: FeatureTable, split: str, seed: int, threads: int | None = None) -> pd.DataFrame:
    """XGBoost's held-out τ and R² on each feature set (whole held-out side), fitted with
    ``threads`` threads (``None``: every core)."""
    sets = feature_sets(table)
    rows = evaluate(sets["transfer"], split, ("xgboost",), extra_features={k: v for k, v in sets.items()
                                                                          if k != "transfer"},
                    tune=False, link="logit", n_jobs=threads, random_state=seed)
    return rows[rows["subset"] == "all"][["fold", "features", "kendall_tau", "r2"]].assign(split=split, seed=seed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("zoos", nargs="+", type=Path)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--threads", type=int, help="XGBoost threads (default: every core)")
    args = parser.parse_args()
    table = concat_features([probe_table(z) for z in args.zoos])
    print(correlations(table).to_string(index=False))
    parts = [scores(table, "run", s, args.threads) for s in range(args.seeds)]
    if table.frame["family"].nunique() > 1:
        parts.append(scores(table, "family", 0, args.threads))
    rows = pd.concat(parts, ignore_index=True)
    print("\nheld-out Kendall τ / R² (run split: mean over seeds)")
    print(rows.groupby(["split", "fold", "features"])[["kendall_tau", "r2"]].mean().unstack("features")
          .round(3).to_string())
    if args.json:
        args.json.write_text(json.dumps(rows.to_dict(orient="records"), indent=1))


if __name__ == "__main__":
    main()
