"""``perfpredict zoo generate`` and ``perfpredict zoo plan``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer
from rich.table import Table

from .common import console, generate_zoo_with_progress

if TYPE_CHECKING:
    import pandas as pd

    from ..zoo import ZooSpec

_SPEC_FILE = typer.Option(None, "--spec", exists=True, dir_okay=False, help="ZooSpec JSON; overrides the options below.")
_DATASETS = typer.Option("digits", help="Comma-separated: digits, mnist, fashion_mnist, cifar10.")
_FAMILIES = typer.Option("mlp,cnn,lenet,resnet,vit", help="Comma-separated (default: all).")
_RUNS = typer.Option(8, min=1, help="Runs per (dataset, family) pair.")
_EPOCHS = typer.Option("8", help="Epochs per run, or LOW-HIGH: each block of runs draws its epochs "
                                 "log-uniformly in that range.")
_SEED = typer.Option(0, help="Sampler seed.")
_MAX_TRAIN = typer.Option(None, min=1, help="Cap on training images.")
_MAX_EVAL = typer.Option(None, min=1, help="Cap on evaluation images.")
_ENSEMBLE = typer.Option(8, min=1, help="Runs that share a structure and train stacked.")
_PRECISION = typer.Option("bf16", help="bf16 (mixed precision where the hardware has fast bf16, else fp32) or fp32.")
_WORKERS = typer.Option(None, min=0, help="Worker processes (default: one per core; 0: in-process).")
_DEVICE = typer.Option("auto", help="auto, cpu or cuda.")
_DATA_ROOT = typer.Option(None, help="Dataset root (default: $PERFPREDICT_DATA).")


def _zoo_spec(name: str, spec_file: Optional[Path], datasets: str, families: str, runs: int, epochs: str,
              seed: int, max_train_samples: Optional[int], max_eval_samples: Optional[int],
              ensemble_size: int, precision: str) -> "ZooSpec":
    """The spec of ``--spec``, or the one the options describe."""
    from ..zoo import SearchSpace, ZooSpec

    if spec_file is not None:
        return ZooSpec.from_json(spec_file)
    low, _, high = epochs.partition("-")
    try:
        bounds = (int(low), int(high or low))
    except ValueError:
        raise typer.BadParameter("must be a number of epochs (8) or a range (1-30)", param_hint="--epochs") from None
    space = SearchSpace(epochs_range=bounds) if high else SearchSpace()
    return ZooSpec(name=name, datasets=tuple(datasets.split(",")), families=tuple(families.split(",")),
                   runs_per_group=runs, epochs=bounds[1], seed=seed, space=space,
                   max_train_samples=max_train_samples, max_eval_samples=max_eval_samples,
                   ensemble_size=ensemble_size, precision=precision)



def zoo_generate(
    out: Path = typer.Argument(..., help="Zoo folder (created; an existing one is resumed)."),
    spec_file: Optional[Path] = _SPEC_FILE,
    datasets: str = _DATASETS,
    families: str = _FAMILIES,
    runs: int = _RUNS,
    epochs: str = _EPOCHS,
    seed: int = _SEED,
    max_train_samples: Optional[int] = _MAX_TRAIN,
    max_eval_samples: Optional[int] = _MAX_EVAL,
    ensemble_size: int = _ENSEMBLE,
    precision: str = _PRECISION,
    workers: Optional[int] = _WORKERS,
    device: str = _DEVICE,
    executor: str = typer.Option("local", help="local (worker processes) or ray (a Ray cluster)."),
    address: Optional[str] = typer.Option(None, help="Ray cluster address, with --executor ray."),
    data_root: Optional[Path] = _DATA_ROOT,
) -> None:
    """Train a zoo of models and save checkpoints across training.

    Re-running the same command resumes an interrupted zoo. `perfpredict zoo plan` with the
    same options says first what it costs.
    """
    from ..zoo.executors import EXECUTORS

    if executor not in EXECUTORS:
        raise typer.BadParameter(f"must be one of {', '.join(EXECUTORS)}", param_hint="--executor")
    spec = _zoo_spec(out.name, spec_file, datasets, families, runs, epochs, seed, max_train_samples,
                     max_eval_samples, ensemble_size, precision)
    index = generate_zoo_with_progress(spec, out, data_root, workers, device, executor, address)
    _print_zoo_summary(index, out)



def zoo_plan(
    name: str = typer.Argument("zoo", help="The zoo's name (as `zoo generate` names it after its folder)."),
    spec_file: Optional[Path] = _SPEC_FILE,
    datasets: str = _DATASETS,
    families: str = _FAMILIES,
    runs: int = _RUNS,
    epochs: str = _EPOCHS,
    seed: int = _SEED,
    max_train_samples: Optional[int] = _MAX_TRAIN,
    max_eval_samples: Optional[int] = _MAX_EVAL,
    ensemble_size: int = _ENSEMBLE,
    precision: str = _PRECISION,
    workers: Optional[int] = _WORKERS,
    device: str = _DEVICE,
    calibration: float = typer.Option(20.0, min=1.0, help="Seconds for measuring this machine's speed."),
    data_root: Optional[Path] = _DATA_ROOT,
) -> None:
    """Say what a zoo costs before training it: runs, image passes, FLOPs and hours here."""
    from ..data import load_dataset
    from ..zoo.executors import default_workers
    from ..zoo.plan import plan_zoo
    from ..zoo.train import resolve_device

    spec = _zoo_spec(name, spec_file, datasets, families, runs, epochs, seed, max_train_samples,
                     max_eval_samples, ensemble_size, precision)
    dev = resolve_device(device)
    n_workers = workers or (1 if dev.type == "cuda" else default_workers())
    loaded = {d: load_dataset(d, data_root) for d in spec.datasets}
    plan = plan_zoo(spec, loaded, workers=n_workers, calibration_seconds=calibration, device=dev)
    table = Table("dataset", "family", "runs", "image passes", "TFLOP", "GFLOP/s", "worker hours")
    for r in plan.table.itertuples():
        table.add_row(r.dataset, r.family, str(r.runs), f"{r.image_passes:,}", f"{r.tflops:,.1f}",
                      f"{r.gflops_per_s:.0f}", f"{r.hours:.2f}")
    console.print(table)
    console.print(f"total {plan.table['tflops'].sum():,.1f} TFLOP in {plan.precision}: about "
                  f"{_hours(plan.wall_hours)} here with {plan.workers} worker(s)")
    console.print(f"(GFLOP/s: one worker's speed here, measured in {plan.calibration_seconds:.0f} s)")


def _hours(hours: float) -> str:
    return f"{hours * 60:.0f} min" if hours < 1 else f"{hours:.1f} h"


def _print_zoo_summary(index: "pd.DataFrame", out: Path) -> None:
    final = index.sort_values("epoch").groupby("run_id").tail(1)
    table = Table("family", "dataset", "runs", "diverged", "final acc min", "median", "max")
    for (fam, ds), g in final.groupby(["family", "dataset"]):
        acc = g["test_accuracy"]
        table.add_row(fam, ds, str(len(g)), str(int((g["status"] == "diverged").sum())),
                      f"{acc.min():.3f}", f"{acc.median():.3f}", f"{acc.max():.3f}")
    console.print(table)
    console.print(f"{len(index)} checkpoints of {index['run_id'].nunique()} runs in {out}")
