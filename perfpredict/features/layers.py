"""Statistics of every tensor of a batch of same-architecture checkpoints, tagged with roles."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import torch

from .network import NODE_STATS, node_stats
from .roles import TensorRole
from .spectral import SPECTRAL_STATS, spectral_stats, weight_matrices
from .stats import DIST_STATS, distribution_stats

__all__ = ["Record", "LAYER_STATS", "tensor_records", "batch_records", "spectral_records"]

LAYER_STATS = (*DIST_STATS, *SPECTRAL_STATS, *NODE_STATS)
"""Statistics of a layer weight; other tensors have ``DIST_STATS`` only."""

Stats = dict[str, torch.Tensor]


@dataclass(frozen=True)
class Record:
    """Statistics of one tensor (or one Q/K/V block of a fused attention projection).

    Attributes
    ----------
    label : str
        Tensor name, with ``.q``/``.k``/``.v`` for the blocks of a fused projection.
    groups : tuple of str
        Role groups the statistics count towards (kind; position and ``all`` for layers).
    stats : dict of str to tensor
        Statistic name to values, one per checkpoint.
    """

    label: str
    groups: tuple[str, ...]
    stats: Stats


def _spectral_records(name: str, w: torch.Tensor, groups: tuple[str, ...]) -> list[Record]:
    return [Record(f"{name}.{k}" if k else name, groups, spectral_stats(m))
            for k, m in weight_matrices(name, w).items()]


def tensor_records(name: str, w: torch.Tensor, role: TensorRole) -> list[Record]:
    """Records of the batched tensor ``w`` (shape ``(n_checkpoints, ...)``)."""
    dist = distribution_stats(w.reshape(w.shape[0], -1))
    if not role.is_layer:
        return [Record(name, (role.kind,), dist)]
    groups = (role.kind, str(role.position), "all")
    whole = Record(name, groups, {**dist, **node_stats(w)})
    spectral = _spectral_records(name, w, groups)
    if len(spectral) == 1:
        return [Record(name, groups, {**whole.stats, **spectral[0].stats})]
    return [whole, *spectral]


def batch_records(batch: Mapping[str, torch.Tensor], roles: Mapping[str, TensorRole]) -> list[Record]:
    """Records of every tensor of a batch, in batch order."""
    return [r for name, w in batch.items() for r in tensor_records(name, w, roles[name])]


def spectral_records(batch: Mapping[str, torch.Tensor], roles: Mapping[str, TensorRole]) -> list[Record]:
    """Records with spectral statistics only, one per layer matrix (Q/K/V blocks apart)."""
    return [r for name, w in batch.items() if roles[name].is_layer
            for r in _spectral_records(name, w, ("all",))]
