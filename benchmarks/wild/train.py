"""Train the wild set (``recipes.py``) or the held-out set (``holdout.py``): checkpoints and
``wild.csv`` or ``holdout/holdout.csv`` (one row per checkpoint).

Resumable: a recipe whose row and checkpoint exist is skipped. One thread by default.

    PERFPREDICT_DATA=../shared/data python benchmarks/wild/train.py                 # all 36
    PERFPREDICT_DATA=../shared/data python benchmarks/wild/train.py mnist-lenet5-sgd --out /tmp/wild
    PERFPREDICT_DATA=../shared/data python benchmarks/wild/train.py --set holdout   # holdout/holdout.csv

``test_accuracy`` is measured on the dataset's evaluation split as perfpredict's zoos define
it (``eval_split``): the official test sets of MNIST and Fashion-MNIST; for CIFAR-10 here,
whose official test set is incomplete, the 10,000 images of ``data_batch_5`` (training on
batches 1-4), and ``official_test_1000`` is the accuracy on the 1,000 official test images
available.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from safetensors.torch import save_file
from torch import nn
from torch.nn import functional as F

from perfpredict.data import data_root, load_dataset
from models import initialize
from holdout import HOLDOUT
from recipes import RECIPES, Recipe

HERE = Path(__file__).resolve().parent
SETS = {"wild": (RECIPES, HERE / "wild.csv"), "holdout": (HOLDOUT, HERE / "holdout" / "holdout.csv")}
"""Each set's recipes and default table; its checkpoints go to ``checkpoints/`` beside the table."""
SUFFIX = {"state_dict": ".pt", "safetensors": ".safetensors", "whole": ".pt", "snapshot": ".tar", "lightning": ".ckpt"}


def _optimizer(r: Recipe, params) -> torch.optim.Optimizer:
    if r.optimizer == "sgd":
        return torch.optim.SGD(params, r.lr, momentum=r.momentum, nesterov=r.nesterov, weight_decay=r.weight_decay)
    if r.optimizer == "rmsprop":  # Keras' RMSprop: rho 0.9, epsilon 1e-7
        return torch.optim.RMSprop(params, r.lr, alpha=0.9, eps=1e-7, weight_decay=r.weight_decay)
    cls = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "adadelta": torch.optim.Adadelta}[r.optimizer]
    return cls(params, r.lr, weight_decay=r.weight_decay)


