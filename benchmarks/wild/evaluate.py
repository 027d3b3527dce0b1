"""The shipped predictor (or any bundle) on the wild set: error, ranking and honesty per dataset.

Reads ``wild.csv`` and the checkpoints that ``train.py`` wrote, asks the predictor for each
checkpoint's accuracy, interval and domain verdict, and prints per dataset: the mean absolute
error in points, Spearman's rho between predicted and measured accuracy, and the share of
checkpoints whose 90% interval holds the measured accuracy or whose verdict is ``outside``.
With ``--features`` it also writes the checkpoints' feature rows (the current version of
``transfer``) with their accuracies, the table committed beside ``wild.csv``
(``features-transfer.parquet`` for ``transfer`` v1, ``features-transfer-v2.parquet`` for v2);
without the checkpoints (they are not committed), it assesses the rows of the predictor's
schema version. ``--set holdout`` does the same for the held-out set
(``holdout.py``, ``holdout/``), on which nothing in perfpredict is fitted, tuned or chosen.

    python benchmarks/wild/evaluate.py [--set holdout] [--predictor DIR] [--json wild.json] [--features]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from perfpredict import load_bundle, load_pretrained
from perfpredict.predictor.bundles import PredictorBundle
from perfpredict.features.schema import get_schema
from perfpredict.features.table import FeatureTable, extract_features, load_features, save_features
from train import SETS

FEATURES = "features-transfer.parquet"
"""The committed feature rows of ``transfer`` v1; those of a later version ``N`` are ``features-transfer-vN.parquet``."""


def features_file(table: Path, version: int) -> Path:
    """Where the feature rows of ``transfer`` ``version`` lie beside the set's ``table``."""
    return table.with_name(FEATURES if version == 1 else f"features-transfer-v{version}.parquet")


def _rows(table: pd.DataFrame, found: list) -> pd.DataFrame:
    """Measured against predicted, one row per checkpoint (``found`` in the order of ``table``)."""
    rows = []
    for (_, row), p in zip(table.iterrows(), found):
        lo, hi = p.interval if p.interval is not None else (np.nan, np.nan)
        rows.append({"name": row["name"], "dataset": row["dataset"], "measured": row["test_accuracy"],
                     "predicted": p.accuracy, "low": lo, "high": hi, "verdict": p.verdict,
                     "reasons": "; ".join(p.reasons)})
    out = pd.DataFrame(rows)
    out["error"] = (out["predicted"] - out["measured"]).abs()
    out["covered_or_outside"] = out["measured"].between(out["low"], out["high"]) | (out["verdict"] == "outside")
    return out


def _bundle(predictor):
    """A bundle folder's predictor, a predictor already loaded, or (None) the shipped one."""
    if isinstance(predictor, PredictorBundle):
        return predictor
    return load_bundle(predictor) if predictor else load_pretrained()


def _known(frame: pd.DataFrame, bundle) -> pd.Series:
    """Rows of datasets the predictor was trained on (the others are left out, with a line)."""
    known = frame["dataset"].isin(bundle.datasets) if bundle.datasets else frame["dataset"].notna()
    for name in frame.loc[~known, "dataset"].unique():
        print(f"{name}: left out, the predictor was trained on {', '.join(bundle.datasets)} only")
    return known


def assess(table: pd.DataFrame, checkpoints: Path, predictor: str | PredictorBundle | None) -> pd.DataFrame:
    """One row per checkpoint: measured and predicted accuracy, interval and verdict."""
    bundle = _bundle(predictor)
    table = table[_known(table, bundle)]
    parts = [_rows(group, bundle.assess([checkpoints / f for f in group["file"]], dataset=dataset))
             for dataset, group in table.groupby("dataset", sort=False)]
    return pd.concat(parts, ignore_index=True)


def assess_features(features: FeatureTable, predictor: str | PredictorBundle | None) -> pd.DataFrame:
    """:func:`assess` from the committed feature rows, without the checkpoints (verdicts from
    the recorded layer kinds)."""
    bundle = _bundle(predictor)
    keep = _known(features.frame, bundle).to_numpy()
    rows = dataclasses.replace(features, frame=features.frame[keep].reset_index(drop=True))
    return _rows(rows.frame, bundle.assess_table(rows))


def features(table: pd.DataFrame, checkpoints: Path) -> FeatureTable:
    """The checkpoints' feature rows (schema ``transfer``) with their names and accuracies."""
    meta = table[["name", "dataset", "file", "test_accuracy"]]
    found = extract_features([checkpoints / f for f in table["file"]], "transfer", meta=meta)
    if found.failures:
        raise SystemExit(f"unreadable checkpoints: {found.failures}")
    return found


def summary(rows: pd.DataFrame) -> pd.DataFrame:
    """Per dataset: MAE (points), Spearman, share covered or flagged ``outside``, verdict counts."""
    out = []
    for dataset, g in rows.groupby("dataset", sort=False):
        out.append({"dataset": dataset, "checkpoints": len(g), "MAE (points)": 100 * g["error"].mean(),
                    "spearman": spearmanr(g["predicted"], g["measured"]).statistic,
                    "covered or outside": g["covered_or_outside"].mean(),
                    "outside": int((g["verdict"] == "outside").sum()), "edge": int((g["verdict"] == "edge").sum())})
    return pd.DataFrame(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--predictor", default=None, help="a bundle folder (default: the shipped predictor)")
    parser.add_argument("--set", choices=list(SETS), default="wild", help="wild.csv's set or the held-out one")
    parser.add_argument("--table", type=Path, default=None, help="default: the set's table")
    parser.add_argument("--checkpoints", type=Path, default=None, help="default: checkpoints/ beside the table")
    parser.add_argument("--json", default=None, help="write the summary and the rows here")
    parser.add_argument("--features", action="store_true",
                        help="write the feature rows of the current transfer version beside the table")
    args = parser.parse_args()
    args.table = args.table or SETS[args.set][1]
    args.checkpoints = args.checkpoints or args.table.parent / "checkpoints"
    table = pd.read_csv(args.table)
    bundle = _bundle(args.predictor)
    stored = features_file(args.table, bundle.schema_version)
    if args.features:
        save_features(features(table, args.checkpoints),
                      features_file(args.table, get_schema("transfer").version), float32=True)
    if all((args.checkpoints / f).exists() for f in table["file"]):
        rows = assess(table, args.checkpoints, bundle)
    elif stored.exists():
        print(f"checkpoints not at hand: assessing the feature rows of {stored.name}")
        rows = assess_features(load_features(stored), bundle)
    else:
        raise SystemExit(f"neither the checkpoints ({args.checkpoints}) nor {stored} are here: run train.py")
    result = summary(rows)
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.max_colwidth", 60):
        print(rows.drop(columns="reasons").round(3).to_string(index=False))
        print()
        print(result.round(3).to_string(index=False))
    if args.json:
        Path(args.json).write_text(json.dumps({"summary": result.to_dict("records"),
                                               "rows": rows.to_dict("records")}, indent=1, default=float))


if __name__ == "__main__":
    main()
