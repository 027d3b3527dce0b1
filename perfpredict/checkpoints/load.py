"""Safe checkpoint loading: a file in, named float tensors (numpy) out. Never runs code.

The format is read from the file's first bytes, whatever its suffix: safetensors (read
without torch); a torch zip (``torch.load(weights_only=True)``, and for files that pickle
more than tensors, such as whole models, Lightning checkpoints or training snapshots, the
restricted unpickler of :mod:`.torch_pickle`, which creates nothing the file names); a numpy
``.npz`` (``allow_pickle=False``); Keras HDF5 or ``.keras`` weights (:mod:`.keras`, with h5py).
"""

from __future__ import annotations

import json
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..errors import CheckpointError, UnsafeCheckpointError

__all__ = ["Checkpoint", "load_checkpoint", "as_checkpoint", "CHECKPOINT_SUFFIXES"]

CHECKPOINT_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin", ".npz", ".ckpt", ".th", ".tar", ".h5", ".hdf5",
                       ".keras")
"""Suffixes of the files taken from a folder (a file given by name is read whatever its suffix)."""
_CONTAINER_KEYS = ("state_dict", "model_state_dict", "model", "module", "net", "network")
_PREFIXES = ("module.", "model.", "_orig_mod.", "net.")
"""Name prefixes that wrappers add to every tensor (DataParallel, Lightning, torch.compile)."""
_HDF5 = b"\x89HDF\r\n\x1a\n"
_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")


@dataclass(frozen=True)
class Checkpoint:
    """Named floating-point tensors in layer order, and what was skipped and why.

    ``buffers`` holds the BatchNorm running statistics, skipped from ``tensors`` (they are not
    learned weights) but kept for the features that fold BatchNorm into the layer before it.
    """

    tensors: dict[str, np.ndarray]
    skipped: dict[str, str] = field(default_factory=dict)
    source: str = "<memory>"
    buffers: dict[str, np.ndarray] = field(default_factory=dict)


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

    from .torch_pickle import read_torch_pickle

    try:
        with warnings.catch_warnings():  # torch's notes on old pickle protocols and storages are not the user's
            warnings.filterwarnings("ignore", "(?s).*(pickle protocol|TypedStorage)", UserWarning)
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # more than tensors: read it without creating what it names
        obj = read_torch_pickle(str(path))
    except Exception as exc:
        raise CheckpointError(f"{path} is not a readable torch checkpoint ({exc})") from exc
    return _unwrap(_state_dicts(obj), path)


def _state_dicts(obj: Any) -> Any:
    """``obj`` with every pickled module (a placeholder with ``_parameters`` and ``_modules``)
    replaced by its state dict, in dicts and lists too."""
    from .torch_pickle import Placeholder

    if isinstance(obj, Placeholder) and isinstance(obj.state, Mapping) and "_modules" in obj.state:
        out: dict[str, Any] = {}
        _module_tensors(obj, "", out)
        return out
    if isinstance(obj, Mapping):
        return {k: _state_dicts(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_state_dicts(v) for v in obj]
    return obj


def _module_tensors(module: Any, prefix: str, out: dict[str, Any]) -> None:
    """A pickled module's parameters and buffers by dotted name, children in order."""
    from .torch_pickle import Placeholder

    state = module.state
    for group in ("_parameters", "_buffers"):
        for name, value in dict(state.get(group) or {}).items():
            if value is not None:
                out[f"{prefix}{name}"] = value
    for name, child in dict(state.get("_modules") or {}).items():
        if isinstance(child, Placeholder) and isinstance(child.state, Mapping):
            _module_tensors(child, f"{prefix}{name}.", out)


def _unwrap(obj: Any, path: Path) -> dict[str, Any]:
    while isinstance(obj, Mapping):
        inner = next((obj[k] for k in _CONTAINER_KEYS if isinstance(obj.get(k), Mapping)), None)
        if inner is None:
            break
        obj = inner
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{path} holds a {type(obj).__name__}, not a state dict of named tensors")
    named = {str(k): v for k, v in obj.items()}
    while named and (prefix := next((p for p in _PREFIXES if all(n.startswith(p) for n in named)), None)):
        named = {n[len(prefix):]: v for n, v in named.items()}
    return named


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
    buffers: dict[str, np.ndarray] = {}
    skipped: dict[str, str] = {}
    for name, value in tensors.items():
        if hasattr(value, "detach"):  # torch tensor
            value = _torch_to_numpy(value)
            if isinstance(value, str):
                skipped[name] = value
                continue
        if not isinstance(value, np.ndarray):
            skipped[name] = f"not a tensor ({type(value).__name__})"
        elif name.rsplit(".", 1)[-1] in _BUFFERS:
            skipped[name] = "BatchNorm running statistic (a buffer, not a learned weight)"
            if np.issubdtype(value.dtype, np.floating):
                buffers[name] = value.astype(np.float32)
        elif not np.issubdtype(value.dtype, np.floating):
            skipped[name] = f"non-floating dtype {value.dtype}"
        else:
            kept[name] = value if value.dtype in (np.float32, np.float64) else value.astype(np.float32)
    return Checkpoint(kept, skipped, source, buffers)


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


def _read_keras(path: Path) -> dict[str, Any]:
    from .keras import read_keras

    return read_keras(path)


def _reader(path: Path) -> Any:
    """The reader of a file's format, told by its first bytes (CheckpointError if none)."""
    with open(path, "rb") as f:
        head = f.read(9)
    if head.startswith(_HDF5):
        return _read_keras
    if head.startswith(b"PK\x03\x04"):
        import zipfile

        try:
            with zipfile.ZipFile(path) as z:
                names = z.namelist()
        except zipfile.BadZipFile as exc:
            raise CheckpointError(f"{path} is a damaged zip file ({exc})") from exc
        if any(n.endswith("model.weights.h5") for n in names):
            return _read_keras
        if names and all(n.endswith(".npy") for n in names):
            return _read_npz
        return _read_torch
    if len(head) == 9 and head[8:9] == b"{":
        return _read_safetensors
    if head[:1] == b"\x80":  # a bare pickle: torch's format before 1.6
        return _read_torch
    raise CheckpointError(f"{path} is not a checkpoint perfpredict can read: not safetensors, a torch file, "
                          "a numpy .npz or Keras HDF5 weights (its first bytes are "
                          f"{head[:8]!r})")


def load_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Load the floating-point tensors of a checkpoint file, whatever its suffix.

    Parameters
    ----------
    path : path
        A safetensors file; a ``torch.save`` file (a state dict, a dict holding one such as a
        training snapshot or a Lightning checkpoint, or a whole pickled model, read without
        running its code); a numpy ``.npz``; Keras ``.h5``/``.keras`` weights (needs h5py).

    Raises
    ------
    CheckpointError
        The file is missing, empty, unreadable, or holds no state dict.
    UnsafeCheckpointError
        An ``.npz`` file holds pickled objects.
    """
    p = Path(path)
    if p.is_dir():
        raise CheckpointError(f"{p} is a folder; pass a checkpoint file, or give the folder to "
                              "`perfpredict features`, which reads the checkpoints inside it")
    if not p.exists():
        raise CheckpointError(f"{p} does not exist")
    if p.stat().st_size == 0:
        raise CheckpointError(f"{p} is empty (0 bytes): it was not written completely; save the checkpoint again")
    return as_checkpoint(_reader(p)(p), str(p))