def _lr_factor(r: Recipe, epoch: int, step: int, total: int) -> float:
    if r.schedule == "step0.7":
        return 0.7 ** epoch
    if r.schedule == "cosine":
        return (1 + math.cos(math.pi * step / total)) / 2
    if r.schedule == "multistep":
        return 0.1 ** ((epoch >= r.epochs // 2) + (epoch >= 3 * r.epochs // 4))
    return 1.0


def _crop_flip(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random 4-px-padded crops and horizontal flips, one draw per image."""
    n, _, h, w = x.shape
    padded = F.pad(x, (4, 4, 4, 4))
    dy, dx = torch.randint(9, (2, n), generator=gen)
    flip = torch.rand(n, generator=gen) < 0.5
    out = torch.stack([padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(n)])
    return torch.where(flip[:, None, None, None], out.flip(3), out)


def _loss(r: Recipe, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    if r.loss == "mse":
        return 0.5 * (torch.sigmoid(out) - F.one_hot(y, 10).float()).pow(2).sum(1).mean()
    return F.cross_entropy(out, y, label_smoothing=r.label_smoothing)


def _training_data(r: Recipe, data, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = data.x_train, data.y_train
    if r.classes < 10:
        x, y = x[y < r.classes], y[y < r.classes]
    if r.train_subset:
        keep = torch.randperm(len(y), generator=gen)[:r.train_subset]
        x, y = x[keep], y[keep]
    if r.label_noise:
        noisy = torch.rand(len(y), generator=gen) < r.label_noise
        y = torch.where(noisy, torch.randint(10, y.shape, generator=gen), y)
    return x, y


def train(r: Recipe, data) -> tuple[nn.Module, torch.optim.Optimizer, int]:
    """The trained (pruned, fine-tuned, quantized) model, its optimizer and the number of steps taken."""
    torch.manual_seed(r.seed)
    gen = torch.Generator().manual_seed(r.seed)
    model = initialize(r.model(), r.init)
    opt = _optimizer(r, model.parameters())
    x, y = _training_data(r, data, gen)
    per_epoch = math.ceil(len(y) / r.batch_size)
    total = min(r.epochs * per_epoch, r.max_steps if r.max_steps is not None else math.inf)
    steps = _fit(r, model, opt, (x, y, gen), r.epochs, total)
    if r.prune:
        masks = _prune(model, r.prune)
        steps += _fit(r, model, opt, (x, y, gen), r.finetune_epochs, r.finetune_epochs * per_epoch, masks)
    if r.quantize:
        _quantize(model, r.quantize)
    return model.eval(), opt, steps


def _fit(r: Recipe, model: nn.Module, opt: torch.optim.Optimizer, data: tuple, epochs: int, total: float,
         masks: Sequence[tuple[torch.Tensor, torch.Tensor]] = ()) -> int:
    """``epochs`` passes over the training data (at most ``total`` steps), keeping the weights
    that ``masks`` zero at zero; the number of steps taken."""
    x, y, gen = data
    per_epoch = math.ceil(len(y) / r.batch_size)
    batch_norm = any(isinstance(mod, nn.modules.batchnorm._BatchNorm) for mod in model.modules())
    step = 0
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(y), generator=gen)
        for i in range(per_epoch):
            if step >= total:
                break
            idx = order[i * r.batch_size:(i + 1) * r.batch_size]
            if len(idx) < 2 and batch_norm:
                continue
            xb = _crop_flip(x[idx], gen) if r.augment else x[idx]
            for group in opt.param_groups:
                group["lr"] = r.lr * _lr_factor(r, epoch, step, total)
            opt.zero_grad()
            _loss(r, model(xb), y[idx]).backward()
            opt.step()
            with torch.no_grad():
                for w, keep in masks:
                    w.mul_(keep)
            step += 1
    return step


def _weights(model: nn.Module) -> list[torch.Tensor]:
    return [mod.weight for mod in model.modules() if isinstance(mod, (nn.Conv2d, nn.Linear))]


@torch.no_grad()
def _prune(model: nn.Module, fraction: float) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Zero the ``fraction`` smallest-magnitude conv and linear weights, over all layers at once;
    each weight with its mask of the weights kept."""
    weights = _weights(model)
    magnitudes = torch.cat([w.abs().flatten() for w in weights])
    threshold = magnitudes.kthvalue(max(1, int(fraction * len(magnitudes)))).values
    masks = [(w, (w.abs() > threshold).to(w.dtype)) for w in weights]
    for w, keep in masks:
        w.mul_(keep)
    return masks


@torch.no_grad()
def _quantize(model: nn.Module, bits: int) -> None:
    """Round each conv and linear weight tensor to ``bits`` bits, one symmetric scale per tensor."""
    levels = 2 ** (bits - 1) - 1
    for w in _weights(model):
        scale = w.abs().max().clamp_min(1e-12) / levels
        w.copy_(torch.round(w / scale) * scale)


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    correct = sum(int((model(x[i:i + 1000]).argmax(1) == y[i:i + 1000]).sum()) for i in range(0, len(y), 1000))
    return correct / len(y)


def official_cifar_test(root: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """The official CIFAR-10 test images available (the first 1,000 here), standardized with
    the statistics of training batches 1-4 as the dataset's images are."""
    def read(name: str) -> np.ndarray:
        return np.fromfile(root / "cifar-10-batches-bin" / name, dtype=np.uint8).reshape(-1, 3073)

    train = np.concatenate([read(f"data_batch_{i}.bin") for i in range(1, 5)])[:, 1:].reshape(-1, 3, 32, 32)
    test = read("test_batch_first1000.bin")
    scaled = torch.from_numpy(train.astype(np.float32) / 255)
    mean, std = scaled.mean(dim=(0, 2, 3), keepdim=True), scaled.std(dim=(0, 2, 3), keepdim=True)
    x = (torch.from_numpy(test[:, 1:].reshape(-1, 3, 32, 32).astype(np.float32) / 255) - mean) / std
    return x, torch.from_numpy(test[:, 0].astype(np.int64))


def save(r: Recipe, model: nn.Module, opt: torch.optim.Optimizer, steps: int, path: Path) -> None:
    state = model.state_dict()
    if r.fmt == "safetensors":
        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    elif r.fmt == "whole":
        torch.save(model, path)
    elif r.fmt == "snapshot":
        torch.save({"epoch": r.epochs, "model_state_dict": state, "optimizer_state_dict": opt.state_dict()}, path)
    elif r.fmt == "lightning":
        torch.save({"epoch": r.epochs, "global_step": steps, "state_dict": {f"model.{k}": v for k, v in state.items()}}, path)
    else:
        torch.save(state, path)


def run(r: Recipe, out: Path) -> dict:
    data = load_dataset(r.dataset)
    start = time.perf_counter()
    model, opt, steps = train(r, data)
    seconds = time.perf_counter() - start
    path = out / f"{r.name}{SUFFIX[r.fmt]}"
    save(r, model, opt, steps, path)
    row = {"name": r.name, "dataset": r.dataset, "file": path.name, "format": r.fmt, "seed": r.seed,
           "steps": steps, "train_seconds": round(seconds, 1),
           "params": sum(p.numel() for p in model.parameters()),
           "test_accuracy": accuracy(model, data.x_eval, data.y_eval), "eval_split": data.eval_split,
           "official_test_1000": np.nan, "source": r.source}
    if r.dataset == "cifar10" and "data_batch_5" in data.eval_split:
        row["official_test_1000"] = accuracy(model, *official_cifar_test(data_root()))
    return row


def _with_row(table: pd.DataFrame, row: dict) -> pd.DataFrame:
    """``table`` with ``row`` in place of the row of the same name (a retrained recipe keeps its
    place), or appended."""
    if len(table) and row["name"] in set(table["name"]):
        table = table.copy()
        table.loc[table.index[table["name"] == row["name"]][0], list(row)] = list(row.values())
        return table
    return pd.concat([table, pd.DataFrame([row])], ignore_index=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help="recipes to train (default: all of the set)")
    parser.add_argument("--set", choices=list(SETS), default="wild", help="wild.csv's set or the held-out one")
    parser.add_argument("--out", type=Path, default=None, help="checkpoints (default: checkpoints/ beside the table)")
    parser.add_argument("--table", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    recipes, table_path = SETS[args.set]
    args.table = args.table or table_path
    args.out = args.out or args.table.parent / "checkpoints"
    args.out.mkdir(parents=True, exist_ok=True)
    table = pd.read_csv(args.table) if args.table.exists() else pd.DataFrame()
    for name in args.names or list(recipes):
        r = recipes[name]
        if len(table) and name in set(table["name"]) and (args.out / f"{name}{SUFFIX[r.fmt]}").exists():
            continue
        row = run(r, args.out)
        print(f"{name}: {row['test_accuracy']:.4f} in {row['train_seconds']:.0f} s", flush=True)
        table = _with_row(table, row)
        tmp = args.table.with_suffix(".tmp")
        table.to_csv(tmp, index=False)
        os.replace(tmp, args.table)


if __name__ == "__main__":
    main()
