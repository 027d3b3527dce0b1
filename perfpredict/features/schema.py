"""Feature schemas: fixed, named, versioned feature vectors of a checkpoint.

- ``agnostic`` (v1): the same names for every architecture: distribution statistics per
  layer role, spectral and node-strength aggregates, and size.
- ``per_layer`` (v1): distribution statistics of every tensor of one fixed architecture.
- ``statnn`` (v1): the published StatNN baseline: mean, variance and quantiles
  0/25/50/75/100 of every tensor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from ..checkpoints import Checkpoint
from ..errors import unknown_name
from .roles import ROLES, layer_roles
from .stats import (DIST_STATS, STATNN_STATS, distribution_stats, gini, node_strength,
                    spectral_stats, statnn_stats)

__all__ = ["Schema", "SCHEMAS", "get_schema"]

_GROUPS = ("all", *ROLES)
_SPECTRAL = ("spectral_norm", "stable_rank", "log_fro")
_NODE = ("mean", "cv", "gini")


@dataclass(frozen=True)
class Schema:
    """A feature schema.

    Attributes
    ----------
    name, version : str, int
        Identify the schema; predictors refuse features of another name or version.
    fixed_names : tuple of str or None
        The feature names when they do not depend on the architecture.
    compute : callable
        ``compute(checkpoint) -> {feature name: value}``.
    """

    name: str
    version: int
    fixed_names: tuple[str, ...] | None
    compute: Callable[[Checkpoint], dict[str, float]]

    def feature_names(self, checkpoints: Sequence[Checkpoint] = ()) -> list[str]:
        """Names of this schema's features (for per-tensor schemas: from ``checkpoints``)."""
        if self.fixed_names is not None:
            return list(self.fixed_names)
        names: dict[str, None] = {}
        for ckpt in checkpoints:
            names.update(dict.fromkeys(self.compute(ckpt)))
        return list(names)


def _agnostic_names() -> tuple[str, ...]:
    names = [f"{g}.{s}" for g in _GROUPS for s in DIST_STATS]
    names += [f"spectral.{m}.{a}" for m in _SPECTRAL for a in ("mean", "min", "max")]
    names += ["spectral.sum_log_fro", "spectral.log_prod_spectral_norm"]
    names += [f"node.{d}.{s}" for d in ("in", "out") for s in _NODE]
    names += ["size.log10_params", "size.n_layers"]
    return tuple(names)


def _node_summary(strength: np.ndarray) -> dict[str, float]:
    mean = float(strength.mean())
    return {"mean": mean, "cv": float(strength.std() / mean) if mean > 0 else float("nan"),
            "gini": gini(strength)}


def _agnostic(ckpt: Checkpoint) -> dict[str, float]:
    tensors = ckpt.tensors
    roles = layer_roles(tensors)
    layers = [n for n, r in roles.items() if r in ("first", "hidden", "head")]
    out: dict[str, float] = {}
    members = {g: [n for n, r in roles.items() if r == g] for g in ROLES}
    members["all"] = layers
    for group in _GROUPS:
        parts = [tensors[n].ravel() for n in members[group]]
        values = np.concatenate(parts) if parts else np.empty(0)
        out.update({f"{group}.{k}": v for k, v in distribution_stats(values).items()})
    spectra = [spectral_stats(tensors[n]) for n in layers]
    for m in _SPECTRAL:
        vals = np.array([s[m] for s in spectra], dtype=np.float64)
        ok = vals[np.isfinite(vals)]
        for agg, fn in (("mean", np.mean), ("min", np.min), ("max", np.max)):
            out[f"spectral.{m}.{agg}"] = float(fn(ok)) if ok.size else float("nan")
    out["spectral.sum_log_fro"] = float(sum(s["log_fro"] for s in spectra)) if spectra else float("nan")
    with np.errstate(divide="ignore", invalid="ignore"):
        out["spectral.log_prod_spectral_norm"] = (
            float(np.sum(np.log([s["spectral_norm"] for s in spectra]))) if spectra else float("nan"))
    summaries = [(_node_summary(i), _node_summary(o)) for i, o in map(node_strength, (tensors[n] for n in layers))]
    for d, k in (("in", 0), ("out", 1)):
        for s in _NODE:
            vals = [x[k][s] for x in summaries]
            out[f"node.{d}.{s}"] = float(np.nanmean(vals)) if np.isfinite(vals).any() else float("nan")
    n_params = sum(w.size for w in tensors.values())
    out["size.log10_params"] = float(np.log10(n_params)) if n_params else float("nan")
    out["size.n_layers"] = float(len(layers))
    return {k: (v if np.isfinite(v) else float("nan")) for k, v in out.items()}


def _per_tensor(stat_fn: Callable[[np.ndarray], dict[str, float]]) -> Callable[[Checkpoint], dict[str, float]]:
    def compute(ckpt: Checkpoint) -> dict[str, float]:
        return {f"{name}.{k}": float(v) for name, w in ckpt.tensors.items() for k, v in stat_fn(w).items()}

    return compute


SCHEMAS: dict[str, Schema] = {
    "agnostic": Schema("agnostic", 1, _agnostic_names(), _agnostic),
    "per_layer": Schema("per_layer", 1, None, _per_tensor(distribution_stats)),
    "statnn": Schema("statnn", 1, None, _per_tensor(statnn_stats)),
}


def get_schema(name: str) -> Schema:
    """The registered schema called ``name``."""
    if name not in SCHEMAS:
        raise unknown_name("feature schema", name, SCHEMAS)
    return SCHEMAS[name]
