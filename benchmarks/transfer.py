"""Do the features transfer across architectures? Leave-one-family-out and leave-one-dataset-
out quality of XGBoost on ``agnostic`` v2, the ``learned`` statistics alone
(``perfpredict.features.learned``), the ``alignment`` statistics alone
(``perfpredict.features.alignment``; only with ``transfer`` v2 tables) and all together (schema
``transfer``), and the run split beside them; and the seed paper's good-vs-poor similarity test
(``perfpredict.report.analysis``) on each set.

Takes zoo folders; zoos of the same dataset are pooled. Each zoo's ``features-transfer-v2.parquet``
(the committed portions generated again) or ``features-transfer.parquet`` (the committed zoo v2
portions: ``transfer`` v1) is read when it is there, else extracted from
its checkpoints (``transfer`` v2) and cached there (``--cache`` to put it elsewhere); the other
sets are its columns. Tables of both versions are all taken as v1. Prints, per split, dataset
and held-out family, Kendall τ, Spearman ρ and R² of each feature set (XGBoost without the
settings search, as ``--no-tune``); ``--json PATH`` writes, per feature set, ``{"lofo":
{dataset: {family: {"tau", "r2"}}}, "lodo": {dataset: {...}}, "run": {dataset: {...}}}``.

    python benchmarks/transfer.py ZOO [ZOO ...] [--json transfer.json] [--link identity] [--threads N]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from perfpredict.evaluation import evaluate
from perfpredict.features import FeatureTable, concat_features, load_features, save_features, zoo_features
from perfpredict.features.schema import schema_label, schema_parts
from perfpredict.report.analysis import similarity_test


def portion_table(zoo: Path, cache: Path | None) -> FeatureTable:
    """The zoo's ``transfer`` table: its own (v2 first) or the cached one, else extracted from
    its checkpoints and cached."""
    path = (cache / f"{zoo.name}-transfer.parquet") if cache else zoo / "features-transfer.parquet"
    for found in (zoo / "features-transfer-v2.parquet", zoo / "features-transfer.parquet", path):
        if found.exists():
            return load_features(found)
    table = zoo_features(zoo, "transfer")
    save_features(table, path, float32=True)
    return table


def feature_sets(tables: list[FeatureTable], version: int | None = None) -> dict[str, FeatureTable]:
    """The feature sets of pooled ``transfer`` tables, rows aligned, each table taken at
    ``version`` (default: the earliest among them)."""
    version = min(t.schema_version for t in tables) if version is None else version
    every = concat_features([t.select(schema_label("transfer", version)) for t in tables])
    return {**{p: every.select(p) for p in schema_parts("transfer", version)}, "transfer": every}


def scores(tables: dict[str, FeatureTable], split: str, link: str = "logit",
           threads: int | None = None) -> pd.DataFrame:
    """XGBoost's held-out rows of every feature set on ``split``: one row per fold and subset;
    XGBoost fits the accuracy through ``link`` (the shipped predictor's: logit) with
    ``threads`` threads (``None``: every core)."""
    main = tables["agnostic"]
    rows = evaluate(main, split, ("xgboost",), extra_features={k: v for k, v in tables.items() if k != "agnostic"},
                    tune=False, link=link, n_jobs=threads)
    return rows[rows["subset"] == "all"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("zoos", nargs="+", type=Path)
    parser.add_argument("--cache", type=Path)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--link", default="logit", choices=("identity", "logit"),
                        help="What XGBoost fits (default: logit, as the shipped predictor).")
    parser.add_argument("--threads", type=int, help="XGBoost threads (default: every core)")
    args = parser.parse_args()
    by_dataset: dict[str, list[Path]] = {}
    for zoo in args.zoos:
        dataset = pd.read_parquet(zoo / "index.parquet", columns=["dataset"])["dataset"].iloc[0]
        by_dataset.setdefault(dataset, []).append(zoo)
    loaded = {zoo: portion_table(zoo, args.cache) for zoo in args.zoos}
    version = min(t.schema_version for t in loaded.values())
    result: dict[str, dict] = {}
    every = {}
    for dataset, zoos in sorted(by_dataset.items()):
        tables = feature_sets([loaded[z] for z in zoos], version)
        for s in tables:
            result.setdefault(s, {"lofo": {}, "lodo": {}, "run": {}})
        every[dataset] = tables
        one_family = tables["transfer"].frame["family"].nunique() < 2
        for split, key in (("family", "lofo"), ("run", "run")):
            if split == "family" and one_family:
                print(f"\n{dataset}: one family only, no leave-one-family-out")
                continue
            rows = scores(tables, split, args.link, args.threads)
            print(f"\n{dataset}, {split} split (XGBoost, held-out fold)")
            print(rows[["fold", "features", "kendall_tau", "spearman_rho", "r2", "n"]].round(3).to_string(index=False))
            for r in rows.itertuples():
                score = {"tau": r.kendall_tau, "r2": r.r2}
                if key == "run":
                    result[r.features]["run"][dataset] = score
                else:
                    result[r.features]["lofo"].setdefault(dataset, {})[str(r.fold).removeprefix("family=")] = score
    print("\ngood vs poor runs (seed paper): dispersion of good over poor runs' standardized features")
    similarity = pd.concat([similarity_test(t[s]).assign(features=s) for t in every.values() for s in t])
    print(similarity[["dataset", "scope", "features", "n_good", "n_poor", "ratio", "p_value"]].round(3)
          .to_string(index=False))
    if len(every) > 1:
        pooled = {s: concat_features([t[s] for t in every.values()]) for s in result}
        rows = scores(pooled, "dataset", args.link, args.threads)
        print("\nleave one dataset out (XGBoost)")
        print(rows[["fold", "features", "kendall_tau", "spearman_rho", "r2", "n"]].round(3).to_string(index=False))
        for r in rows.itertuples():
            result[r.features]["lodo"][str(r.fold).removeprefix("dataset=")] = {"tau": r.kendall_tau, "r2": r.r2}
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
