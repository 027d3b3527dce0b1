"""Does the shipped predictor move to ``transfer`` v2? The gate of ``RESULTS.md``, in one command.

Fits the shipped predictor's recipe (the portions its manifest lists, every run, logit link,
no settings search, five boosters refitted on every run: ``perfpredict fit --test-size 0
--no-tune --link logit --fits 5 --refit``, XGBoost only) twice, on the portions' ``transfer``
v1 tables and on their v2 tables, and compares the two sides as ``benchmarks/RESULTS.md``
("Moving the shipped predictor to ``transfer`` v2: the gate") wrote before any v2 fit:

(a) wild set, covered by the 90% interval or flagged ``outside``: v2 ≥ 0.9 on each dataset;
(b) wild set Spearman ρ: v2 ≥ 0.6 on MNIST and Fashion-MNIST;
(c) wild set MAE: v2 at most 0.5 point above v1 on each dataset;
(d) every ``domain_examples.py`` network covered or flagged ``outside`` by v2;
(e) run split per dataset (each dataset's portions fitted alone, seeds 0, 1, 2, as
    ``zoo_v2_results.py``), means over the splits: v2 R² at most 0.01 below v1's and v2
    interval coverage at most 2 points below v1's.

The wild set is read from its committed feature rows of each version (``wild/evaluate.py
--features`` writes them); the held-out set is not used. The two bundles are written to
``--out`` (``v1/``, ``v2/``).

    PERFPREDICT_DATA=../shared/data python benchmarks/transfer_v2_gate.py [--out DIR] \\
        [--examples DIR] [--seeds 3] [--fits 5] [--threads 2] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import pandas as pd

from perfpredict import load_pretrained
from perfpredict.evaluation import evaluate
from perfpredict.features import FeatureTable, concat_features, load_features
from perfpredict.predictor.bundles import PredictorBundle
from perfpredict.predictor.storage import save_bundle
from perfpredict.workflows import fit_bundle

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "benchmarks"), str(REPO / "benchmarks" / "wild")]
from evaluate import assess_features, features_file, summary as wild_summary  # noqa: E402
from train import SETS  # noqa: E402

RECIPE = {"tune": False, "link": "logit", "refit": True}
RANKED = ("mnist", "fashion_mnist")
"""The datasets whose wild-set ρ the gate asks for (b)."""


def portion_tables(version: int) -> dict[str, FeatureTable]:
    """``{dataset: table}`` of the shipped predictor's portions in ``transfer`` ``version``."""
    parts: dict[str, list[FeatureTable]] = {}
    for entry in load_pretrained().info["features"]:
        table = load_features(features_file(REPO / entry["file"], version))  # named as the wild set's rows
        parts.setdefault(str(table.frame["dataset"].iloc[0]), []).append(table)
    return {ds: concat_features(tables) for ds, tables in parts.items()}


def fit_side(tables: dict[str, FeatureTable], n_fits: int, threads: int) -> PredictorBundle:
    """The shipped recipe fitted on every run of ``tables`` (seed 0, as shipped)."""
    return fit_bundle(concat_features(list(tables.values())), ("xgboost",), test_size=0, n_fits=n_fits,
                      n_jobs=threads, random_state=0, **RECIPE).bundle


def wild_scores(bundle: PredictorBundle) -> pd.DataFrame:
    """The wild set's MAE, ρ and covered-or-``outside`` share per dataset, from its feature rows."""
    rows = load_features(features_file(SETS["wild"][1], bundle.schema_version))
    return wild_summary(assess_features(rows, bundle)).set_index("dataset")


def run_scores(tables: dict[str, FeatureTable], seeds: int, n_fits: int, threads: int) -> pd.DataFrame:
    """Per dataset, XGBoost's run-split R² and interval coverage, means over ``seeds`` splits."""
    rows = []
    for ds, table in tables.items():
        for seed in range(seeds):
            m = evaluate(table, "run", ("xgboost",), n_fits=n_fits, n_jobs=threads, random_state=seed, **RECIPE)
            overall = m[m["subset"] == "all"].iloc[0]
            rows.append({"dataset": ds, "seed": seed, "r2": overall["r2"], "coverage": overall["coverage"]})
    return pd.DataFrame(rows).groupby("dataset")[["r2", "coverage"]].mean()


