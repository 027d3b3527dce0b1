"""Distribution statistics of weight tensors, batched over checkpoints.

Every function takes a float tensor of shape ``(n_checkpoints, n_values)`` and returns
``{statistic: float64 tensor of shape (n_checkpoints,)}``. Sums run in the input's precision
with torch's cascaded summation (relative error about ``1e-7`` in float32), over the sorted
row, so that a statistic does not depend on the order of the values.
Statistics use a row's finite values only; a row without any is NaN. Shape statistics of a constant row (zero spread) are NaN.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

__all__ = ["DIST_STATS", "STATNN_STATS", "QUANTILES", "NEAR_ZERO", "HIST_BINS",
           "distribution_stats", "statnn_stats", "moments", "sort_rows", "rowwise_finite"]

QUANTILES = (0, 1, 5, 25, 50, 75, 95, 99, 100)
DIST_STATS = ("mean", "std", "skew", "kurtosis", *(f"q{p}" for p in QUANTILES),
              "mean_abs", "max_abs", "l1", "l2", "frac_near_zero", "entropy")
STATNN_STATS = ("mean", "var", "q0", "q25", "q50", "q75", "q100")
NEAR_ZERO = 1e-3
"""Weights with ``|w| < NEAR_ZERO`` count as near zero."""
HIST_BINS = 32
"""Equal-width bins between a row's minimum and maximum for the histogram entropy."""

Stats = dict[str, torch.Tensor]


def rowwise_finite(fn: Callable[[torch.Tensor], Stats], names: tuple[str, ...]) -> Callable[[torch.Tensor], Stats]:
    """Wrap ``fn`` (which assumes finite values) to drop non-finite values row by row.

    Rows without NaN/Inf go through ``fn`` together; a row with some is computed alone on
    its finite values; an empty row is NaN.
    """

    def wrapped(x: torch.Tensor) -> Stats:
        n = x.shape[0]
        out = {k: torch.full((n,), float("nan"), dtype=torch.float64) for k in names}
        if x.shape[1] == 0:
            return out
        clean = torch.isfinite(x.sum(dim=1))  # a NaN or Inf poisons the sum
        if bool(clean.all()):
            return fn(x)
        if bool(clean.any()):
            for k, v in fn(x[clean]).items():
                out[k][clean] = v
        for i in torch.nonzero(~clean).flatten().tolist():
            row = x[i][torch.isfinite(x[i])]
            if row.numel():
                for k, v in fn(row[None]).items():
                    out[k][i] = v[0]
        return out

    return wrapped


def sort_rows(x: torch.Tensor) -> torch.Tensor:
    """Each row sorted ascending (on the CPU through numpy's SIMD sort, about 6x torch's)."""
    if x.device.type != "cpu":
        return x.sort(dim=1).values
    return torch.from_numpy(np.sort(x.numpy(), axis=1))


def moments(x: torch.Tensor) -> Stats:
    """Mean, standard deviation, skewness and excess kurtosis of each row (population)."""
    m = x.shape[1]
    mean = x.sum(dim=1) / m
    c = x - mean[:, None]
    c2 = c * c
    var = c2.sum(dim=1).double() / m
    m3 = c.mul_(c2).sum(dim=1).double() / m
    m4 = c2.square_().sum(dim=1).double() / m
    mean = mean.double()
    std = var.sqrt()
    ok = var > 0
    skew = torch.where(ok, m3 / torch.where(ok, std**3, 1.0), float("nan"))
    kurt = torch.where(ok, m4 / torch.where(ok, var * var, 1.0) - 3.0, float("nan"))
    return {"mean": mean, "std": std, "skew": skew, "kurtosis": kurt}


def _quantiles(sorted_x: torch.Tensor, percents: tuple[int, ...]) -> Stats:
    """Quantiles with linear interpolation (numpy's default) from rows sorted ascending."""
    m = sorted_x.shape[1]
    pos = torch.tensor([p / 100 * (m - 1) for p in percents], dtype=torch.float64)
    lo = pos.floor().long()
    hi = pos.ceil().long()
    frac = pos - lo
    vals = sorted_x[:, lo].double() * (1 - frac) + sorted_x[:, hi].double() * frac
    return {f"q{p}": vals[:, i] for i, p in enumerate(percents)}


def _count_below(sorted_x: torch.Tensor, bounds: torch.Tensor, right: bool = False) -> torch.Tensor:
    """Per row, how many values are below each bound (``<``; ``<=`` with ``right``)."""
    return torch.searchsorted(sorted_x, bounds.to(sorted_x.dtype).contiguous(), right=right).to(torch.float64)


def _entropy(sorted_x: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    """Shannon entropy (nats) of each row's histogram over ``HIST_BINS`` bins on [lo, hi]."""
    steps = torch.arange(1, HIST_BINS, dtype=torch.float64) / HIST_BINS
    inner = lo[:, None] + (hi - lo)[:, None] * steps  # inner bin edges
    below = _count_below(sorted_x, inner)
    m = sorted_x.shape[1]
    edges = torch.cat([torch.zeros_like(below[:, :1]), below, torch.full_like(below[:, :1], m)], dim=1)
    p = edges.diff(dim=1) / m
    return -(p * p.clamp_min(1e-300).log()).sum(dim=1)


def _distribution(x: torch.Tensor) -> Stats:
    sorted_x = sort_rows(x)
    m = x.shape[1]
    s = moments(sorted_x)
    s.update(_quantiles(sorted_x, QUANTILES))
    s["l1"] = sorted_x.abs().sum(dim=1).double()
    s["mean_abs"] = s["l1"] / m
    s["max_abs"] = torch.maximum(s["q0"].abs(), s["q100"].abs())
    s["l2"] = s["std"].hypot(s["mean"]) * m**0.5
    bounds = torch.tensor([[-NEAR_ZERO, NEAR_ZERO]]).expand(x.shape[0], 2)
    s["frac_near_zero"] = (_count_below(sorted_x, bounds[:, 1:]) - _count_below(sorted_x, bounds[:, :1], right=True))[:, 0] / m
    s["entropy"] = _entropy(sorted_x, s["q0"], s["q100"])
    return s


def _statnn(x: torch.Tensor) -> Stats:
    sorted_x = sort_rows(x)
    m = moments(sorted_x)
    return {"mean": m["mean"], "var": m["std"] ** 2, **_quantiles(sorted_x, (0, 25, 50, 75, 100))}


distribution_stats = rowwise_finite(_distribution, DIST_STATS)
distribution_stats.__doc__ = """Statistics ``DIST_STATS`` of each row: location, spread, shape, quantiles,
norms, near-zero fraction and histogram entropy."""
statnn_stats = rowwise_finite(_statnn, STATNN_STATS)
statnn_stats.__doc__ = "StatNN baseline statistics of each row: mean, variance, quantiles 0/25/50/75/100."
