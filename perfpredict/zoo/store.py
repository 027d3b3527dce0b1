"""Zoo store, format v1 (see the README): safetensors checkpoints, run.json, index.parquet.

A run is written into a temporary folder and renamed into place, so a crash never leaves
a half-written run; the index is rebuilt from the run folders and replaced atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pandas as pd
import torch

from .._io import read_versioned_json, write_json_atomic
from ..errors import PerfPredictError, ZooStoreError
from .spec import RunSpec, ZooSpec

__all__ = ["FORMAT_VERSION", "ZooStore", "RunWriter", "encode_checkpoint", "library_versions"]

FORMAT_VERSION = 1
INDEX_COLUMNS = ["run_id", "epoch", "family", "dataset", "status", "train_loss", "train_accuracy",
                 "test_loss", "test_accuracy", "path", "sha256", "train_seconds", "precision"]


# File descriptors of the zoo locks this process holds. A forked worker inherits them, and an
# flock lasts while any process has its descriptor open: the workers close theirs at once, so
# that a killed generator's zoo is free again as soon as it dies, not when its workers do.
_held_locks: set[int] = set()


def _close_inherited_locks() -> None:
    for fd in _held_locks:
        os.close(fd)
    _held_locks.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_close_inherited_locks)


def library_versions() -> dict[str, str]:
    """Versions of the libraries that shape results."""
    import numpy
    import torch

    from .. import __version__

    return {"perfpredict": __version__, "torch": torch.__version__, "numpy": numpy.__version__}


_SAFETENSORS_DTYPES = {"float32": "F32", "float16": "F16", "bfloat16": "BF16", "float64": "F64",
                       "int64": "I64", "int32": "I32", "int16": "I16", "int8": "I8",
                       "uint8": "U8", "bool": "BOOL"}


def encode_checkpoint(spec: RunSpec, epoch: int, state: dict[str, Any]) -> bytes:
    """One checkpoint as safetensors bytes, with the run id, epoch, family and key order.

    The bytes depend only on the tensors and the metadata (sorted JSON, tensors in state
    order), so the same run always gives the same file and the same SHA-256.
    """
    meta = {"run_id": spec.run_id, "epoch": str(epoch), "family": spec.family,
            "tensor_order": json.dumps(list(state))}
    header: dict[str, Any] = {"__metadata__": meta}
    blobs, offset = [], 0
    for name, tensor in state.items():
        dtype = str(tensor.dtype).removeprefix("torch.")
        if dtype not in _SAFETENSORS_DTYPES:
            raise ValueError(f"cannot store tensor {name} of dtype {dtype} in a checkpoint")
        data = tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes()
        header[name] = {"dtype": _SAFETENSORS_DTYPES[dtype], "shape": list(tensor.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return len(text).to_bytes(8, "little") + text + b"".join(blobs)


class RunWriter:
    """Collects one run's checkpoints in a temporary folder; :meth:`commit` publishes it."""

    def __init__(self, store: "ZooStore", spec: RunSpec) -> None:
        self.store, self.spec = store, spec
        self.tmp = store.root / "runs" / f".tmp-{spec.run_id}-{uuid.uuid4().hex[:8]}"
        self.tmp.mkdir(parents=True)
        self.checkpoints: list[dict[str, Any]] = []

    def add(self, epoch: int, blob: bytes, metrics: dict[str, Any]) -> None:
        """Save one checkpoint (bytes from :func:`encode_checkpoint`) and its metrics."""
        name = f"epoch_{epoch:03d}.safetensors"
        (self.tmp / name).write_bytes(blob)
        self.checkpoints.append({**metrics, "file": name, "sha256": hashlib.sha256(blob).hexdigest()})

    def commit(self, status: str, *, train_seconds: float | None = None, precision: str | None = None) -> None:
        """Write run.json and rename the folder into place (no-op if another writer won).

        ``train_seconds``: the run's share of its ensemble's wall time; ``precision``: what it
        trained in (its spec asks; the hardware decides).
        """
        run = {"format_version": FORMAT_VERSION, "run_id": self.spec.run_id,
               "spec": self.spec.to_dict(), "status": status, "checkpoints": self.checkpoints,
               "train_seconds": train_seconds, "precision": precision or self.spec.precision}
        write_json_atomic(self.tmp / "run.json", run)
        final = self.store.run_dir(self.spec.run_id)
        try:
            os.rename(self.tmp, final)
        except OSError:
            if not (final / "run.json").exists():
                raise
            shutil.rmtree(self.tmp)

    def abort(self) -> None:
        """Remove the temporary folder."""
        shutil.rmtree(self.tmp, ignore_errors=True)


