"""Predictor quality: perfpredict's features against the baselines, on the same zoo and splits.

For a zoo, it extracts the ``agnostic``, ``per_layer`` and ``statnn`` feature tables, then
scores XGBoost and the linear models on every split the zoo allows (random runs; leave one
family out and leave one dataset out when there are several; train on final checkpoints and
test on earlier ones), with the baselines of ``perfpredict.baselines`` and the constant
predictor on the same folds. It prints markdown tables: overall rows per split, and per
dataset and family for the run split.

    PERFPREDICT_DATA=../shared/data python benchmarks/predictor_quality.py ZOO [--out table.md] [--json rows.json]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from perfpredict.evaluation import evaluate
from perfpredict.features import zoo_features

COLUMNS = ["features", "model", "r2", "kendall_tau", "spearman_rho", "mae_points", "coverage", "width_points", "n"]


def splits_for(frame: pd.DataFrame) -> list[str]:
    """The splits this zoo supports."""
    out = ["run"]
    out += [s for s in ("family", "dataset") if frame[s].nunique() > 1]
    return out + ["epoch"]


def markdown(rows: pd.DataFrame) -> str:
    """A markdown table of ``rows`` (numbers to 3 decimals, counts as integers)."""
    rows = rows.astype({c: int for c in ("n",) if c in rows})
    head = "| " + " | ".join(rows.columns) + " |\n|" + "---|" * len(rows.columns) + "\n"
    body = "".join("| " + " | ".join(f"{v:.3f}" if isinstance(v, float) else str(v) for v in r) + " |\n"
                   for r in rows.itertuples(index=False))
    return head + body


def run(zoo: Path, models: tuple[str, ...], seed: int) -> tuple[pd.DataFrame, str]:
    start = time.perf_counter()
    tables = {s: zoo_features(zoo, s) for s in ("agnostic", "per_layer", "statnn")}
    extract_s = time.perf_counter() - start
    main = tables["agnostic"]
    extra = {"per_layer": tables["per_layer"], "statnn": tables["statnn"]}
    results = [evaluate(main, split, models, baselines=True, extra_features=extra, random_state=seed)
               for split in splits_for(main.frame)]
    rows = pd.concat(results, ignore_index=True)
    frame = main.frame
    text = [f"Zoo `{zoo}`: {len(frame)} checkpoints of {frame['run_id'].nunique()} runs "
            f"({', '.join(sorted(frame['dataset'].unique()))}; {', '.join(sorted(frame['family'].unique()))}); "
            f"accuracy {frame['test_accuracy'].min():.3f} to {frame['test_accuracy'].max():.3f} "
            f"(median {frame['test_accuracy'].median():.3f}). Features extracted in {extract_s:.1f} s.\n"]
    for (split, fold), part in rows[rows.subset == "all"].groupby(["split", "fold"], sort=False):
        text.append(f"\n### {split} split: {fold}\n\n" + markdown(part[COLUMNS]))
    per_group = rows[(rows.split == "run") & (rows.subset != "all") & (rows.features == "agnostic")]
    if len(per_group):
        text.append("\n### run split, agnostic features, per dataset and family\n\n"
                    + markdown(per_group[["subset", *COLUMNS[1:]]]))
    return rows, "".join(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("zoo", type=Path, help="A zoo folder made by `perfpredict zoo generate`.")
    parser.add_argument("--models", default="xgboost,linear,logit_linear", help="Comma-separated models.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="Write the markdown here.")
    parser.add_argument("--json", type=Path, help="Write every row (per fold, model, subset) here.")
    args = parser.parse_args()
    rows, text = run(args.zoo, tuple(args.models.split(",")), args.seed)
    emit(rows, text, args.out, args.json)


def emit(rows: pd.DataFrame, text: str, out: Path | None, json_path: Path | None) -> None:
    """Print the markdown; write it to ``out`` and every row to ``json_path`` when given."""
    print(text)
    if out:
        out.write_text(text)
    if json_path:
        rows.to_json(json_path, orient="records", indent=2)


if __name__ == "__main__":
    main()
