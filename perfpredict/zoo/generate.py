"""Generate a zoo: train every run of a ``ZooSpec`` that the store does not hold yet."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from ..data import load_dataset
from .executors import make_executor
from .spec import RunSpec, ZooSpec
from .store import RunWriter, ZooStore
from .train import train_run

__all__ = ["generate_zoo", "RunSummary"]


@dataclass(frozen=True)
class RunSummary:
    """What one finished run reports back."""

    run_id: str
    status: str
    final_test_accuracy: float
    seconds: float


@dataclass(frozen=True)
class _Task:
    zoo: str
    spec: dict[str, Any]
    data_root: str | None
    device: str
    max_train_samples: int | None
    max_eval_samples: int | None


def _run_task(task: _Task) -> RunSummary:
    start = time.perf_counter()
    spec = RunSpec.from_dict(task.spec)
    data = load_dataset(spec.dataset, task.data_root)
    writer = RunWriter(ZooStore(task.zoo), spec)
    accs: list[float] = []

    def on_checkpoint(epoch: int, state: dict, metrics: Any) -> None:
        writer.add(epoch, state, metrics.__dict__)
        accs.append(metrics.test_accuracy)

    try:
        status = train_run(spec, data, on_checkpoint, device=task.device,
                           max_train_samples=task.max_train_samples,
                           max_eval_samples=task.max_eval_samples)
        writer.commit(status)
    except BaseException:
        writer.abort()
        raise
    return RunSummary(spec.run_id, status, accs[-1] if accs else float("nan"),
                      time.perf_counter() - start)


def generate_zoo(
    spec: ZooSpec,
    out: str | os.PathLike[str],
    *,
    data_root: str | os.PathLike[str] | None = None,
    workers: int | None = None,
    device: str = "auto",
    on_run: Callable[[RunSummary, int, int], None] | None = None,
    index_every: int = 20,
) -> pd.DataFrame:
    """Train the runs of ``spec`` missing from the zoo at ``out``, then write its index.

    Re-running with the same spec resumes: finished runs are kept, unfinished ones redone.

    Parameters
    ----------
    spec : ZooSpec
        What to train.
    out : path
        Zoo folder (created if missing).
    data_root : path, optional
        Dataset root (default: ``$PERFPREDICT_DATA``, then the user cache).
    workers : int, optional
        Worker processes (default: one per core); ``0`` runs in this process.
    device : str
        ``"auto"``, ``"cpu"`` or ``"cuda"``.
    on_run : callable, optional
        Called as ``on_run(summary, done, total)`` after each run (progress display).
    index_every : int
        Rewrite ``index.parquet`` after this many runs, so partial zoos are usable.

    Returns
    -------
    pandas.DataFrame
        The zoo index, one row per checkpoint.
    """
    store = ZooStore(out)
    splits = {name: load_dataset(name, data_root).eval_split for name in spec.datasets}
    store.open(spec, splits)
    done = store.completed()
    runs = spec.runs()
    pending = [r for r in runs if r.run_id not in done]
    root = None if data_root is None else str(Path(data_root).resolve())
    tasks = [_Task(str(store.root), r.to_dict(), root, device, spec.max_train_samples,
                   spec.max_eval_samples) for r in pending]
    executor = make_executor(min(workers, len(tasks)) if workers and tasks else workers)
    finished = len(runs) - len(pending)
    for i, summary in enumerate(executor.map_unordered(_run_task, tasks), start=1):
        finished += 1
        if on_run is not None:
            on_run(summary, finished, len(runs))
        if i % index_every == 0:
            store.build_index()
    return store.build_index()
