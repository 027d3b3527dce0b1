"""Generate a zoo: train every run of a ``ZooSpec`` that the store does not hold yet.

Runs are grouped into ensembles (:func:`~perfpredict.zoo.ensemble.group_runs`); each group
with a run still to train is one task for an executor. Tasks return their checkpoints as
safetensors bytes and the calling process writes them, run by run, with atomic renames:
killing generation at any moment loses at most the groups in flight, and re-running the same
command finishes the zoo.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from ..data import load_dataset
from .ensemble import group_runs, train_ensemble
from .executors import Executor, default_workers, make_executor
from .spec import RunSpec, ZooSpec
from .store import RunWriter, ZooStore, encode_checkpoint
from .recipes import resolve_precision
from .train import resolve_device

__all__ = ["generate_zoo", "RunSummary", "RunResult", "GroupTask", "group_tasks", "train_group",
           "local_executor"]


@dataclass(frozen=True)
class RunSummary:
    """What one finished run reports back (``seconds``: wall time of its ensemble)."""

    run_id: str
    status: str
    final_test_accuracy: float
    seconds: float


@dataclass(frozen=True)
class RunResult:
    """One trained run: its spec, status and checkpoints as ``(epoch, metrics, bytes)``.

    ``seconds``: wall time of its ensemble; ``precision``: what it trained in.
    """

    spec: dict[str, Any]
    status: str
    checkpoints: list[tuple[int, dict[str, Any], bytes]]
    seconds: float
    precision: str

    @property
    def run_id(self) -> str:
        return RunSpec.from_dict(self.spec).run_id


@dataclass(frozen=True)
class GroupTask:
    """One ensemble to train: plain data, so it pickles to local workers and Ray tasks."""

    specs: tuple[dict[str, Any], ...]
    data_root: str | None
    device: str
    max_train_samples: int | None
    max_eval_samples: int | None


def group_tasks(spec: ZooSpec, runs: list[RunSpec], data_root: str | None, device: str,
                done: set[str] = frozenset()) -> list[GroupTask]:
    """``runs`` (of ``spec``) grouped into ensembles of ``spec.ensemble_size``, one task each.

    Groups whose runs are all in ``done`` are left out. The others are trained whole, finished
    members included, because a member's numbers depend (in the last bits) on its partners:
    a resumed zoo must equal an uninterrupted one bit for bit.
    """
    return [GroupTask(tuple(r.to_dict() for r in group), data_root, device, spec.max_train_samples,
                      spec.max_eval_samples) for group in group_runs(runs, spec.ensemble_size)
            if any(r.run_id not in done for r in group)]


def local_executor(workers: int | None, tasks: int, device: str = "auto") -> Executor:
    """``workers`` local processes (default one per core), never more than ``tasks``.

    For CPU training on Linux the workers are forked: they start in milliseconds and share
    this process's loaded datasets. CUDA workers are spawned (CUDA does not survive a fork),
    and so are workers on macOS, whose system libraries are not safe to use after a fork.
    """
    n = default_workers() if workers is None else workers
    fork = sys.platform.startswith("linux") and resolve_device(device).type == "cpu"
    return make_executor(workers=min(n, tasks) if n else 0, start_method="fork" if fork else "spawn")


def train_group(task: GroupTask) -> list[RunResult]:
    """Train one ensemble and return its runs (runs in a worker; writes nothing)."""
    start = time.perf_counter()
    specs = [RunSpec.from_dict(d) for d in task.specs]
    data = load_dataset(specs[0].dataset, task.data_root)
    saved: list[list[tuple[int, dict[str, Any], bytes]]] = [[] for _ in specs]

    def on_checkpoint(i: int, epoch: int, state: dict, metrics: Any) -> None:
        saved[i].append((epoch, asdict(metrics), encode_checkpoint(specs[i], epoch, state)))

    statuses = train_ensemble(specs, data, on_checkpoint, device=task.device,
                              max_train_samples=task.max_train_samples,
                              max_eval_samples=task.max_eval_samples)
    seconds = time.perf_counter() - start
    precision = resolve_precision(specs[0].precision, resolve_device(task.device))
    return [RunResult(d, s, ck, seconds, precision) for d, s, ck in zip(task.specs, statuses, saved)]


def _write_run(store: ZooStore, result: RunResult, members: int) -> RunSummary:
    spec = RunSpec.from_dict(result.spec)
    writer = RunWriter(store, spec)
    try:
        for epoch, metrics, blob in result.checkpoints:
            writer.add(epoch, blob, metrics)
        writer.commit(result.status, train_seconds=result.seconds / members, precision=result.precision)
    except BaseException:
        writer.abort()
        raise
    final = result.checkpoints[-1][1]["test_accuracy"] if result.checkpoints else float("nan")
    return RunSummary(spec.run_id, result.status, final, result.seconds)


def _warn_incomplete(run_id: str, reason: str, moved_to: Path) -> None:
    warnings.warn(f"run {run_id} was incomplete ({reason}); it is trained again, and its folder "
                  f"was moved to {moved_to}", stacklevel=3)


def generate_zoo(
    spec: ZooSpec,
    out: str | os.PathLike[str],
    *,
    data_root: str | os.PathLike[str] | None = None,
    workers: int | None = None,
    device: str = "auto",
    executor: Executor | None = None,
    on_run: Callable[[RunSummary, int, int], None] | None = None,
    on_incomplete: Callable[[str, str, Path], None] | None = None,
    index_every: int = 20,
) -> pd.DataFrame:
    """Train the runs of ``spec`` missing from the zoo at ``out``, then write its index.

    Re-running with the same spec resumes: finished runs are kept, unfinished ones redone.
    One process at a time generates a zoo (:meth:`ZooStore.lock`); a second one is refused.

    Parameters
    ----------
    spec : ZooSpec
        What to train.
    out : path
        Zoo folder (created if missing).
    data_root : path, optional
        Dataset root (default: ``$PERFPREDICT_DATA``, then the user cache). With Ray, it
        must exist at the same path on every node.
    workers : int, optional
        Local worker processes (default: one per core, capped at the number of tasks);
        ``0`` trains in this process. Ignored when ``executor`` is given.
    device : str
        ``"auto"`` (CUDA when the worker has it), ``"cpu"`` or ``"cuda"``.
    executor : Executor, optional
        Where tasks run, e.g. :class:`~perfpredict.zoo.executors.RayExecutor`.
    on_run : callable, optional
        Called as ``on_run(summary, done, total)`` after each run is written.
    on_incomplete : callable, optional
        Called as ``on_incomplete(run_id, reason, moved_to)`` for each run folder that is not a
        complete run (:meth:`ZooStore.set_aside_incomplete`); the run is trained again. The
        default issues a warning.
    index_every : int
        Rewrite ``index.parquet`` after this many runs, so partial zoos are usable.

    Returns
    -------
    pandas.DataFrame
        The zoo index, one row per checkpoint.
    """
    store = ZooStore(out)
    with store.lock():
        splits = {name: load_dataset(name, data_root).eval_split for name in spec.datasets}
        runs = store.open(spec, splits)
        for run_id, reason, moved_to in store.set_aside_incomplete():
            (on_incomplete or _warn_incomplete)(run_id, reason, moved_to)
        done = store.completed()
        pending = [r for r in runs if r.run_id not in done]
        root = None if data_root is None else str(Path(data_root).resolve())
        tasks = group_tasks(spec, runs, root, device, done)
        if executor is None:
            executor = local_executor(workers, len(tasks), device)
        finished = len(runs) - len(pending)
        for results in executor.map_unordered(train_group, tasks):
            for result in results:
                if result.run_id in done:
                    continue  # a finished partner, retrained only to train the others exactly
                summary = _write_run(store, result, len(results))
                finished += 1
                if on_run is not None:
                    on_run(summary, finished, len(runs))
                if finished % index_every == 0:
                    store.build_index()
        return store.build_index()
