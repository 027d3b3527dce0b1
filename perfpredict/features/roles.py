"""Layer roles inferred from tensor names and shapes, for any architecture."""

from __future__ import annotations

from typing import Mapping

import numpy as np

__all__ = ["ROLES", "layer_roles"]

ROLES = ("first", "hidden", "head", "bias", "norm", "embedding")


def layer_roles(tensors: Mapping[str, np.ndarray]) -> dict[str, str]:
    """Assign each tensor a role.

    Layer weights (``*weight`` tensors of 2 or more dimensions: linear, conv, attention
    projections) are ``first``, ``hidden`` or ``head`` by their order in the state dict;
    1-d ``*bias`` tensors are ``bias``, other 1-d tensors ``norm`` (scales of
    normalization layers); anything else (class tokens, position embeddings) ``embedding``.
    """
    roles: dict[str, str] = {}
    layers = [n for n, w in tensors.items() if w.ndim >= 2 and n.endswith("weight") and w.size]
    for name, w in tensors.items():
        if name in layers:
            roles[name] = "hidden"
        elif w.ndim == 1 and name.endswith("bias"):
            roles[name] = "bias"
        elif w.ndim <= 1:
            roles[name] = "norm"
        else:
            roles[name] = "embedding"
    if layers:
        roles[layers[0]] = "first"
        if len(layers) > 1:
            roles[layers[-1]] = "head"
    return roles
