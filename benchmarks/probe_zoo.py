"""The probe zoos of zoo v2: what the new space reaches on full MNIST, Fashion-MNIST and
CIFAR-10, from their committed indexes (``data/zoos/probe-*/index.parquet``).

Two probes per dataset: ``probe-<dataset>`` samples the default space (blocks of 4, epochs
log-uniform), ``probe-<dataset>-recipes`` the corner of it that tutorials use (ReLU, full
data, Adam or Nesterov SGD at their usual rates, cosine schedule, crop/flip on CIFAR-10).
Prints, per zoo and family, the final test accuracies (min, median, max), the share of runs
within 5 points of chance, the best run's recipe and the training time recorded per run.

    python benchmarks/probe_zoo.py            # after: perfpredict zoo generate ZOO --spec data/specs/probe-*.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd
from predictor_quality import markdown

ROOT = Path(__file__).resolve().parents[1] / "data" / "zoos"
CHANCE = 0.1


def final_runs(index: pd.DataFrame) -> pd.DataFrame:
    """One row per run: its last checkpoint."""
    return index.sort_values("epoch").groupby("run_id").tail(1)


def recipe(row: pd.Series) -> str:
    arch = {k.removeprefix("config.arch."): row[k] for k in row.index
            if k.startswith("config.arch.") and pd.notna(row[k])}
    arch_text = ",".join(f"{k}={int(v) if isinstance(v, float) and v.is_integer() else v}" for k, v in sorted(arch.items()))
    return (f"{arch_text}; {row['config.optimizer']} lr {row['config.lr']:.2g} {row['config.schedule']}, "
            f"{int(row['config.epochs'])} ep, data {row['config.data_fraction']:g}, "
            f"noise {row['config.label_noise']:g}, augment {row['config.augment']}")


def summary(zoo: Path) -> pd.DataFrame:
    final = final_runs(pd.read_parquet(zoo / "index.parquet"))
    rows = []
    for family, g in final.groupby("family", sort=False):
        acc = g["test_accuracy"]
        best = g.loc[acc.idxmax()]
        rows.append({"zoo": zoo.name, "family": family, "runs": len(g),
                     "diverged": int((g["status"] == "diverged").sum()),
                     "min": acc.min(), "median": acc.median(), "max": acc.max(),
                     "near chance": float((acc < CHANCE + 0.05).mean()),
                     "train s/run": g["train_seconds"].median(), "best recipe": recipe(best)})
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("zoos", nargs="*", type=Path, help="zoo folders (default: data/zoos/probe-*)")
    parser.add_argument("--json", default=None, help="write the table here")
    args = parser.parse_args()
    zoos = args.zoos or sorted(p for p in ROOT.glob("probe-*") if (p / "index.parquet").exists())
    table = pd.concat([summary(z) for z in zoos], ignore_index=True)
    print(markdown(table))
    if args.json:
        Path(args.json).write_text(json.dumps(table.to_dict(orient="records"), indent=2))


if __name__ == "__main__":
    main()