class ZooStore:
    """A zoo folder in format v1.

    Parameters
    ----------
    root : path
        The zoo folder (``zoo.json``, ``index.parquet``, ``runs/``).
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    @property
    def index_path(self) -> Path:
        return self.root / "index.parquet"

    def run_dir(self, run_id: str) -> Path:
        return self.root / "runs" / run_id

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the zoo's writer lock, so that one process at a time generates it.

        The lock is an ``flock`` on ``.lock`` in the zoo folder: the operating system releases
        it when the holder ends, however it ends (SIGKILL included).

        Raises
        ------
        ZooStoreError
            Another process holds the lock.
        """
        import fcntl

        created = not self.root.exists()
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
                raise ZooStoreError(f"{self.root} is being generated by another process (pid {holder}); "
                                    "wait for it to finish, or stop it and re-run to resume") from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
            _held_locks.add(fd)
            yield
        finally:
            _held_locks.discard(fd)
            if created and [p.name for p in self.root.iterdir()] == [".lock"]:
                shutil.rmtree(self.root)  # nothing was generated: leave no trace
            os.close(fd)

    def open(self, spec: ZooSpec, eval_splits: dict[str, str]) -> list[RunSpec]:
        """Create the zoo for ``spec``, or check that an existing zoo was made from it.

        Returns the zoo's runs. ``zoo.json`` records their ids: resuming refuses a spec, or a
        perfpredict version, that would sample different runs. Also removes the temporary
        run folders and index files that an interrupted generator left.
        """
        meta_path = self.root / "zoo.json"
        runs = spec.runs()
        run_ids = [r.run_id for r in runs]
        if meta_path.exists():
            existing = self.read_meta()
            try:  # through ZooSpec, so that fields added since with their defaults compare equal
                made_from = ZooSpec.from_dict(existing.get("spec", {})).to_dict()
            except (PerfPredictError, TypeError):
                made_from = existing.get("spec")
            if made_from != spec.to_dict():
                raise ZooStoreError(
                    f"{self.root} holds a zoo made from another spec ({_spec_difference(made_from, spec.to_dict())}); "
                    "use a new output folder, or re-run with the spec in its zoo.json to resume it "
                    "(the command line names a zoo after its folder)"
                )
            if existing.get("run_ids", run_ids) != run_ids:
                made_by = existing.get("versions", {}).get("perfpredict", "another version")
                raise ZooStoreError(
                    f"{self.root} was sampled by perfpredict {made_by}, whose sampler drew other "
                    "runs from this spec; resume it with that version, or use a new output folder")
        else:
            (self.root / "runs").mkdir(parents=True, exist_ok=True)
            write_json_atomic(meta_path, {
                "format_version": FORMAT_VERSION, "spec": spec.to_dict(), "run_ids": run_ids,
                "eval_splits": eval_splits, "versions": library_versions()})
        for stale in (self.root / "runs").glob(".tmp-*"):
            shutil.rmtree(stale, ignore_errors=True)
        for stale in self.root.glob(".index.*.parquet"):
            stale.unlink(missing_ok=True)
        return runs

    def read_meta(self) -> dict[str, Any]:
        """Contents of ``zoo.json``."""
        return read_versioned_json(self.root / "zoo.json", FORMAT_VERSION, ZooStoreError,
                                   missing="this is not a zoo (no zoo.json); make one with "
                                           "`perfpredict zoo generate`",
                                   corrupt="restore it or regenerate the zoo")

    def _run_folders(self) -> list[Path]:
        """Published run folders (temporary and set-aside folders start with a dot)."""
        runs = self.root / "runs"
        if not runs.is_dir():
            return []
        return sorted(p for p in runs.iterdir() if p.is_dir() and not p.name.startswith("."))

    @staticmethod
    def _read_run(folder: Path) -> tuple[dict[str, Any] | None, str | None]:
        """``(run.json contents, None)`` for a complete run, else ``(None, why it is not)``."""
        try:
            run = json.loads((folder / "run.json").read_text())
        except FileNotFoundError:
            return None, "it has no run.json"
        except (OSError, ValueError) as exc:
            return None, f"its run.json is unreadable ({exc})"
        if not isinstance(run, dict) or run.get("run_id") != folder.name:
            return None, "its run.json belongs to another run"
        missing = [c.get("file") for c in run.get("checkpoints", []) if not (folder / str(c.get("file"))).is_file()]
        return (None, f"checkpoint {missing[0]} is missing") if missing else (run, None)

    def set_aside_incomplete(self) -> list[tuple[str, str, Path]]:
        """Move run folders that are not complete runs out of the way, so they are trained again.

        A folder without a readable ``run.json``, or missing a checkpoint it lists, is renamed
        to ``runs/.incomplete-<run id>-<random>``: nothing is deleted.

        Returns
        -------
        list of (run id, reason, new path)
        """
        moved = []
        for folder in self._run_folders():
            _, reason = self._read_run(folder)
            if reason is not None:
                target = folder.with_name(f".incomplete-{folder.name}-{uuid.uuid4().hex[:8]}")
                os.rename(folder, target)
                moved.append((folder.name, reason, target))
        return moved

    def completed(self) -> set[str]:
        """Ids of runs whose folder is complete."""
        return {p.name for p in self._run_folders() if self._read_run(p)[0] is not None}

    def iter_runs(self) -> Iterator[dict[str, Any]]:
        """Every complete run's ``run.json``, in run-id order."""
        for folder in self._run_folders():
            run, _ = self._read_run(folder)
            if run is not None:
                yield run

    def build_index(self) -> pd.DataFrame:
        """Rebuild ``index.parquet`` from the run folders and return it."""
        rows = []
        for run in self.iter_runs():
            spec = RunSpec.from_dict(run["spec"])
            config = {f"config.{k}": v for k, v in spec.flat().items()}
            for ck in run["checkpoints"]:
                rows.append({
                    "run_id": run["run_id"], "epoch": ck["epoch"], "family": spec.family,
                    "dataset": spec.dataset, "status": ck["status"],
                    **{k: ck[k] for k in ("train_loss", "train_accuracy", "test_loss", "test_accuracy")},
                    "path": f"runs/{run['run_id']}/{ck['file']}", "sha256": ck["sha256"],
                    "train_seconds": run.get("train_seconds"),
                    "precision": run.get("precision", spec.precision), **config,
                })
        frame = pd.DataFrame(rows, columns=None if rows else INDEX_COLUMNS)
        tmp = self.root / f".index.{uuid.uuid4().hex[:8]}.parquet"
        frame.to_parquet(tmp, index=False)
        os.replace(tmp, self.index_path)
        return frame

    def load_index(self) -> pd.DataFrame:
        """Read ``index.parquet``."""
        self.read_meta()
        try:
            return pd.read_parquet(self.index_path)
        except FileNotFoundError:
            raise ZooStoreError(f"{self.root} has no index.parquet yet; run "
                                "`perfpredict zoo generate` on it to finish it") from None
        except Exception as exc:  # pyarrow raises several types for corrupt files
            raise ZooStoreError(f"{self.index_path} is corrupted ({exc}); re-run "
                                "`perfpredict zoo generate` with the same spec to rebuild it") from exc


def _spec_difference(stored: object, given: dict) -> str:
    """Which fields of a zoo's stored spec differ from ``given``, with both values."""
    if not isinstance(stored, dict):
        return "its zoo.json has no readable spec"
    fields = [k for k in sorted(set(stored) | set(given)) if stored.get(k) != given.get(k)]
    return "differs in " + "; ".join(f"{k}: {stored.get(k)!r} in zoo.json, {given.get(k)!r} given" for k in fields)
