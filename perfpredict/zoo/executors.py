"""Where training tasks execute: this process, local worker processes, or a Ray cluster.

Every executor runs ``fn`` over items and yields results as they complete, in any order.
Workers compute and return results; only the calling process writes to the zoo, so a zoo
needs no shared filesystem and has one writer.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from typing import Any, Callable, Iterable, Iterator, Protocol

from ..errors import PerfPredictError

__all__ = ["Executor", "SerialExecutor", "LocalExecutor", "RayExecutor", "make_executor",
           "default_workers", "EXECUTORS"]

EXECUTORS = ("local", "ray")


class Executor(Protocol):
    """Runs ``fn`` over items and yields results as they complete (in any order)."""

    def map_unordered(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]: ...


class SerialExecutor:
    """Runs everything in the calling process (no thread settings are changed)."""

    def map_unordered(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
        for item in items:
            yield fn(item)


def _keep_freed_memory() -> None:
    """Let glibc reuse freed tensor memory instead of returning it to the OS.

    Training allocates and frees the same large buffers every step; by default glibc unmaps
    them and the next step page-faults them back in, which makes elementwise ops several
    times slower. Called only in processes that run perfpredict's training tasks (local pool
    workers and Ray task workers), never in the caller's process.
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc: nothing to tune
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    mallopt(m_mmap_threshold, 32 * 1024 * 1024)  # glibc's maximum on 64-bit
    mallopt(m_trim_threshold, 2**31 - 1)


def _one_thread() -> None:
    import torch

    _keep_freed_memory()
    torch.set_num_threads(1)
    if torch.get_num_interop_threads() != 1:
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:  # already set once in this process (a reused Ray worker)
            pass


def _exit_with_parent(parent: int, poll_s: float = 1.0) -> None:
    """Exit this process soon after its parent process ``parent`` dies, however it died
    (already dead included: it may die while this process starts).

    Without this, killing ``zoo generate`` leaves its pool workers training for nobody until
    their task ends.
    """

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_s)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _local_worker(parent: int) -> None:
    _exit_with_parent(parent)
    _one_thread()


def _call_with_one_thread(fn: Callable[[Any], Any], item: Any) -> Any:
    _one_thread()
    return fn(item)


class LocalExecutor:
    """A pool of ``workers`` local processes, each limited to one torch thread.

    Never use more busy workers than cores: oversubscribed torch slows down 3x-60x.

    Parameters
    ----------
    workers : int
        Worker processes.
    start_method : {"spawn", "fork", "forkserver"}
        How workers start. ``"spawn"`` works everywhere and with CUDA, and costs each worker
        a fresh interpreter and ``import torch`` (~2 s). ``"fork"`` starts a worker in
        milliseconds with this process's modules and loaded datasets, shared copy-on-write;
        use it for CPU work on Linux only: CUDA cannot be used in a forked child, and macOS
        system libraries are not safe after a fork.
    """

    def __init__(self, workers: int, *, start_method: str = "spawn") -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, not {workers}")
        if start_method not in multiprocessing.get_all_start_methods():
            raise ValueError(f"start_method must be one of {multiprocessing.get_all_start_methods()} "
                             f"on this platform, not {start_method!r}")
        self.workers = workers
        self.start_method = start_method

    def map_unordered(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
        ctx = multiprocessing.get_context(self.start_method)
        with ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_local_worker,
                                 initargs=(os.getpid(),)) as pool:
            futures: list[Future[Any]] = [pool.submit(fn, item) for item in items]
            try:
                for fut in as_completed(futures):
                    yield fut.result()
            finally:
                for fut in futures:
                    fut.cancel()


class RayExecutor:
    """Tasks on an existing Ray cluster, one CPU (and one torch thread) each.

    Parameters
    ----------
    address : str
        The cluster's address (``ray start --head`` prints it), e.g. ``"10.0.0.1:6379"``;
        ``"auto"`` finds a cluster started on this machine.
    gpus_per_task : float
        GPUs each task asks Ray for (``0``: CPU tasks).
    """

    def __init__(self, address: str, *, gpus_per_task: float = 0.0) -> None:
        self.address = address
        self.gpus_per_task = gpus_per_task

    def map_unordered(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
        ray = _import_ray()
        started_here = not ray.is_initialized()
        if started_here:
            try:
                ray.init(address=self.address, log_to_driver=False)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise PerfPredictError(
                    f"cannot connect to a Ray cluster at {self.address!r} ({exc}); start one with "
                    "`ray start --head` and pass the address it prints") from exc
        try:
            remote = ray.remote(num_cpus=1, num_gpus=self.gpus_per_task)(_call_with_one_thread)
            pending = [remote.remote(fn, item) for item in items]
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                yield ray.get(done[0])
        finally:
            if started_here:
                ray.shutdown()


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise PerfPredictError("the ray executor needs Ray: pip install 'perfpredict[ray]'") from None
    return ray


def default_workers() -> int:
    """One worker per available core."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def make_executor(kind: str = "local", *, workers: int | None = None,
                  address: str | None = None, start_method: str = "spawn") -> Executor:
    """An executor by name.

    Parameters
    ----------
    kind : {"local", "ray"}
        Local processes (default) or tasks on a Ray cluster at ``address``.
    workers : int, optional
        Local worker processes: ``None`` one per core, ``0`` in this process.
    address : str, optional
        Ray cluster address (required for ``"ray"``).
    start_method : {"spawn", "fork", "forkserver"}
        How local workers start (see :class:`LocalExecutor`).
    """
    if kind == "ray":
        if not address:
            raise PerfPredictError("the ray executor needs the cluster's address: --address HOST:PORT")
        return RayExecutor(address)
    if kind != "local":
        raise PerfPredictError(f"executor must be one of {EXECUTORS}, not {kind!r}")
    if workers == 0:
        return SerialExecutor()
    return LocalExecutor(default_workers() if workers is None else workers, start_method=start_method)
