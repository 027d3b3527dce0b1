"""Tensors out of any ``torch.save`` file, whole pickled models included, without running code.

``torch.save(model)`` pickles the module tree: the module classes (``torch.nn.Linear``, the
user's ``Net``) are named as globals and rebuilt with ``NEWOBJ`` and ``BUILD``; the tensors are
rebuilt by ``torch._utils._rebuild_tensor_v2`` from storages kept beside the pickle in the zip
file. ``torch.load(weights_only=True)`` refuses such files; ``torch.load`` without it would run
whatever the pickle names.

:func:`read_torch_pickle` unpickles with the pure-Python unpickler and resolves globals
itself:

- ``torch._utils._rebuild_tensor_v2`` and ``_rebuild_parameter`` (and their older and
  state-carrying variants) become our own functions, which check every argument (a storage
  of this file, integer offsets, sizes and strides inside it) and build a tensor with
  ``torch.as_strided`` on a copy of the storage's bytes;
- ``torch.*Storage`` names become dtypes; ``collections.OrderedDict`` stays itself;
- every other global becomes an inert placeholder class: calling it (``REDUCE``),
  instantiating it (``NEWOBJ``, ``INST``, ``OBJ``) or building it (``BUILD``) only records the
  arguments and state. ``BUILD`` on anything but a placeholder is refused.

Nothing named by the file is imported or called, so ``os.system``, ``eval``, ``getattr``
chains and ``__reduce__``/``__setstate__`` tricks have nothing to run. Storages are read from
the zip by name, never extracted; names outside the archive's ``data/`` folder are refused.
The result is walked for tensors: a module's ``_parameters`` and ``_buffers`` under its
dotted name (``features.0.weight``), a dict's values under their keys.
"""

from __future__ import annotations

import io
import math
import pickle
import re
import zipfile
from collections import OrderedDict
from typing import Any, Callable

import numpy as np

from ..errors import CheckpointError, UnsafeCheckpointError

__all__ = ["read_torch_pickle", "Placeholder"]

_MAX_ELEMENTS = 1 << 31
_KEY = re.compile(r"^[A-Za-z0-9_]+$")
_STORAGE_DTYPES = {
    "FloatStorage": "float32", "DoubleStorage": "float64", "HalfStorage": "float16", "BFloat16Storage": "bfloat16",
    "LongStorage": "int64", "IntStorage": "int32", "ShortStorage": "int16", "CharStorage": "int8",
    "ByteStorage": "uint8", "BoolStorage": "bool",
}
_REBUILD = {"_rebuild_tensor", "_rebuild_tensor_v2", "_rebuild_tensor_v3"}
_PARAMETER = {"_rebuild_parameter", "_rebuild_parameter_with_state"}


class Placeholder:
    """An object the file named but that was not created: its global's name, the arguments
    it was called with and the state it was given."""

    _global = "?"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args, self.kwargs, self.state, self.items = args, kwargs, None, []

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def append(self, item: Any) -> None:
        self.items.append(item)

    def extend(self, items: Any) -> None:
        self.items.extend(items)

    def __setitem__(self, key: Any, value: Any) -> None:
        self.items.append((key, value))

    def __repr__(self) -> str:
        return f"<{self._global} (not created)>"


class _Storage:
    """The bytes of one storage of the file, with its dtype."""

    def __init__(self, data: bytes, dtype: str) -> None:
        self.data, self.dtype = bytearray(data), dtype  # writable: torch shares it without a copy

    @property
    def numel(self) -> int:
        return len(self.data) // np.dtype(_np_dtype(self.dtype)).itemsize


def _np_dtype(dtype: str) -> str:
    return "uint16" if dtype == "bfloat16" else dtype


def _ints(value: Any, what: str) -> tuple[int, ...]:
    if not isinstance(value, (tuple, list)) or not all(type(v) is int and v >= 0 for v in value):
        raise CheckpointError(f"a tensor's {what} is not a tuple of non-negative integers")
    return tuple(value)


