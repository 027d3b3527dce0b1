"""What a zoo will cost before it is trained: FLOPs per run, and wall time on this machine.

Each run's cost is counted from its model (``torch.utils.flop_counter`` on one batch): the
training passes (forward and backward, images x epochs) and the checkpoint evaluations
(forward only). The machine's speed is measured per family and batch size, in the zoo's
precision, by timing a few stacked training steps of one of the zoo's own blocks (the one of
median cost per image, at each of the family's batch sizes) on one thread, as a worker
trains, within a total calibration budget. Wall time
schedules the ensembles on ``workers`` processes in the generator's order, assuming they do
not slow each other (two workers on two cores each run about 15% slower here).
"""

from __future__ import annotations

import contextlib
import heapq
import time
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any, Iterator, Sequence

import pandas as pd
import torch
from torch.nn import functional as F
from torch.utils.flop_counter import FlopCounterMode

from ..archs import build_model
from ..data import Dataset
from .ensemble import _math_attention, _Members, _rows, group_runs
from .optim import StackedOptimizer
from .recipes import mixed_precision, resolve_precision
from .spec import RunSpec, ZooSpec
from .train import TRAIN_METRIC_SAMPLES

__all__ = ["ZooPlan", "plan_zoo", "run_flops", "makespan"]


@lru_cache(maxsize=256)
def _flops_per_image(family: str, arch: tuple[tuple[str, Any], ...], shape: tuple[int, int, int],
                     classes: int) -> tuple[float, float]:
    """(training, evaluation) FLOPs of one image through the model."""
    model = build_model(family, shape, classes, **dict(arch))
    x, y = torch.randn(2, *shape), torch.zeros(2, dtype=torch.long)
    with FlopCounterMode(display=False) as train:
        F.cross_entropy(model(x), y).backward()
    # in training mode: in eval mode torch's fused attention kernel hides the ViT's products
    # from the counter (the trainer evaluates through the math attention path anyway)
    with torch.no_grad(), FlopCounterMode(display=False) as evaluation:
        model(x)
    return train.get_total_flops() / 2, evaluation.get_total_flops() / 2


def run_flops(spec: RunSpec, data: Dataset, max_train: int | None = None,
              max_eval: int | None = None) -> tuple[float, float]:
    """``(FLOPs, training images seen)`` of training and evaluating ``spec`` on ``data``."""
    per_train, per_eval = _flops_per_image(spec.family, tuple(spec.arch.items()), data.input_shape,
                                           data.num_classes)
    pool = min(len(data.y_train), max_train or len(data.y_train))
    n_train = max(1, round(pool * spec.data_fraction))
    n_eval = min(len(data.y_eval), max_eval or len(data.y_eval)) + min(TRAIN_METRIC_SAMPLES, n_train)
    images = n_train * spec.epochs
    return per_train * images + per_eval * n_eval * len(spec.checkpoint_epochs), images


@dataclass(frozen=True)
class ZooPlan:
    """A zoo's estimated cost: one row per (dataset, family) in ``table``, and the totals.

    ``table`` columns: ``dataset``, ``family``, ``runs``, ``image_passes`` (training images
    x epochs, summed over runs), ``tflops``, ``gflops_per_s`` (the speed measured here, over
    the group's runs) and ``hours``
    (of one worker). ``wall_hours``: when the last of ``workers`` processes, each taking the
    next ensemble as the generator hands them out, finishes.
    """

    table: pd.DataFrame
    workers: int
    precision: str
    calibration_seconds: float
    wall_hours: float


def makespan(durations: Sequence[float], workers: int) -> float:
    """When the last of ``workers`` finishes tasks of ``durations``, each idle worker taking the next."""
    free = [0.0] * workers
    for d in durations:
        heapq.heapreplace(free, free[0] + d)
    return max(free)


