"""Scale-free signals of learned structure, batched over checkpoints of one architecture.

Statistics of weights (quantiles, norms, moments) depend on width, depth, initialization and
training length as much as on what a network learned. These do not change when a layer is
scaled, and take the same values for networks of any size that learned alike:

- **Classifier-head geometry** (neural collapse, Papyan, Han and Donoho 2020), from the last
  layer ``W`` (classes x features) and its bias, after removing the class vectors' common
  component: ``head_norm_cv`` (coefficient of variation of the centred class vectors'
  norms), ``head_cos_gap`` and ``head_cos_std`` (mean of their pairwise cosines minus the
  simplex value ``-1/(C-1)``, and their spread: 0 and 0 for a simplex), ``head_common``
  (norm of the common component over the mean centred norm) and ``head_bias_spread``
  (standard deviation of the bias over the mean centred norm).
- **Input-space smoothness of the first layer**: its filters as images (conv kernels, a ViT's
  patch embedding, or a dense layer's rows reshaped to the input image when its fan-in is
  ``s*s`` or ``3*s*s``). ``first_smoothness`` is the mean absolute difference of adjacent
  pixels over the mean absolute difference of all pixel pairs of the filter: 1 for noise
  (any distribution, any scale), lower for stroke and edge detectors; averaged over filters
  (``first_smoothness``) with its spread (``first_smoothness_std``).
- **Scale against initialization**: each layer's root-mean-square weight times the square
  root of its fan-in, which PyTorch's default and He/Glorot initializations fix whatever the
  width (``scale.{mean,min,max}`` over layers, ``scale_first``, ``scale_head``), and the
  head's over the mean of the others (``scale_head_body``).

Every statistic is computed on **BatchNorm-aware effective weights**: a layer followed by a
BatchNorm (before the next layer) is scaled per output channel by ``gamma /
sqrt(running_var + 1e-5)``, the factor the normalization applies in evaluation, so that a
BatchNorm network, whose layers can grow or shrink without changing its function, compares
with others. Checkpoints without running statistics are taken as they are.

A statistic that does not exist for a network (no head, a first layer that is not an image
filter) or a layer with non-finite weights gives NaN.
"""

from __future__ import annotations

import math
from typing import Mapping

import torch

from .roles import TensorRole

__all__ = ["LEARNED_STATS", "learned_stats", "effective_layers", "head_geometry", "filter_smoothness",
           "init_scale"]

_HEAD = ("head_norm_cv", "head_cos_gap", "head_cos_std", "head_common", "head_bias_spread")
_FIRST = ("first_smoothness", "first_smoothness_std")
_SCALE = ("scale.mean", "scale.min", "scale.max", "scale_first", "scale_head", "scale_head_body")
LEARNED_STATS = (*_HEAD, *_FIRST, *_SCALE)
BN_EPS = 1e-5

Stats = dict[str, torch.Tensor]


def _nan(n: int) -> torch.Tensor:
    return torch.full((n,), float("nan"), dtype=torch.float64)


def head_geometry(w: torch.Tensor, b: torch.Tensor | None = None) -> Stats:
    """Geometry of classifier heads ``w`` of shape ``(n, classes, features)`` (bias ``(n, classes)``)."""
    w = w.to(torch.float64)
    n, classes = w.shape[:2]
    if classes < 2:
        return {k: _nan(n) for k in _HEAD}
    common = w.mean(dim=1, keepdim=True)
    centred = w - common
    norms = centred.norm(dim=2)  # (n, classes)
    mean_norm = norms.mean(dim=1)
    unit = centred / norms.clamp_min(1e-300)[..., None]
    cos = unit @ unit.transpose(1, 2)
    off = cos[:, ~torch.eye(classes, dtype=torch.bool)]  # (n, classes * (classes - 1))
    out = {
        "head_norm_cv": norms.std(dim=1) / mean_norm,
        "head_cos_gap": off.mean(dim=1) + 1 / (classes - 1),
        "head_cos_std": off.std(dim=1),
        "head_common": common[:, 0].norm(dim=1) / mean_norm,
        "head_bias_spread": _nan(n) if b is None else b.to(torch.float64).std(dim=1) / mean_norm,
    }
    finite = torch.isfinite(w).flatten(1).all(dim=1) & (mean_norm > 0)
    return {k: torch.where(finite, v, float("nan")) for k, v in out.items()}


def _mean_pair_difference(x: torch.Tensor) -> torch.Tensor:
    """Mean ``|x_i - x_j|`` over all pairs ``i < j`` of each row (from the sorted row)."""
    m = x.shape[-1]
    s = x.sort(dim=-1).values
    weights = 2 * torch.arange(1, m + 1, dtype=x.dtype) - m - 1
    return (s * weights).sum(dim=-1) / (m * (m - 1) / 2)


