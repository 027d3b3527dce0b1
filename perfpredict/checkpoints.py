"""Safe checkpoint loading: a file in, named float tensors (numpy) out. Never unpickles code.

``.safetensors`` is read without torch; ``.pt``/``.pth``/``.bin`` through
``torch.load(weights_only=True)``, which refuses anything but tensors and plain containers;
``.npz`` with ``allow_pickle=False``.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .errors import CheckpointError, UnsafeCheckpointError

__all__ = ["Checkpoint", "load_checkpoint", "as_checkpoint", "CHECKPOINT_SUFFIXES"]

CHECKPOINT_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin", ".npz")
_CONTAINER_KEYS = ("state_dict", "model_state_dict", "model", "module")
_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")


@dataclass(frozen=True)
class Checkpoint:
    """Named floating-point tensors in layer order, and what was skipped and why."""

    tensors: dict[str, np.ndarray]
    skipped: dict[str, str] = field(default_factory=dict)
    source: str = "<memory>"


def _natural_key(name: str) -> list[Any]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def _read_safetensors(path: Path) -> dict[str, Any]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="np") as f:
            order = json.loads((f.metadata() or {}).get("tensor_order", "[]"))
            arrays = {k: _numpy_tensor(f, k) for k in f.keys()}
        half = [k for k, v in arrays.items() if v is None]
        if half:  # bfloat16 has no numpy dtype: read those through torch
            with safe_open(str(path), framework="pt") as f:
                arrays.update({k: f.get_tensor(k).float().numpy() for k in half})
    except Exception as exc:
        raise CheckpointError(f"{path} is not a readable safetensors file ({exc})") from exc
    known = [k for k in order if k in arrays]
    rest = sorted(set(arrays) - set(known), key=_natural_key)
    return {k: arrays[k] for k in known + rest}


def _numpy_tensor(f: Any, name: str) -> np.ndarray | None:
    """A tensor of an open safetensors file as numpy, or None if numpy has no such dtype."""
    try:
        return f.get_tensor(name)
    except TypeError:
        return None


def _read_torch(path: Path) -> dict[str, Any]:
    import pickle

    import torch

    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise UnsafeCheckpointError(
            f"{path} holds pickled Python objects besides tensors, so it was refused without "
            "running them (loading it could execute arbitrary code). If you trust it, re-save "
            "only the weights: torch.save(model.state_dict(), 'model.pt'), or use safetensors"
        ) from exc
    except Exception as exc:
        raise CheckpointError(f"{path} is not a readable torch checkpoint ({exc})") from exc
    return _unwrap(obj, path)


def _unwrap(obj: Any, path: Path) -> dict[str, Any]:
    while isinstance(obj, Mapping):
        inner = next((obj[k] for k in _CONTAINER_KEYS if isinstance(obj.get(k), Mapping)), None)
        if inner is None:
            break
        obj = inner
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{path} holds a {type(obj).__name__}, not a state dict of named tensors")
    names = [str(k) for k in obj]
    if names and all(n.startswith("module.") for n in names):
        return {n[len("module."):]: v for n, v in zip(names, obj.values())}
    return dict(zip(names, obj.values()))


def _read_npz(path: Path) -> dict[str, Any]:
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except ValueError as exc:
        raise UnsafeCheckpointError(f"{path} holds pickled objects; refused (save plain arrays)") from exc
    except Exception as exc:
        raise CheckpointError(f"{path} is not a readable .npz file ({exc})") from exc


def as_checkpoint(tensors: Mapping[str, Any], source: str = "<memory>") -> Checkpoint:
    """Convert a mapping of tensors/arrays to a :class:`Checkpoint`.

    Floating tensors are kept as float32 or float64 numpy arrays (fp16/bf16 are upcast,
    quantized tensors dequantized); BatchNorm running statistics (buffers, not learned
    weights), integer, boolean and non-tensor entries are skipped with a reason.
    """
    kept: dict[str, np.ndarray] = {}
    skipped: dict[str, str] = {}
    for name, value in tensors.items():
        if name.rsplit(".", 1)[-1] in _BUFFERS:
            skipped[name] = "BatchNorm running statistic (a buffer, not a learned weight)"
            continue
        if hasattr(value, "detach"):  # torch tensor
            value = _torch_to_numpy(value)
            if isinstance(value, str):
                skipped[name] = value
                continue
        if not isinstance(value, np.ndarray):
            skipped[name] = f"not a tensor ({type(value).__name__})"
        elif not np.issubdtype(value.dtype, np.floating):
            skipped[name] = f"non-floating dtype {value.dtype}"
        else:
            kept[name] = value if value.dtype in (np.float32, np.float64) else value.astype(np.float32)
    return Checkpoint(kept, skipped, source)


def _torch_to_numpy(t: Any) -> np.ndarray | str:
    """A torch tensor as numpy (half precisions upcast, quantized dequantized), or the reason it cannot be."""
    import torch

    t = t.detach().cpu()
    if t.is_quantized:
        t = t.dequantize()
    if t.dtype in (torch.float16, torch.bfloat16):
        t = t.float()
    try:
        return t.numpy()
    except (TypeError, RuntimeError) as exc:
        return f"cannot be read as an array ({t.dtype}: {exc})"


_READERS = {".safetensors": _read_safetensors, ".pt": _read_torch, ".pth": _read_torch,
            ".bin": _read_torch, ".npz": _read_npz}


def load_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Load the floating-point tensors of a checkpoint file.

    Parameters
    ----------
    path : path
        A ``.safetensors``, ``.pt``, ``.pth``, ``.bin`` or ``.npz`` file.

    Raises
    ------
    CheckpointError
        The file is missing, unreadable, or not a state dict.
    UnsafeCheckpointError
        The file holds pickled objects other than tensors (never executed).
    """
    p = Path(path)
    if p.is_dir():
        raise CheckpointError(f"{p} is a folder; pass a checkpoint file (one of {', '.join(_READERS)})")
    if not p.exists():
        raise CheckpointError(f"{p} does not exist")
    if p.stat().st_size == 0:
        raise CheckpointError(f"{p} is empty (0 bytes): it was not written completely; save the checkpoint again")
    reader = _READERS.get(p.suffix.lower())
    if reader is None:
        raise CheckpointError(f"{p} has an unknown suffix; expected one of {', '.join(_READERS)}")
    return as_checkpoint(reader(p), str(p))