def _time_steps(block: Sequence[RunSpec], data: Dataset, budget: float, device: torch.device) -> float:
    """Achieved FLOP/s of training ``block`` stacked: one warm-up step, then up to 8 timed
    steps while within ``budget`` seconds from the start (at least one)."""
    begin = time.perf_counter()
    members = _Members(block, data, None, device)
    opt = StackedOptimizer(list(block), members.params)
    precision = resolve_precision(block[0].precision, device)
    bs = block[0].batch_size
    idx, lab, w, _, _ = members.epoch_batches(bs)
    x_all = data.x_train.to(device)

    def step(k: int) -> None:
        sl = slice(k * bs, (k + 1) * bs)
        with mixed_precision(precision, device):
            grads, _ = members.engine.loss_and_grads(members.params, members.buffers,
                                                     _rows(x_all, idx[:, sl]), lab[:, sl], w[:, sl])
        opt.step(grads)

    step(0)
    timed, start = 0, time.perf_counter()
    while timed < min(8, idx.shape[1] // bs - 1) and (timed == 0 or time.perf_counter() - begin < budget):
        timed += 1
        step(timed)
    per_image = _flops_per_image(block[0].family, tuple(block[0].arch.items()), data.input_shape,
                                 data.num_classes)[0]
    return per_image * bs * len(block) * timed / (time.perf_counter() - start)


def plan_zoo(spec: ZooSpec, datasets: dict[str, Dataset], *, workers: int = 1,
             calibration_seconds: float = 20.0, device: str | torch.device = "cpu") -> ZooPlan:
    """Estimate the cost of generating ``spec`` here.

    Parameters
    ----------
    spec : ZooSpec
        The zoo.
    datasets : dict of str to Dataset
        The spec's datasets, loaded.
    workers : int
        Worker processes that will train it.
    calibration_seconds : float
        Total time for measuring this machine's speed (split over the families).
    device : str or torch.device
        Where it will train.
    """
    dev = torch.device(device)
    runs = spec.runs()
    cost = {r.run_id: run_flops(r, datasets[r.dataset], spec.max_train_samples, spec.max_eval_samples)
            for r in runs}
    rows = []
    for (dataset, family), group in _by_group(runs).items():
        rows.append({"dataset": dataset, "family": family, "runs": len(group),
                     "image_passes": sum(cost[r.run_id][1] for r in group),
                     "flops": sum(cost[r.run_id][0] for r in group)})
    rates, spent = _calibrate(spec, runs, datasets, calibration_seconds, dev)
    seconds = {r.run_id: cost[r.run_id][0] / rates[r.family, r.batch_size] for r in runs}
    for row, group in zip(rows, _by_group(runs).values()):
        row["hours"] = sum(seconds[r.run_id] for r in group) / 3600
    table = pd.DataFrame(rows)
    table["gflops_per_s"] = table["flops"] / (table["hours"] * 3600) / 1e9
    table["tflops"] = table.pop("flops") / 1e12
    table = table[["dataset", "family", "runs", "image_passes", "tflops", "gflops_per_s", "hours"]]
    blocks = [sum(seconds[r.run_id] for r in block) / 3600 for block in group_runs(runs, spec.ensemble_size)]
    workers = max(1, workers)
    return ZooPlan(table, workers, resolve_precision(spec.precision, dev), spent, makespan(blocks, workers))


def _by_group(runs: Sequence[RunSpec]) -> dict[tuple[str, str], list[RunSpec]]:
    groups: dict[tuple[str, str], list[RunSpec]] = {}
    for r in runs:
        groups.setdefault((r.dataset, r.family), []).append(r)
    return groups


def _calibrate(spec: ZooSpec, runs: Sequence[RunSpec], datasets: dict[str, Dataset], seconds: float,
               device: torch.device) -> tuple[dict[tuple[str, int], float], float]:
    """FLOP/s per family and batch size, from the family's block of median cost per image at
    each of its batch sizes (small batches of small models are far slower per image); and the
    seconds it took."""
    start = time.perf_counter()
    pairs = list(dict.fromkeys((r.family, r.batch_size) for r in runs))
    rates = {}
    with _one_thread(), _math_attention():  # as a worker trains
        for i, (family, batch_size) in enumerate(pairs):
            rates[family, batch_size] = _family_rate(
                spec, runs, family, batch_size, datasets, device,
                (seconds - (time.perf_counter() - start)) / (len(pairs) - i))
    return rates, time.perf_counter() - start


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _family_rate(spec: ZooSpec, runs: Sequence[RunSpec], family: str, batch_size: int,
                 datasets: dict[str, Dataset], device: torch.device, budget: float) -> float:
    """FLOP/s of the family's block of median cost per image, trained on the full data at
    ``batch_size``."""
    blocks = group_runs([r for r in runs if r.family == family], spec.ensemble_size)
    blocks.sort(key=lambda b: _flops_per_image(family, tuple(b[0].arch.items()),
                                               datasets[b[0].dataset].input_shape,
                                               datasets[b[0].dataset].num_classes)[0])
    block = [replace(r, data_fraction=1.0, batch_size=batch_size) for r in blocks[len(blocks) // 2]]
    return _time_steps(block, datasets[block[0].dataset], budget, device)
