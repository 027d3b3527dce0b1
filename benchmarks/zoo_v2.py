"""Reference zoo v2: one spec per (dataset, family) portion, written to ``data/specs/v2/``.

Every portion samples the zoo v2 space (``SearchSpace`` defaults) on the full training set
and the full official test set, in bf16, ensembles of 4, 200 runs; what differs per family is
only what makes it fit this machine's budget (about 10 hours of generation with 2 workers,
``perfpredict zoo plan`` per portion): the epochs range and the largest widths and depths.
Each portion is its own zoo (``zoos/v2-<dataset>-<family>``), generated, resumed and
committed (index and feature tables) on its own.

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plan", action="store_true", help="run `perfpredict zoo plan` on each spec")
    parser.add_argument("--only", default="", help="plan only specs whose name contains this")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    for dataset in DATASETS:
        for family in FAMILY:
            spec = portion(dataset, family)
            path = OUT / f"{spec.name}.json"
            path.write_text(json.dumps(spec.to_dict(), indent=1) + "\n")
            if args.plan and args.only in spec.name:
                subprocess.run([str(Path(sys.executable).with_name("perfpredict")), "zoo", "plan", spec.name,
                                "--spec", str(path), "--calibration", "6"], check=True)


if __name__ == "__main__":
    main()
