"""Reference zoo v2: one spec per (dataset, family) portion, written to ``data/specs/v2/``.

Every portion samples the zoo v2 space (``SearchSpace`` defaults) on the full training set
and the full official test set, in bf16, ensembles of 4, 200 runs; what differs per family is
only what makes it fit this machine's budget (about 10 hours of generation with 2 workers,
``perfpredict zoo plan`` per portion): the epochs range and the largest widths and depths.
Each portion is its own zoo (``zoos/v2-<dataset>-<family>``), generated, resumed and
committed (index and feature tables) on its own.

Top-up portions (``v2-<dataset>-top``) sample only the corner of the space that tutorials use
(ReLU, default or He initialization, Adam, AdamW or Nesterov momentum at their usual learning
rates, full training data, clean labels) for the MLP, LeNet and CNN families: in the full space
most runs are handicapped on purpose, so the best networks of a kind are rare (10 of the 200
CIFAR-10 CNN runs end above 50%), and a predictor fitted on it shrinks good networks toward the
bulk. They add networks near what each family reaches in practice.

Small-data portions (``v2-<dataset>-small``) train the same corner 10-40 epochs on 2-10% of the
training set: networks that overfit, trained longer than any network of the main portions.

Shallow portions (``v2-<dataset>-shallow``) add MLPs with no hidden layer or one small one,
from the full space: softmax regression, the first model of many tutorials, had no like in the
main portions (1-4 hidden layers).

A long portion (``v2-cifar10-long``) trains the same corner's LeNets and CNNs 6-12 epochs on all
of CIFAR-10, where the main portions and the top-up stop at 4: before it, few CIFAR-10 networks
of the zoo reached what the families reach in practice (6 of 260 CNN runs ended above 60%), and
the predictor put such networks in the bulk. (ResNets would more than double its cost.) A second
long portion (``v2-cifar10-long2``) trains 8 ResNets and 8 ViTs of the same corner 6-10 epochs,
and a third (``v2-cifar10-long3``) 60 MLPs of the same corner, with 0-4 hidden layers, 4-16
epochs: the top-up trains the corner's CIFAR-10 MLPs only 2-4 epochs (none above 0.46), while
tutorials train them 5 or more.

    python benchmarks/zoo_v2.py                        # write the specs
    python benchmarks/zoo_v2.py --plan                 # and plan each (about 10 s each)
    perfpredict zoo generate zoos/v2-mnist-mlp --spec data/specs/v2/v2-mnist-mlp.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from perfpredict import SearchSpace, ZooSpec

OUT = Path(__file__).resolve().parents[1] / "data" / "specs" / "v2"
DATASETS = ("mnist", "fashion_mnist", "cifar10")
RUNS = 200

# per family: (epochs range on 28 px datasets, on CIFAR-10) and the space's cheaper corner; the
# convolutional families train at batch 64 or 128 (at 32, small stacked convolutions spend most
# of a step on overhead: a width-2 LeNet block trained at 2.7 GFLOP/s at batch 32 against 12.4 at
# 64, one thread; the first LeNet blocks took 2-3x the hours planned before the plan timed each
# batch size)
_BATCH = {"batch_size": (64, 128)}
FAMILY = {
    "mlp": ((1, 8), (1, 8), {}),
    "cnn": ((1, 4), (1, 4), _BATCH),
    "lenet": ((1, 4), (1, 4), {"lenet_width": (1, 2), **_BATCH}),
    "resnet": ((1, 3), (1, 3), {"resnet_depth": (8,), "resnet_width": (8,), **_BATCH}),
    "vit": ((1, 4), (1, 4), {"vit_depth": (1, 2, 3), "vit_hidden": (16, 32, 64), "vit_patch": (7, 8), **_BATCH}),
}


def portion(dataset: str, family: str) -> ZooSpec:
    """The spec of one portion."""
    small, cifar, overrides = FAMILY[family]
    epochs = cifar if dataset == "cifar10" else small
    space = replace(SearchSpace(), epochs_range=epochs, **overrides)
    seed = 1000 + 10 * DATASETS.index(dataset) + list(FAMILY).index(family)
    return ZooSpec(name=f"v2-{dataset}-{family}", datasets=(dataset,), families=(family,),
                   runs_per_group=RUNS, epochs=epochs[1], seed=seed, space=space,
                   ensemble_size=4, precision="bf16")


TOP_RUNS = 40
TOP_FAMILIES = ("mlp", "lenet", "cnn")
TOP = {"activations": ("relu",), "inits": ("default", "kaiming_uniform", "kaiming_normal"),
       "optimizers": ("adam", "adamw", "nesterov"),
       "lr_ranges": {"adam": (3e-4, 3e-3), "adamw": (3e-4, 3e-3), "nesterov": (0.01, 0.1)},
       "schedules": ("constant", "cosine"), "weight_decay": (0.0, 1e-4, 5e-4), "dropout": (0.0, 0.1, 0.3),
       "full_data": 1.0, "label_noise": (0.0,)}
"""The corner of the space that tutorials use (top-up portions)."""


def _corner_portion(dataset: str, kind: str, families: tuple[str, ...], runs: int, epochs: tuple[int, int],
                    seed: int, corner: dict = TOP) -> ZooSpec:
    """A portion ``v2-<dataset>-<kind>`` of ``runs`` runs per family from ``corner`` of the
    space, with the families' widths and batch sizes as above."""
    overrides = {k: v for family in families for k, v in FAMILY[family][2].items()}
    space = replace(SearchSpace(), epochs_range=epochs, **overrides, **corner)
    return ZooSpec(name=f"v2-{dataset}-{kind}", datasets=(dataset,), families=families, runs_per_group=runs,
                   epochs=epochs[1], seed=seed + DATASETS.index(dataset), space=space, ensemble_size=4,
                   precision="bf16")