def _rebuild_tensor(storage: Any, offset: Any, size: Any, stride: Any, *rest: Any) -> Any:
    """A tensor of ``storage``, after checking that every argument is what torch writes."""
    import torch

    if not isinstance(storage, _Storage) or type(offset) is not int or offset < 0:
        raise CheckpointError("a tensor is rebuilt from something other than a storage of the file")
    shape, strides = _ints(size, "size"), _ints(stride, "stride")
    if len(shape) != len(strides) or math.prod(shape) > _MAX_ELEMENTS:
        raise CheckpointError("a tensor's size and stride do not match")
    extent = offset + sum((n - 1) * s for n, s in zip(shape, strides)) + 1 if all(shape) else 0
    if extent > storage.numel:
        raise CheckpointError("a tensor reaches past the end of its storage")
    base = torch.from_numpy(np.frombuffer(storage.data, dtype=_np_dtype(storage.dtype)))
    if storage.dtype == "bfloat16":
        base = base.view(torch.bfloat16)
    return torch.as_strided(base, shape, strides, offset).clone()


def _rebuild_parameter(data: Any, *rest: Any) -> Any:
    import torch

    if not isinstance(data, torch.Tensor):
        raise CheckpointError("a parameter is rebuilt from something other than a tensor")
    return data


def _placeholder(module: str, name: str) -> type:
    return type(name, (Placeholder,), {"_global": f"{module}.{name}"})


class _RestrictedUnpickler(pickle._Unpickler):  # type: ignore[name-defined]
    """The pure-Python unpickler, with globals resolved as described in the module docstring."""

    dispatch = dict(pickle._Unpickler.dispatch)  # type: ignore[attr-defined]

    def __init__(self, data: bytes, storages: Callable[[str, str], _Storage]) -> None:
        super().__init__(io.BytesIO(data))
        self._storages = storages

    def find_class(self, module: str, name: str) -> Any:
        if module == "torch._utils" and name in _REBUILD:
            return _rebuild_tensor
        if module == "torch._utils" and name in _PARAMETER:
            return _rebuild_parameter
        if module == "torch" and name in _STORAGE_DTYPES:
            return _STORAGE_DTYPES[name]
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        return _placeholder(module, name)

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and len(pid) >= 3 and pid[0] == "storage"):
            raise CheckpointError("the file refers to an object that is not a tensor storage")
        dtype, key = pid[1], pid[2]
        if not isinstance(dtype, str) or dtype not in _STORAGE_DTYPES.values():
            dtype = "uint8"  # untyped storage: the rebuild's dtype is not known here; bytes
        if not isinstance(key, str) or not _KEY.match(key):
            raise CheckpointError(f"the file names a storage {key!r} outside its data folder")
        return self._storages(key, dtype)

    def load_build(self) -> None:
        stack = self.stack  # type: ignore[attr-defined]
        state = stack.pop()
        if not isinstance(stack[-1], Placeholder):
            raise CheckpointError(f"the file sets the state of a {type(stack[-1]).__name__}, which no "
                                  "torch.save writes")
        stack[-1].__setstate__(state)

    dispatch[pickle.BUILD[0]] = load_build


def read_torch_pickle(path: str) -> Any:
    """The unpickled content of a zip-format ``torch.save`` file, with placeholders for every
    class or function it names (see the module docstring).

    Raises
    ------
    UnsafeCheckpointError
        Not a zip-format torch file: a bare pickle, which is not read.
    CheckpointError
        A tensor or storage that torch never writes, or a malformed pickle.
    """
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise UnsafeCheckpointError(
            f"{path} holds pickled Python objects besides tensors in a bare pickle (torch's format before "
            "1.6, or not a torch file), so it was refused without running it. If you trust it, load it with "
            "torch and save the weights: torch.save(model.state_dict(), 'model.pt'), or use safetensors") from exc
    with archive:
        pickles = [n for n in archive.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pickles) != 1:
            raise CheckpointError(f"{path} is a zip file but not a torch checkpoint (no single data.pkl)")
        prefix = pickles[0][: -len("data.pkl")]
        cache: dict[str, _Storage] = {}

        def storage(key: str, dtype: str) -> _Storage:
            if key not in cache:
                try:
                    cache[key] = _Storage(archive.read(f"{prefix}data/{key}"), dtype)
                except KeyError:
                    raise CheckpointError(f"the file lacks the storage {key} its pickle refers to") from None
            return cache[key]

        try:
            return _RestrictedUnpickler(archive.read(pickles[0]), storage).load()
        except CheckpointError as exc:
            raise CheckpointError(f"{path} was refused: {exc}") from exc
        except Exception as exc:  # a malformed pickle: whatever the unpickler stumbled on
            raise CheckpointError(f"{path} holds a pickle that cannot be read ({type(exc).__name__}: {exc})") from exc
