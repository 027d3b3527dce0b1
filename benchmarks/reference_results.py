"""Results on the reference zoos: within-family, cross-family and cross-dataset prediction,
the baselines on the same splits, and the seed paper's good-vs-poor finding.

Reads only the committed feature tables ``data/zoos/reference-<dataset>/features-<schema>.parquet``
(no checkpoints, no dataset), so every number can be reproduced from the repository:

    python benchmarks/reference_results.py --out results.md --json rows.json

Rows:
- run split per dataset (25% of runs held out), scored per family: XGBoost and linear on
  ``agnostic``, ``per_layer`` and ``statnn``, and the baselines of ``perfpredict.baselines``;
- leave-one-family-out per dataset (``agnostic``; the other schemas have other columns per
  family, so a held-out family's are all missing);
- leave-one-dataset-out over all datasets (``agnostic``);
- zoo size: XGBoost on 25%, 50% and 100% of each run split's training runs, scored on the
  same held-out runs (does a larger zoo help?);
- the similarity test of good vs poor runs (``perfpredict.report.analysis.similarity_test``);
- each target of the results table, met or missed and by how much.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from perfpredict.evaluation import evaluate, regression_metrics, run_split
from perfpredict.features import FeatureTable, concat_features, load_features
from perfpredict.predictor.models import AccuracyPredictor
from perfpredict.report.analysis import similarity_test
from predictor_quality import emit, markdown  # this folder, beside this script

DATASETS = ("mnist", "fashion_mnist", "cifar10")
TARGETS = {"mnist": (0.98, 0.93), "fashion_mnist": (0.98, 0.93), "cifar10": (0.95, 0.90)}
"""Within-family (R², Kendall τ) to reach per dataset."""
LOFO_TAU = 0.85
COVERAGE_TOLERANCE = 0.03
FRACTIONS = (0.25, 0.5, 1.0)
"""Fractions of the training runs in the zoo-size rows."""
SCORES = ["r2", "kendall_tau", "mae_points", "coverage", "width_points", "n"]


def load_tables(root: Path, datasets: tuple[str, ...]) -> dict[str, dict[str, FeatureTable]]:
    """``{dataset: {schema: table}}`` of the reference zoos present under ``root``."""
    out = {}
    for ds in datasets:
        folder = root / f"reference-{ds}"
        if (folder / "features-agnostic.parquet").exists():
            out[ds] = {s: load_features(folder / f"features-{s}.parquet") for s in ("agnostic", "per_layer", "statnn")}
    return out


def _timed(label: str, fn, *args, **kwargs) -> pd.DataFrame:
    start = time.perf_counter()
    rows = fn(*args, **kwargs)
    print(f"  {label}: {time.perf_counter() - start:.0f} s", flush=True)
    return rows


def score_all(tables: dict[str, dict[str, FeatureTable]], models: tuple[str, ...], seed: int,
              tune: bool = True) -> pd.DataFrame:
    """Every evaluation row, with a ``dataset`` column (``all`` for the cross-dataset rows)."""
    parts, opts = [], {"tune": tune, "random_state": seed}
    for ds, t in tables.items():
        extra = {"per_layer": t["per_layer"], "statnn": t["statnn"]}
        run = _timed(f"{ds} run split", evaluate, t["agnostic"], "run", models, baselines=True,
                     extra_features=extra, **opts)
        lofo = _timed(f"{ds} leave-one-family-out", evaluate, t["agnostic"], "family", models, **opts)
        parts += [run.assign(dataset=ds), lofo.assign(dataset=ds)]
    if len(tables) > 1:
        combined = concat_features([t["agnostic"] for t in tables.values()])
        lodo = _timed("leave-one-dataset-out", evaluate, combined, "dataset", models, **opts)
        parts.append(lodo.assign(dataset="all"))
    return pd.concat(parts, ignore_index=True)


def r2_by_family(y: np.ndarray, predicted: np.ndarray, family: np.ndarray) -> dict[str, float]:
    """``{"r2 FAMILY": R²}`` of the rows of each family."""
    return {f"r2 {f}": regression_metrics(y[family == f], predicted[family == f])["r2"] for f in np.unique(family)}


def zoo_size(tables: dict[str, dict[str, FeatureTable]], seed: int, tune: bool = True,
             fractions: tuple[float, ...] = FRACTIONS) -> pd.DataFrame:
    """XGBoost on the ``agnostic`` features of a growing random part of each run split's
    training runs (all of them fit; no calibration), scored on the same held-out runs."""
    out = []
    for ds, t in tables.items():
        frame, X = t["agnostic"].frame, t["agnostic"].X.reset_index(drop=True)
        y, runs, family = frame["test_accuracy"].to_numpy(), frame["run_id"].to_numpy(), frame["family"].to_numpy()
        train, test = run_split(frame, random_state=seed)
        pool = np.random.default_rng(seed).permutation(np.unique(runs[train]))
        for fraction in fractions:
            chosen = pool[: round(fraction * len(pool))]
            rows = train[np.isin(runs[train], chosen)]
            pred = AccuracyPredictor(tune=tune, random_state=seed).fit(X.iloc[rows], y[rows], runs[rows])
            predicted = pred.predict(X.iloc[test])
            out.append({"dataset": ds, "training runs": len(chosen), **regression_metrics(y[test], predicted),
                        **r2_by_family(y[test], predicted, family[test])})
    return pd.DataFrame(out).drop(columns=["spearman_rho", "coverage", "width_points"])


def _family(subset: str) -> str:
    return subset.split("=", 1)[1] if subset.startswith("family=") else subset


def within_family(rows: pd.DataFrame) -> pd.DataFrame:
    """Run-split rows per dataset and family (and ``all``)."""
    run = rows[(rows.split == "run") & ~rows.subset.str.startswith("dataset=")]
    out = run.assign(family=run.subset.map(_family))
    return out[["dataset", "family", "features", "model", *SCORES]]


def targets(rows: pd.DataFrame) -> pd.DataFrame:
    """Each target with the measured value and whether it is met."""
    out = []
    within = within_family(rows)
    best = within[(within.features == "agnostic") & (within.model == "xgboost") & (within.family != "all")]
    for r in best.itertuples():
        r2_target, tau_target = TARGETS[r.dataset]
        out.append({"target": f"{r.dataset} {r.family} R² ≥ {r2_target}", "measured": r.r2, "met": r.r2 >= r2_target})
        out.append({"target": f"{r.dataset} {r.family} τ ≥ {tau_target}", "measured": r.kendall_tau,
                    "met": r.kendall_tau >= tau_target})
    overall = within[(within.family == "all") & within.model.isin(["xgboost"])].set_index(["dataset", "features"])
    for ds in within.dataset.unique():
        if (ds, "statnn") in overall.index:
            ours, theirs = overall.loc[(ds, "agnostic"), "r2"], overall.loc[(ds, "statnn"), "r2"]
            out.append({"target": f"{ds} agnostic R² above statnn ({theirs:.3f})", "measured": ours,
                        "met": ours > theirs})
    lofo = rows[(rows.split == "family") & (rows.subset == "all") & (rows.features == "agnostic")
                & (rows.model == "xgboost")]
    for r in lofo.itertuples():
        out.append({"target": f"{r.dataset} {r.fold} τ ≥ {LOFO_TAU}", "measured": r.kendall_tau,
                    "met": r.kendall_tau >= LOFO_TAU})
    cov = within[within.features == "agnostic"]
    for r in cov.itertuples():
        gap = abs(r.coverage - rows.nominal_coverage.iloc[0])
        out.append({"target": f"{r.dataset} {r.family} {r.model} coverage within 3 points of nominal",
                    "measured": r.coverage, "met": gap <= COVERAGE_TOLERANCE})
    table = pd.DataFrame(out)
    return table.assign(met=table["met"].map({True: "yes", False: "**missed**"}))


def findings(tables: dict[str, dict[str, FeatureTable]]) -> pd.DataFrame:
    """The similarity test of good vs poor runs, per dataset."""
    return pd.concat([similarity_test(t["agnostic"]) for t in tables.values()], ignore_index=True)


def describe(tables: dict[str, dict[str, FeatureTable]]) -> pd.DataFrame:
    """Runs, checkpoints and the accuracy range per dataset and family."""
    frame = pd.concat([t["agnostic"].frame for t in tables.values()], ignore_index=True)
    final = frame[frame.epoch == frame.groupby("run_id").epoch.transform("max")]
    g = final.groupby(["dataset", "family"]).test_accuracy
    out = pd.DataFrame({"runs": g.size(), "final acc min": g.min(), "median": g.median(), "max": g.max()})
    out.insert(1, "checkpoints", frame.groupby(["dataset", "family"]).size())
    return out.reset_index()


def report(rows: pd.DataFrame, tables: dict[str, dict[str, FeatureTable]], sizes: pd.DataFrame) -> str:
    """The markdown of every section."""
    within = within_family(rows)
    main = within[within.features.isin(["agnostic", "per_layer", "statnn"])]
    base = within[(within.family == "all") & ~within.features.isin(["agnostic", "per_layer", "statnn"])]
    other = rows[(rows.split != "run") & (rows.subset == "all")]
    sim = findings(tables)
    text = [
        "### Zoos\n\n" + markdown(describe(tables)),
        "\n### Run split, per dataset and family\n\n" + markdown(main),
        "\n### Baselines on the same run split (all families)\n\n" + markdown(base),
        "\n### Leave one family out, leave one dataset out\n\n"
        + markdown(other[["dataset", "fold", "features", "model", *SCORES]]),
        "\n### Zoo size (XGBoost, agnostic, run split)\n\n" + markdown(sizes),
        "\n### Good vs poor runs (seed paper)\n\n"
        + markdown(sim[["dataset", "scope", "n_good", "n_poor", "dispersion_good", "dispersion_poor", "ratio",
                        "p_value"]]),
        "\n### Targets\n\n" + markdown(targets(rows)),
    ]
    return "".join(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).parents[1] / "data" / "zoos",
                        help="Folder holding reference-<dataset>/features-<schema>.parquet.")
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--models", default="xgboost,linear")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-tune", dest="tune", action="store_false",
                        help="Early-stop XGBoost's trees but skip its settings search (about 15x faster).")
    parser.add_argument("--out", type=Path, help="Write the markdown here.")
    parser.add_argument("--json", type=Path, help="Write every evaluation row here.")
    args = parser.parse_args()
    tables = load_tables(args.data, tuple(args.datasets.split(",")))
    if not tables:
        raise SystemExit(f"no reference feature tables under {args.data}")
    print(f"datasets: {', '.join(tables)}", flush=True)
    rows = score_all(tables, tuple(args.models.split(",")), args.seed, args.tune)
    sizes = _timed("zoo size", zoo_size, tables, args.seed, args.tune)
    emit(rows, text=report(rows, tables, sizes), out=args.out, json_path=args.json)


if __name__ == "__main__":
    main()