def top_portion(dataset: str) -> ZooSpec:
    """The spec of a dataset's top-up portion: :data:`TOP_RUNS` runs per family of
    :data:`TOP_FAMILIES`, 2-4 epochs, the families' widths and batch sizes as above."""
    return _corner_portion(dataset, "top", TOP_FAMILIES, TOP_RUNS, (2, 4), 2000)


SMALL_RUNS = 20
SMALL = {**TOP, "full_data": 0.0, "data_fraction_range": (0.02, 0.1)}
"""The tutorial corner on 2-10% of the training set (small-data portions)."""


def small_portion(dataset: str) -> ZooSpec:
    """The spec of a dataset's small-data portion: :data:`SMALL_RUNS` runs per family of
    :data:`TOP_FAMILIES` from the tutorial corner, trained 10-40 epochs on 2-10% of the training
    set (1,000-6,000 images), where networks overfit: the main portions train 1-8 epochs, so a
    network trained long on little data (a common case, and a named wild-set recipe) has no
    like in them. Each costs about as many image passes as one to four epochs on all the data."""
    return _corner_portion(dataset, "small", TOP_FAMILIES, SMALL_RUNS, (10, 40), 3000, SMALL)


SHALLOW_RUNS = 60
SHALLOW = {"mlp_depth": (0, 1), "mlp_width": (16, 32, 64)}
"""Softmax regression and one small hidden layer (shallow portions), in the full space."""


def shallow_portion(dataset: str) -> ZooSpec:
    """The spec of a dataset's shallow portion: :data:`SHALLOW_RUNS` MLPs with no hidden layer
    (softmax regression) or one of 16-64 units, sampled from the full space like the main MLP
    portion (1-8 epochs). The main portions' MLPs have 1-4 hidden layers of 32-1024 units, so
    the first model of many tutorials (a single linear layer) had no like in the zoo."""
    return _corner_portion(dataset, "shallow", ("mlp",), SHALLOW_RUNS, FAMILY["mlp"][0], 5000, SHALLOW)


LONG_RUNS = 20
LONG_FAMILIES = ("lenet", "cnn")
LONG_DATASETS = ("cifar10",)


def long_portion(dataset: str) -> ZooSpec:
    """The spec of a long portion: :data:`LONG_RUNS` runs per family of :data:`LONG_FAMILIES`
    from the tutorial corner, trained 6-12 epochs on the full training set (the main portions'
    widths and batch sizes)."""
    return _corner_portion(dataset, "long", LONG_FAMILIES, LONG_RUNS, (6, 12), 4000)


LONG2_RUNS = 8
LONG2_FAMILIES = ("resnet", "vit")


def long2_portion(dataset: str) -> ZooSpec:
    """The spec of a second long portion: :data:`LONG2_RUNS` runs per family of
    :data:`LONG2_FAMILIES` from the tutorial corner, trained 6-10 epochs on the full training
    set (the main portions' widths and batch sizes). On CIFAR-10 the main portions' best
    ResNets stop 7 points and their best ViTs 11 points below what a ResNet-20 and a small ViT
    reach in 3-5 epochs (the wild sets)."""
    return _corner_portion(dataset, "long2", LONG2_FAMILIES, LONG2_RUNS, (6, 10), 4100)


LONG3_RUNS = 60
LONG3 = {**TOP, "mlp_depth": (0, 1, 2, 3, 4)}
"""The tutorial corner, softmax regression included (third long portion)."""


def long3_portion(dataset: str) -> ZooSpec:
    """The spec of a third long portion: :data:`LONG3_RUNS` MLPs from the tutorial corner with 0-4
    hidden layers, trained 4-16 epochs on the full training set. The top-up trains the corner's
    MLPs 2-4 epochs, and on CIFAR-10 none ends above 0.46; the main and shallow portions sample
    the full space, where few runs are in the corner. The wild set's CIFAR-10 MLP (Adam, 5
    epochs) reached 0.52 and was predicted 0.43."""
    return _corner_portion(dataset, "long3", ("mlp",), LONG3_RUNS, (4, 16), 4200, LONG3)


def specs(dataset: str) -> list[ZooSpec]:
    """Every portion of ``dataset``: one per family, the top-up, the small-data one, the shallow
    one and, for :data:`LONG_DATASETS`, the three long ones."""
    extra = ([long_portion(dataset), long2_portion(dataset), long3_portion(dataset)]
             if dataset in LONG_DATASETS else [])
    return ([portion(dataset, family) for family in FAMILY]
            + [top_portion(dataset), small_portion(dataset), shallow_portion(dataset)] + extra)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plan", action="store_true", help="run `perfpredict zoo plan` on each spec")
    parser.add_argument("--only", default="", help="plan only specs whose name contains this")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    for dataset in DATASETS:
        for spec in specs(dataset):
            path = OUT / f"{spec.name}.json"
            path.write_text(json.dumps(spec.to_dict(), indent=1) + "\n")
            if args.plan and args.only in spec.name:
                subprocess.run([str(Path(sys.executable).with_name("perfpredict")), "zoo", "plan", spec.name,
                                "--spec", str(path), "--calibration", "6"], check=True)


if __name__ == "__main__":
    main()
