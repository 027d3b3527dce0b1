"""Layer roles inferred from tensor names and shapes, for any architecture.

Every tensor gets a *kind*; layer weights also get a *position*:

- kinds: ``conv`` (a weight of 3 or more dimensions), ``attention`` (a projection inside an
  attention block), ``embedding`` (token, class and position embeddings), ``linear`` (any
  other 2-d weight), ``norm`` (1-d scales of normalization layers), ``bias`` and ``other``
  (scalars and anything unrecognised);
- positions, among layer weights (``*weight`` tensors of 2 or more dimensions) in state-dict
  order: ``first``, ``hidden`` and ``head`` (the last one, the classifier).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping, Sequence

__all__ = ["KINDS", "POSITIONS", "TensorRole", "layer_roles"]

KINDS = ("conv", "linear", "attention", "embedding", "norm", "bias", "other")
POSITIONS = ("first", "hidden", "head")
_ATTENTION = {"attn", "attention", "query", "key", "value", "qkv"}
_ATTENTION_PROJ = re.compile(r"(^|[._])(in_proj|q_proj|k_proj|v_proj)")
_EMBEDDING = {"embed", "embedding", "embeddings", "token", "tokens", "pos", "position", "cls",
              "wte", "wpe"}


@dataclass(frozen=True)
class TensorRole:
    """Role of one tensor.

    Attributes
    ----------
    kind : str
        One of :data:`KINDS`.
    position : str or None
        ``first``, ``hidden`` or ``head`` for layer weights, else None.
    """

    kind: str
    position: str | None = None

    @property
    def is_layer(self) -> bool:
        """Whether the tensor is a layer's weight matrix (or kernel)."""
        return self.position is not None


def _tokens(name: str) -> set[str]:
    return set(re.split(r"[._]", name.lower()))


def _is_layer(name: str, shape: Sequence[int]) -> bool:
    return len(shape) >= 2 and name.endswith("weight") and all(shape)


def _kind(name: str, shape: Sequence[int], layer: bool) -> str:
    tokens = _tokens(name)
    if layer and len(shape) >= 3:
        return "conv"
    if tokens & _ATTENTION or _ATTENTION_PROJ.search(name.lower()):
        return "attention" if len(shape) >= 2 else ("bias" if name.endswith("bias") else "norm")
    if tokens & _EMBEDDING and len(shape) >= 1 and not name.endswith("bias"):
        return "embedding"
    if layer:
        return "linear"
    if len(shape) == 1:
        return "bias" if name.endswith("bias") else "norm"
    return "other"


def layer_roles(shapes: Mapping[str, Sequence[int]]) -> dict[str, TensorRole]:
    """The role of every tensor, from its name and shape.

    Parameters
    ----------
    shapes : mapping of str to tuple of int
        Tensor names to shapes, in layer order (state-dict order).
    """
    layers = [n for n, s in shapes.items() if _is_layer(n, s)]
    positions = dict.fromkeys(layers, "hidden")
    if layers:
        positions[layers[0]] = "first"
        if len(layers) > 1:
            positions[layers[-1]] = "head"
    return {n: TensorRole(_kind(n, s, n in positions), positions.get(n)) for n, s in shapes.items()}