def filter_smoothness(filters: torch.Tensor) -> torch.Tensor:
    """Smoothness of image filters ``(..., channels, h, w)``: mean absolute difference of
    horizontally and vertically adjacent pixels (within each channel) over the mean absolute
    difference of all pixel pairs (across channels). About 1 for noise; lower when smooth."""
    f = filters.to(torch.float64)
    adjacent = torch.cat([(f[..., 1:, :] - f[..., :-1, :]).abs().flatten(-3),
                          (f[..., :, 1:] - f[..., :, :-1]).abs().flatten(-3)], dim=-1).mean(dim=-1)
    return adjacent / _mean_pair_difference(f.flatten(-3))


def _as_images(w: torch.Tensor) -> torch.Tensor | None:
    """A first layer's filters as ``(n, filters, channels, h, w)`` images, or None."""
    if w.ndim == 5 and min(w.shape[-2:]) >= 2:  # (n, out, in, kh, kw)
        return w
    if w.ndim != 3:
        return None
    fan_in = w.shape[2]
    for channels in (3, 1):
        side = math.isqrt(fan_in // channels)
        if fan_in % channels == 0 and side * side * channels == fan_in and side >= 2:
            return w.reshape(*w.shape[:2], channels, side, side)
    return None


def _first(w: torch.Tensor) -> Stats:
    n = w.shape[0]
    images = _as_images(w)
    if images is None:
        return {k: _nan(n) for k in _FIRST}
    smooth = filter_smoothness(images)  # (n, filters)
    finite = torch.isfinite(w).flatten(1).all(dim=1)
    out = {"first_smoothness": smooth.nanmean(dim=1), "first_smoothness_std": smooth.std(dim=1)}
    return {k: torch.where(finite, v, float("nan")) for k, v in out.items()}


def init_scale(w: torch.Tensor) -> torch.Tensor:
    """Root-mean-square weight times the square root of the fan-in, per checkpoint of ``w``
    (shape ``(n, out, in, ...)``): about ``1/sqrt(3)`` at PyTorch's default initialization."""
    w = w.to(torch.float64)
    fan_in = math.prod(w.shape[2:])
    return w.flatten(1).pow(2).mean(dim=1).sqrt() * math.sqrt(fan_in)


def _scales(layers: list[torch.Tensor], n: int) -> Stats:
    if not layers:
        return {k: _nan(n) for k in _SCALE}
    s = torch.stack([init_scale(w) for w in layers], dim=1)  # (n, layers)
    body = s[:, :-1].mean(dim=1) if len(layers) > 1 else _nan(n)
    return {"scale.mean": s.mean(dim=1), "scale.min": s.amin(dim=1), "scale.max": s.amax(dim=1),
            "scale_first": s[:, 0], "scale_head": s[:, -1] if len(layers) > 1 else _nan(n),
            "scale_head_body": s[:, -1] / body}


def _following_norm(names: list[str], i: int, batch: Mapping[str, torch.Tensor],
                    roles: Mapping[str, TensorRole], channels: int) -> str | None:
    """The BatchNorm scale after layer ``names[i]`` and before the next layer, if it has running statistics."""
    for name in names[i + 1:]:
        if roles[name].is_layer:
            return None
        if (roles[name].kind == "norm" and name.endswith("weight") and batch[name].shape[1:] == (channels,)
                and name[: -len("weight")] + "running_var" in batch):
            return name
    return None


def effective_layers(batch: Mapping[str, torch.Tensor], roles: Mapping[str, TensorRole]) -> dict[str, torch.Tensor]:
    """The layer weights of ``batch`` in order, each scaled per output channel by the
    BatchNorm that follows it (``gamma / sqrt(running_var + BN_EPS)``; the running variances
    are entries of ``batch`` without a role)."""
    names = [name for name in batch if name in roles]
    out = {}
    for i, name in enumerate(names):
        if not roles[name].is_layer:
            continue
        w = batch[name]
        norm = _following_norm(names, i, batch, roles, w.shape[1])
        if norm is not None:
            var = batch[norm[: -len("weight")] + "running_var"].to(torch.float64)
            factor = batch[norm].to(torch.float64) / (var + BN_EPS).sqrt()
            w = w * factor.reshape(*factor.shape, *[1] * (w.ndim - 2))
        out[name] = w
    return out


def learned_stats(batch: Mapping[str, torch.Tensor], roles: Mapping[str, TensorRole],
                  layers: Mapping[str, torch.Tensor] | None = None) -> Stats:
    """:data:`LEARNED_STATS` of a batch of same-architecture checkpoints (tensor name to a
    tensor of shape ``(n, ...)``, in layer order, and BatchNorm running variances); ``layers``:
    their :func:`effective_layers`, where already computed."""
    n = next(iter(batch.values())).shape[0]
    layers = effective_layers(batch, roles) if layers is None else layers
    head = next((name for name in layers if roles[name].position == "head"), None)
    first = next((name for name in layers if roles[name].position == "first"), None)
    out: Stats = {k: _nan(n) for k in _HEAD}
    if head is not None and layers[head].ndim == 3:
        bias = batch.get(head[: -len("weight")] + "bias")
        out = head_geometry(layers[head], bias if bias is not None and bias.ndim == 2 else None)
    out.update(_first(layers[first]) if first is not None else {k: _nan(n) for k in _FIRST})
    out.update(_scales(list(layers.values()), n))
    return out
