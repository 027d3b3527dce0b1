"""Networks trained on raw [0, 1] pixels: does the predictor see them as it sees the others?

perfpredict's zoos, and every wild-set recipe, train on images standardized per channel. Many
tutorials do not: PyTorch's quickstart feeds ``ToTensor()`` pixels in [0, 1]. This trains
wild-set recipes again, same seeds, on [0, 1] pixels (each channel's training-set minimum and
maximum mapped to 0 and 1), measures them on the test set seen the same way, and asks the
predictor about both versions: the standardized one from the committed wild-set rows
(``features-transfer.parquet``), the raw one from its new checkpoint.

    python benchmarks/wild/raw_inputs.py [NAMES...] [--predictor DIR] [--out DIR] [--json raw.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import pandas as pd
import torch

from perfpredict.data import Dataset, load_dataset
from perfpredict.features.table import load_features
from evaluate import FEATURES, assess, assess_features
from recipes import RECIPES, Recipe
from train import accuracy, train

HERE = Path(__file__).resolve().parent
DEFAULT = ("mnist-softmax-regression", "mnist-nielsen-sigmoid-30", "mnist-keras-mlp-512", "mnist-whole-model",
           "mnist-bn-cnn-adam", "fmnist-softmax-regression", "fmnist-pytorch-quickstart", "fmnist-keras-mlp-512",
           "fmnist-lenet5-sgd", "cifar-mlp", "cifar-tutorial-net", "cifar-whole-model")


def raw_pixels(data: Dataset) -> Dataset:
    """``data`` with each channel mapped affinely so that its training-set range is [0, 1]:
    the pixels before standardization, for datasets whose darkest and brightest values occur."""
    low = data.x_train.amin(dim=(0, 2, 3), keepdim=True)
    span = data.x_train.amax(dim=(0, 2, 3), keepdim=True) - low
    return dataclasses.replace(data, x_train=(data.x_train - low) / span, x_eval=(data.x_eval - low) / span)


def train_raw(recipe: Recipe, out: Path) -> dict:
    """Train ``recipe`` on raw pixels; save its state dict under ``out``; its row."""
    data = raw_pixels(load_dataset(recipe.dataset))
    model, _, _ = train(recipe, data)
    path = out / f"{recipe.name}.pt"
    torch.save(model.state_dict(), path)
    return {"name": recipe.name, "dataset": recipe.dataset, "file": path.name,
            "test_accuracy": accuracy(model, data.x_eval, data.y_eval)}


def compare(raw: pd.DataFrame, checkpoints: Path, predictor: str | None = None) -> pd.DataFrame:
    """Per network of ``raw`` (rows of :func:`train_raw`): the standardized version's measured
    and predicted accuracy and verdict (committed rows), and the raw version's, with its interval."""
    names = raw["name"]
    std = assess_features(load_features(HERE / FEATURES), predictor).set_index("name").loc[names]
    std = std[["measured", "predicted", "verdict"]].rename(columns={"measured": "standardized"})
    found = assess(raw, checkpoints, predictor).set_index("name").loc[names]
    found = found[["measured", "predicted", "low", "high", "verdict", "covered_or_outside"]]
    found.columns = [f"{c.replace('_', ' ')} (raw)" for c in found.columns]
    return pd.concat([std, found], axis=1).rename_axis("name").reset_index()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", default=list(DEFAULT), help="wild-set recipes")
    parser.add_argument("--predictor", default=None, help="a bundle folder (default: the shipped predictor)")
    parser.add_argument("--out", type=Path, default=HERE / "raw-checkpoints")
    parser.add_argument("--json", default=None)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    raw = pd.DataFrame([train_raw(RECIPES[name], args.out) for name in args.names])
    table = compare(raw, args.out, args.predictor)
    with pd.option_context("display.width", 220, "display.max_columns", 20):
        print(table.round(3).to_string(index=False))
    err_std = 100 * (table["predicted"] - table["standardized"]).abs().mean()
    err_raw = 100 * (table["predicted (raw)"] - table["measured (raw)"]).abs().mean()
    print(f"\nMAE (points): standardized {err_std:.1f}, raw {err_raw:.1f}; raw covered or outside "
          f"{table['covered or outside (raw)'].mean():.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(table.to_dict("records"), indent=1, default=float))


if __name__ == "__main__":
    main()
