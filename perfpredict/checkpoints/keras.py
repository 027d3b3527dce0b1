"""Keras weights (HDF5 ``.h5`` and Keras 3 ``.keras`` archives) as PyTorch-style state dicts.

Read with h5py (``pip install "perfpredict[keras]"``); nothing in the file is executed (the
model config is read as JSON only, for the layer order). Three layouts:

- Keras 2 ``model.save("m.h5")``: group ``model_weights`` whose attribute ``layer_names``
  orders the layers, each layer group naming its datasets in ``weight_names``
  (``dense/kernel:0``);
- Keras 2 ``model.save_weights("w.h5")``: the same at the root;
- Keras 3 (``.weights.h5``, and ``model.weights.h5`` inside a ``.keras`` zip):
  ``layers/<layer>/vars/<i>``, ordered by the archive's ``config.json`` when there is one,
  else by layer name.

Mapped to PyTorch's conventions: ``kernel`` becomes ``<layer>.weight``, dense kernels
transposed to ``out x in``, convolution kernels (``H x W x in x out``) to ``out x in x H x W``;
``bias`` stays ``<layer>.bias``; BatchNormalization's ``gamma``, ``beta``, ``moving_mean``
and ``moving_variance`` become ``weight``, ``bias``, ``running_mean`` and ``running_var``;
``embeddings`` become ``weight``.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CheckpointError
from .load import _natural_key

__all__ = ["read_keras", "torch_layout"]

_NAMES = {"kernel": "weight", "depthwise_kernel": "weight", "bias": "bias", "gamma": "weight", "beta": "bias",
          "moving_mean": "running_mean", "moving_variance": "running_var", "embeddings": "weight"}
_BATCHNORM = ("weight", "bias", "running_mean", "running_var")


def torch_layout(name: str, value: np.ndarray) -> np.ndarray:
    """A Keras kernel in PyTorch's layout: dense ``in x out`` to ``out x in``, convolution
    ``(spatial..., in, out)`` to ``(out, in, spatial...)``; other tensors unchanged."""
    if name != "kernel" or value.ndim < 2:
        return value
    n = value.ndim
    return np.ascontiguousarray(np.transpose(value, (n - 1, n - 2, *range(n - 2))))


def _decode(values: Any) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


def _keras2(root: Any) -> dict[str, np.ndarray]:
    """Layers named by ``layer_names``, their weights by ``weight_names``."""
    out: dict[str, np.ndarray] = {}
    for layer in _decode(root.attrs["layer_names"]):
        group = root[layer]
        for weight in _decode(group.attrs.get("weight_names", [])):
            kind = weight.rsplit("/", 1)[-1].split(":")[0]
            value = np.asarray(group[weight])
            out[f"{layer}.{_NAMES.get(kind, kind)}"] = torch_layout(kind, value)
    return out


def _keras3(root: Any, order: list[str]) -> dict[str, np.ndarray]:
    """``layers/<layer>/vars/<i>``: kernel and bias, or BatchNormalization's four vectors."""
    layers = root["layers"]
    names = [n for n in order if n in layers] + sorted((n for n in layers if n not in order), key=_natural_key)
    out: dict[str, np.ndarray] = {}
    for layer in names:
        group = layers[layer].get("vars")
        if group is None:
            continue
        values = [np.asarray(group[k]) for k in sorted(group, key=_natural_key)]
        if len(values) == 4 and all(v.ndim == 1 for v in values):
            out.update({f"{layer}.{n}": v for n, v in zip(_BATCHNORM, values)})
            continue
        for i, value in enumerate(values):
            kind = ("kernel" if value.ndim >= 2 else "bias") if i < 2 else f"var{i}"
            out[f"{layer}.{_NAMES.get(kind, kind)}"] = torch_layout(kind, value)
    return out


def _config_order(archive: zipfile.ZipFile) -> list[str]:
    """Layer names in the order of a ``.keras`` archive's ``config.json`` (JSON only)."""
    try:
        config = json.loads(archive.read("config.json"))
        return [layer["config"]["name"] for layer in config["config"]["layers"]]
    except (KeyError, TypeError, ValueError):
        return []


def read_keras(path: Path) -> dict[str, np.ndarray]:
    """The weights of a Keras file, named and laid out as a PyTorch state dict.

    Raises
    ------
    CheckpointError
        h5py is missing, or the file has none of the layouts above.
    """
    try:
        import h5py
    except ImportError:
        raise CheckpointError(f"{path} holds Keras weights; reading them needs h5py: "
                              "pip install 'perfpredict[keras]'") from None
    order: list[str] = []
    source: Any = str(path)
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            order = _config_order(archive)
            inner = next(n for n in archive.namelist() if n.endswith("model.weights.h5"))
            source = io.BytesIO(archive.read(inner))
    try:
        with h5py.File(source, "r") as f:
            if "layers" in f:
                return _keras3(f, order)
            root = f["model_weights"] if "model_weights" in f else f
            if "layer_names" in root.attrs:
                return _keras2(root)
    except (OSError, KeyError, ValueError) as exc:
        raise CheckpointError(f"{path} is not readable Keras weights ({exc})") from exc
    raise CheckpointError(f"{path} is an HDF5 file without Keras weights (no layer_names, no layers group)")
