"""Do consecutive layers fit each other? Scale-free statistics of pairs of layers, batched.

For each pair of consecutive layers ``A`` then ``B`` (BatchNorm-folded effective weights,
:func:`.learned.effective_layers`), over the channels (or units) that ``A`` writes and ``B``
reads (a dense layer after a convolution reads ``channels x positions`` inputs, channel-major
as PyTorch flattens):

- ``gram``: the cosine between ``A``'s output Gram matrix (channels x channels) and ``B``'s
  input Gram matrix, each less its mean diagonal (its isotropic part). About 0 for independent
  layers (at initialization); positive when ``B`` reads most from the directions that ``A``
  writes most.
- ``balance``: the correlation over channels of ``A``'s incoming and ``B``'s outgoing squared
  norms. Gradient descent on ReLU networks keeps each unit's difference of the two constant
  (Du, Hu and Lee 2018), so as units grow from their initial size the two become correlated.

Each is averaged over the pairs (``.mean``), its smallest (``.min``), and taken at the pair
before the head (``_head``). A fused attention projection (queries, keys and values stacked, as
PyTorch's ``MultiheadAttention`` keeps them) takes part through its value rows, which the output
projection reads. The residual stream of ResNets and ViTs is paired in order too: a layer that
writes to it, then the next layer that reads it. Pairs whose sizes do not match are skipped,
and so are pairs with more than :data:`~.spectral.MAX_EVALS` channels between them (their
Gram matrices would take minutes and gigabytes, as the spectra of such layers, which are not
computed either); a network without a pair gets NaN, and so does a pair with non-finite weights.
"""

from __future__ import annotations

import math
from typing import Mapping

import torch

from .learned import effective_layers
from .roles import TensorRole
from .spectral import MAX_EVALS

__all__ = ["ALIGNMENT_STATS", "alignment_stats", "layer_alignment", "pair_stats", "value_rows"]

ALIGNMENT_STATS = ("gram.mean", "gram.min", "gram_head", "balance.mean", "balance.min", "balance_head")

Stats = dict[str, torch.Tensor]


def _nan(n: int) -> torch.Tensor:
    return torch.full((n,), math.nan, dtype=torch.float64)


def _read_blocks(b: torch.Tensor, channels: int) -> torch.Tensor | None:
    """``B``'s weights ``(n, out, ...)`` grouped by input channel: ``(n, out, channels, rest)``."""
    n, out = b.shape[:2]
    fan_in = math.prod(b.shape[2:])
    if b.ndim == 3 and fan_in % channels == 0:
        return b.reshape(n, out, channels, fan_in // channels)
    if b.ndim > 3 and b.shape[2] == channels:
        return b.flatten(3)
    return None


def _anisotropic(gram: torch.Tensor) -> torch.Tensor:
    eye = torch.eye(gram.shape[-1], dtype=gram.dtype)
    return gram - gram.diagonal(dim1=1, dim2=2).mean(dim=1)[:, None, None] * eye


def _cosine(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    x, y = x.flatten(1), y.flatten(1)
    return (x * y).sum(dim=1) / (x.norm(dim=1) * y.norm(dim=1)).clamp_min(1e-300)


def pair_stats(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
    """``(gram, balance)`` of layer ``a`` (shape ``(n, channels, ...)``) followed by ``b``,
    one value per checkpoint, or None when ``b`` does not read ``a``'s channels or they are more
    than ``MAX_EVALS``."""
    if a.shape[1] > MAX_EVALS:
        return None
    a, b = a.to(torch.float64), b.to(torch.float64)
    blocks = _read_blocks(b, a.shape[1])
    if blocks is None:
        return None
    writes = a.flatten(2)
    gram = _cosine(_anisotropic(writes @ writes.transpose(1, 2)),
                   _anisotropic(torch.einsum("nocp,nodp->ncd", blocks, blocks)))
    incoming, outgoing = writes.pow(2).sum(dim=2), blocks.pow(2).sum(dim=(1, 3))
    balance = _cosine(incoming - incoming.mean(dim=1, keepdim=True), outgoing - outgoing.mean(dim=1, keepdim=True))
    return gram, balance


def layer_alignment(layers: list[torch.Tensor]) -> Stats:
    """:data:`ALIGNMENT_STATS` of a batch of networks, from their layer weights in order (at least one)."""
    n = layers[0].shape[0]
    pairs = [pair_stats(a, b) for a, b in zip(layers, layers[1:])]
    found = [p for p in pairs if p is not None]
    if not found:
        return {k: _nan(n) for k in ALIGNMENT_STATS}
    gram, balance = (torch.stack(v, dim=1) for v in zip(*found))
    head = pairs[-1] or (_nan(n), _nan(n))
    return {"gram.mean": gram.mean(dim=1), "gram.min": gram.amin(dim=1), "gram_head": head[0],
            "balance.mean": balance.mean(dim=1), "balance.min": balance.amin(dim=1), "balance_head": head[1]}


def value_rows(weight: torch.Tensor, role: TensorRole) -> torch.Tensor:
    """The value rows of a fused attention projection (``(n, 3h, h)``: queries, keys, values);
    any other layer as it is."""
    h = weight.shape[-1]
    if role.kind == "attention" and weight.ndim == 3 and weight.shape[1] == 3 * h:
        return weight[:, 2 * h:]
    return weight


def alignment_stats(batch: Mapping[str, torch.Tensor], roles: Mapping[str, TensorRole],
                    layers: Mapping[str, torch.Tensor] | None = None) -> Stats:
    """:data:`ALIGNMENT_STATS` of a batch of same-architecture checkpoints (tensor name to a
    tensor of shape ``(n, ...)``, in layer order, and BatchNorm running variances); ``layers``:
    their :func:`.learned.effective_layers`, where already computed."""
    layers = effective_layers(batch, roles) if layers is None else layers
    rows = [value_rows(w, roles[name]) for name, w in layers.items()]
    if not rows:
        return {k: _nan(next(iter(batch.values())).shape[0]) for k in ALIGNMENT_STATS}
    return layer_alignment(rows)
