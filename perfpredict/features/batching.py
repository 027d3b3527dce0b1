"""Batched extraction: checkpoints of one architecture are stacked and computed together.

Checkpoints are grouped by their *signature* (tensor names and shapes, in order); each group is
cut into chunks of bounded memory, stacked into float32 tensors of shape
``(n_checkpoints, ...)`` (statistics accumulate in float64) and passed through the schema's ``compute`` once per chunk.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch

from ..checkpoints import Checkpoint
from .roles import layer_roles
from .schema import Schema

__all__ = ["signature", "feature_names", "feature_matrix", "left_out", "CHUNK_BYTES", "MAX_CHUNK"]

CHUNK_BYTES = 1 << 23
"""Bytes of stacked weights per chunk (the working memory is a small multiple)."""
MAX_CHUNK = 1024

Signature = tuple[tuple[str, tuple[int, ...]], ...]


def signature(ckpt: Checkpoint) -> Signature:
    """Tensor names and shapes of a checkpoint, in order."""
    return tuple((name, tuple(w.shape)) for name, w in ckpt.tensors.items())


def _groups(checkpoints: Sequence[Checkpoint]) -> dict[Signature, list[int]]:
    groups: dict[Signature, list[int]] = {}
    for i, ckpt in enumerate(checkpoints):
        groups.setdefault(signature(ckpt), []).append(i)
    return groups


def _chunks(sig: Signature, rows: list[int]) -> list[list[int]]:
    per_ckpt = 4 * max(1, sum(math.prod(shape) for _, shape in sig))
    size = max(1, min(MAX_CHUNK, CHUNK_BYTES // per_ckpt))
    return [rows[i:i + size] for i in range(0, len(rows), size)]


def _stack(checkpoints: Sequence[Checkpoint], rows: list[int], sig: Signature) -> dict[str, torch.Tensor]:
    return {name: torch.from_numpy(np.stack([checkpoints[i].tensors[name] for i in rows])).to(torch.float32)
            for name, _ in sig}


_FOLDED = "running_var"
"""The buffers that schemas of ``uses_buffers`` read: BatchNorm running variances, folded into
the layer before."""


def left_out(schema: Schema, checkpoint: Checkpoint) -> dict[str, str]:
    """The tensors of ``checkpoint`` that ``schema``'s features do not read, with why: those
    the reader skipped, less the running variances that a schema of ``uses_buffers`` folds in."""
    return {k: why for k, why in checkpoint.skipped.items() if not (schema.uses_buffers and k.endswith(_FOLDED))}


def _running_variances(checkpoints: Sequence[Checkpoint], rows: list[int]) -> dict[str, torch.Tensor]:
    """The BatchNorm running variances that every checkpoint of ``rows`` has, stacked."""
    first = checkpoints[rows[0]].buffers
    names = [k for k, v in first.items() if k.endswith(_FOLDED)
             and all(checkpoints[i].buffers.get(k, np.empty(0)).shape == v.shape for i in rows)]
    return {k: torch.from_numpy(np.stack([checkpoints[i].buffers[k] for i in rows])).to(torch.float32)
            for k in names}


def _compute(schema: Schema, checkpoints: Sequence[Checkpoint], rows: list[int], sig: Signature) -> dict[str, torch.Tensor]:
    if not sig:
        return {}
    batch = _stack(checkpoints, rows, sig)
    if schema.uses_buffers:
        batch.update(_running_variances(checkpoints, rows))
    with torch.no_grad():
        return schema.compute(batch, layer_roles(dict(sig)))


def feature_names(schema: Schema, checkpoints: Sequence[Checkpoint] = ()) -> list[str]:
    """Names of a schema's features (for per-tensor schemas: those of ``checkpoints``)."""
    if schema.fixed_names is not None:
        return list(schema.fixed_names)
    names: dict[str, None] = {}
    for sig, rows in _groups(checkpoints).items():
        names.update(dict.fromkeys(_compute(schema, checkpoints, rows[:1], sig)))
    return list(names)


def feature_matrix(schema: Schema, checkpoints: Sequence[Checkpoint], names: Sequence[str]) -> np.ndarray:
    """Features ``names`` of every checkpoint, shape ``(n_checkpoints, n_names)``.

    Features a checkpoint does not have are NaN, as are infinite values.
    """
    out = np.full((len(checkpoints), len(names)), np.nan)
    column = {n: j for j, n in enumerate(names)}
    for sig, rows in _groups(checkpoints).items():
        for chunk in _chunks(sig, rows):
            values = _compute(schema, checkpoints, chunk, sig)
            cols = [(column[k], v) for k, v in values.items() if k in column]
            if not cols:
                continue
            block = torch.stack([v for _, v in cols], dim=1).numpy()
            out[np.ix_(chunk, [j for j, _ in cols])] = block
    out[~np.isfinite(out)] = np.nan
    return out
