"""What a checkpoint's structure says about it, read from tensor names and shapes alone: the
input its first layer takes, the classes of its head, and the kinds of layers it contains.

Layer kinds (:data:`LAYER_KINDS`):

- ``conv``, ``linear``, ``attention``, ``embedding``: layer weights, as :mod:`.roles` names them;
- ``batch_norm``: normalization with running statistics (``running_mean``/``running_var``
  buffers);
- ``norm``: other normalization scales (LayerNorm, GroupNorm: 1-d ``weight`` tensors without
  running statistics);
- ``residual``: shortcut connections, recognised by name (``shortcut``, ``downsample``,
  ``skip``, ``residual``) or by a convolution whose input channels differ from the output
  channels of the convolution before it (a branch; depthwise kernels excepted). Parameter-free
  shortcuts (zero padding) between matching convolutions cannot be seen in the weights;
- ``sparse``: a layer weight with at least :data:`SPARSE_SHARE` of its entries exactly zero, but
  not all, as pruning leaves it. Trained and initialized weights have next to none (at most
  0.006% in any layer of the 4,745 reference zoo v2 checkpoints kept here), so a pruned network
  is flagged unless the training zoo had pruned networks too. A layer of zeros only is not
  pruned but zero-initialized (torchvision's ViT head before training).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from ..checkpoints import Checkpoint
from .roles import TensorRole, layer_roles

__all__ = ["LAYER_KINDS", "SPARSE_SHARE", "Structure", "checkpoint_structure", "structure_problems", "table_layer_kinds",
           "architecture_kinds"]

LAYER_KINDS = ("conv", "linear", "attention", "embedding", "batch_norm", "norm", "residual", "sparse")
SPARSE_SHARE = 0.1
"""Share of exact zeros in a layer weight (not all zero) that makes it ``sparse`` (pruned)."""
_COUNTED = ("conv", "linear", "attention", "embedding")
_RESIDUAL = {"shortcut", "downsample", "skip", "residual"}
_RUNNING = ("running_mean", "running_var")


@dataclass(frozen=True)
class Structure:
    """What the weights fix about a network's input and output.

    Attributes
    ----------
    input_channels : int or None
        Channels the first layer takes, when it is a convolution (or a patch embedding).
    input_features : int or None
        Inputs the first layer takes, when it is a dense layer on the flattened image.
    image_size : int or None
        Side of the square image a position embedding fixes (vision transformers).
    num_classes : int or None
        Outputs of the head (the last layer weight).
    layer_kinds : tuple of str
        Kinds of layers present, a subset of :data:`LAYER_KINDS` in its order.
    """

    input_channels: int | None
    input_features: int | None
    image_size: int | None
    num_classes: int | None
    layer_kinds: tuple[str, ...]


def _tokens(name: str) -> set[str]:
    return set(re.split(r"[._]", name.lower()))


def _image_size(shapes: Mapping[str, Sequence[int]], patch: int) -> int | None:
    """Image side fixed by a position embedding of ``T`` (or ``T - 1`` with a class token)
    patches of side ``patch``."""
    for name, shape in shapes.items():
        if len(shape) == 3 and shape[0] == 1 and _tokens(name) & {"pos", "position", "pos_embedding", "pos_embed"}:
            for patches in (shape[1] - 1, shape[1]):
                side = math.isqrt(patches)
                if patches > 0 and side * side == patches:
                    return side * patch
    return None


def _pruned(weight: np.ndarray) -> bool:
    """At least :data:`SPARSE_SHARE` of the entries exactly zero, and not all of them."""
    zeros = weight.size - np.count_nonzero(weight)
    return SPARSE_SHARE * weight.size <= zeros < weight.size


def _kinds(tensors: Mapping[str, np.ndarray], roles: Mapping[str, TensorRole],
           buffers: Sequence[str]) -> tuple[str, ...]:
    shapes = {n: w.shape for n, w in tensors.items()}
    found = {r.kind for r in roles.values() if r.kind in _COUNTED}
    if any(roles[n].is_layer and _pruned(w) for n, w in tensors.items()):
        found.add("sparse")
    bn_prefixes = {b.rsplit(".", 1)[0] for b in buffers if b.rsplit(".", 1)[-1] in _RUNNING}
    for name, shape in shapes.items():
        prefix = name.rsplit(".", 1)[0]
        if prefix in bn_prefixes:
            found.add("batch_norm")
        elif roles[name].kind == "norm" and name.endswith("weight"):
            found.add("norm")
        if _tokens(name) & _RESIDUAL:
            found.add("residual")
    convs = [s for n, s in shapes.items() if roles[n].is_layer and roles[n].kind == "conv"]
    if any(b[1] not in (a[0], 1) for a, b in zip(convs, convs[1:])):
        found.add("residual")
    return tuple(k for k in LAYER_KINDS if k in found)


def checkpoint_structure(ckpt: Checkpoint) -> Structure:
    """The :class:`Structure` of a checkpoint (its kept tensors and the buffers it skipped).

    The head is the last dense layer weight, and the input layer the first layer weight, in the
    checkpoint's tensor order (files without a recorded order are read in natural name order).
    A dense first layer of a network that also has convolutions is not taken for its input
    layer: names sorted out of execution order could have put the classifier first.
    """
    shapes = {n: tuple(w.shape) for n, w in ckpt.tensors.items()}
    roles = layer_roles(shapes)
    layers = [(n, s) for n, s in shapes.items() if roles[n].is_layer]
    dense = [s for n, s in layers if roles[n].kind == "linear"]
    channels = features = size = None
    if layers:
        first = layers[0][1]
        if len(first) >= 3:
            channels = int(first[1])
            size = _image_size(shapes, int(first[-1]))
        elif not any(len(s) >= 3 for _, s in layers):
            features = int(first[1])
    classes = int(dense[-1][0]) if len(layers) > 1 and dense else None
    return Structure(channels, features, size, classes, _kinds(ckpt.tensors, roles, list(ckpt.skipped)))


def table_layer_kinds(frame: pd.DataFrame) -> list[frozenset[str]]:
    """The layer kinds of each row of a feature table's frame: its ``layer_kinds`` column
    (written by :func:`perfpredict.features.extract_features`), else, for tables made before
    it existed, the kinds whose ``network.n_*`` count is positive (``norm`` standing for any
    normalization; ``batch_norm`` and ``residual`` cannot be told from the counts; none at all
    for schemas without them)."""
    if "layer_kinds" in frame:
        return [frozenset(filter(None, str(v).split(","))) for v in frame["layer_kinds"]]
    kinds = [k for k in (*_COUNTED, "norm") if f"network.n_{k}" in frame]
    counts = frame[[f"network.n_{k}" for k in kinds]].to_numpy() > 0
    return [frozenset(k for k, present in zip(kinds, row) if present) for row in counts]


def architecture_kinds(X: pd.DataFrame) -> np.ndarray:
    """Kind of architecture of each row of ``agnostic`` features: ``attention`` (any attention
    layer), ``conv`` (convolutions, no attention) or ``dense``, from ``network.n_attention`` and
    ``network.n_conv``; None per row when the features lack those columns."""
    if not {"network.n_attention", "network.n_conv"} <= set(X.columns):
        return np.full(len(X), None, dtype=object)
    attention, conv = X["network.n_attention"].to_numpy() > 0, X["network.n_conv"].to_numpy() > 0
    return np.where(attention, "attention", np.where(conv, "conv", "dense")).astype(object)


def structure_problems(structure: Structure, dataset: str, input_shape: Sequence[int],
                       num_classes: int) -> list[str]:
    """Why a network of this structure cannot have been trained on ``dataset`` (images of
    ``input_shape`` = (channels, height, width), ``num_classes`` classes); empty if it can."""
    c, h, w = input_shape
    problems = []
    if structure.input_features is not None and structure.input_features != c * h * w:
        problems.append(f"the first layer takes {structure.input_features} inputs; {dataset} images have "
                        f"{c * h * w} pixels ({c}x{h}x{w})")
    if structure.input_channels is not None and structure.input_channels != c:
        problems.append(f"the first layer takes {structure.input_channels} channels; {dataset} images have {c}")
    if structure.image_size is not None and structure.image_size != h:
        problems.append(f"the position embedding fixes {structure.image_size}x{structure.image_size} images; "
                        f"{dataset} images are {h}x{w}")
    if structure.num_classes is not None and structure.num_classes != num_classes:
        problems.append(f"the head has {structure.num_classes} outputs; {dataset} has {num_classes} classes")
    return problems
