"""Where runs execute: in this process, or in local worker processes (one thread each)."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from typing import Any, Callable, Iterable, Iterator, Protocol

__all__ = ["Executor", "SerialExecutor", "LocalExecutor", "make_executor"]


class Executor(Protocol):
    """Runs ``fn`` over items and yields results as they complete (in any order)."""

    def map_unordered(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]: ...


class SerialExecutor:
    """Runs everything in the calling process (no thread settings are changed)."""

    def map_unordered(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
        for item in items:
            yield fn(item)


def _init_worker() -> None:
    import torch

    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)


class LocalExecutor:
    """A pool of ``workers`` spawned processes, each limited to one torch thread.

    Never use more busy workers than cores: oversubscribed torch slows down 3x-60x.
    """

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, not {workers}")
        self.workers = workers

    def map_unordered(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_init_worker) as pool:
            futures: list[Future[Any]] = [pool.submit(fn, item) for item in items]
            try:
                for fut in as_completed(futures):
                    yield fut.result()
            finally:
                for fut in futures:
                    fut.cancel()


def default_workers() -> int:
    """One worker per available core."""
    import os

    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def make_executor(workers: int | None = None) -> Executor:
    """``workers=0``: in-process; ``None``: one process per core; ``n``: ``n`` processes."""
    if workers == 0:
        return SerialExecutor()
    return LocalExecutor(default_workers() if workers is None else workers)
