"""The network view of a layer (the seed paper's node strength), batched over checkpoints.

A unit is an output neuron of a linear layer or an output channel of a conv layer. Its
*in-strength* is the sum of ``|w|`` over its incoming weights (the kernel included); an input
unit's *out-strength* is the sum of ``|w|`` over the weights leaving it.
"""

from __future__ import annotations

import torch

from .stats import NEAR_ZERO, moments, sort_rows

__all__ = ["NODE_STATS", "node_stats", "gini"]

_PER_DIRECTION = ("mean", "std", "skew", "gini")
NODE_STATS = (*(f"node_{d}_{s}" for d in ("in", "out") for s in _PER_DIRECTION), "frac_dead")
"""Per layer: mean, std, skewness and Gini of in- and out-strengths; the fraction of dead
units (all incoming ``|w| < NEAR_ZERO``)."""

Stats = dict[str, torch.Tensor]


def gini(x: torch.Tensor) -> torch.Tensor:
    """Gini coefficient of each row of non-negative values (0: all equal; near 1: one holds all).

    NaN for a row that sums to zero.
    """
    n = x.shape[1]
    sorted_x = sort_rows(x)
    weights = 2 * torch.arange(1, n + 1, dtype=x.dtype) - n - 1
    total = x.sum(dim=1)
    g = (sorted_x * weights).sum(dim=1) / (n * torch.where(total > 0, total, 1.0))
    return torch.where(total > 0, g, float("nan"))


def _summary(strength: torch.Tensor, direction: str) -> Stats:
    m = moments(strength)
    out = {f"node_{direction}_{k}": m[k] for k in ("mean", "std", "skew")}
    out[f"node_{direction}_gini"] = gini(strength)
    return out


def node_stats(w: torch.Tensor) -> Stats:
    """Statistics ``NODE_STATS`` of each layer weight in ``w`` (shape ``(n, out, in, ...)``).

    A weight with NaN or Inf entries, or no entries, gets NaN.
    """
    n = w.shape[0]
    out = {k: torch.full((n,), float("nan"), dtype=torch.float64) for k in NODE_STATS}
    if w.numel() == 0:
        return out
    ok = torch.isfinite(w).flatten(1).all(dim=1)
    if not bool(ok.any()):
        return out
    a = w[ok].abs()
    kernel = tuple(range(3, a.ndim))
    # float64 sums: strengths do not depend on the order of the units (a true symmetry)
    fan_in = a.sum(dim=kernel, dtype=torch.float64) if kernel else a  # (n, out, in)
    strength_in = fan_in.sum(dim=2, dtype=torch.float64)
    strength_out = fan_in.sum(dim=1, dtype=torch.float64)
    values = {**_summary(strength_in, "in"), **_summary(strength_out, "out")}
    values["frac_dead"] = (a.flatten(2).amax(dim=2) < NEAR_ZERO).to(torch.float64).mean(dim=1)
    for k, v in values.items():
        out[k][ok] = v
    return out