def examples_covered(bundle: PredictorBundle, folder: Path) -> dict[str, bool]:
    """Whether each ``domain_examples.py`` network's interval holds its accuracy or it is flagged
    ``outside`` (trained into ``folder`` unless an earlier run kept it there)."""
    import domain_examples

    paths, actual = domain_examples.measured(folder)
    return {name: r.verdict == "outside" or r.interval[0] <= actual[name] <= r.interval[1]
            for name, r in zip(actual, bundle.assess(paths, dataset="mnist"))}


def verdict(wild: dict[int, pd.DataFrame], run: dict[int, pd.DataFrame], examples: dict[str, bool]) -> pd.DataFrame:
    """One row per check of the gate: what it compares, the measured values and whether it passes."""
    rows = []

    def check(name: str, measured: str, passed: bool) -> None:
        rows.append({"check": name, "measured": measured, "passes": bool(passed)})

    for ds in wild[2].index:
        old, new = wild[1].loc[ds], wild[2].loc[ds]
        check(f"(a) {ds} covered or outside ≥ 0.9", f"{new['covered or outside']:.3f}", new["covered or outside"] >= 0.9)
        if ds in RANKED:
            check(f"(b) {ds} ρ ≥ 0.6", f"{new['spearman']:.3f}", new["spearman"] >= 0.6)
        check(f"(c) {ds} MAE ≤ v1 + 0.5", f"{new['MAE (points)']:.2f} vs {old['MAE (points)']:.2f}",
              new["MAE (points)"] <= old["MAE (points)"] + 0.5)
    check("(d) every domain example covered or outside", ", ".join(n for n, ok in examples.items() if not ok) or "all",
          all(examples.values()))
    for ds in run[2].index:
        old, new = run[1].loc[ds], run[2].loc[ds]
        check(f"(e) {ds} run-split R² ≥ v1 - 0.01", f"{new['r2']:.3f} vs {old['r2']:.3f}", new["r2"] >= old["r2"] - 0.01)
        check(f"(e) {ds} coverage ≥ v1 - 0.02", f"{new['coverage']:.3f} vs {old['coverage']:.3f}",
              new["coverage"] >= old["coverage"] - 0.02)
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=None, help="write the two bundles here (v1/, v2/)")
    parser.add_argument("--examples", type=Path, default=None,
                        help="keep domain_examples.py's networks here (reused when already there)")
    parser.add_argument("--seeds", type=int, default=3, help="run splits per dataset (e)")
    parser.add_argument("--fits", type=int, default=5, help="XGBoost boosters averaged per fit")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    examples = args.examples or Path(tempfile.mkdtemp())
    wild, run, covered = {}, {}, {}
    for version in (1, 2):
        tables = portion_tables(version)
        bundle = fit_side(tables, args.fits, args.threads)
        if args.out:
            save_bundle(bundle, args.out / f"v{version}")
        wild[version] = wild_scores(bundle)
        run[version] = run_scores(tables, args.seeds, args.fits, args.threads)
        print(f"transfer v{version}:\n{pd.concat([wild[version], run[version]], axis=1).round(3).to_string()}\n",
              flush=True)
        if version == 2:
            covered = examples_covered(bundle, examples)
    checks = verdict(wild, run, covered)
    with pd.option_context("display.width", 200, "display.max_colwidth", 80):
        print(checks.to_string(index=False))
    print(f"\ngate {'passes' if checks['passes'].all() else 'fails'}")
    if args.json:
        args.json.write_text(json.dumps({"checks": checks.to_dict("records"),
                                         "wild": {v: w.reset_index().to_dict("records") for v, w in wild.items()},
                                         "run": {v: r.reset_index().to_dict("records") for v, r in run.items()}},
                                        indent=1, default=float))


if __name__ == "__main__":
    main()
