"""Statistics of weight tensors: distribution, spectra and node strength."""

from __future__ import annotations

import numpy as np

__all__ = ["DIST_STATS", "STATNN_STATS", "distribution_stats", "statnn_stats",
           "matrix_view", "spectral_stats", "node_strength", "gini"]

DIST_STATS = ("mean", "std", "skew", "kurtosis", "q0", "q25", "q50", "q75", "q100",
              "mean_abs", "rms", "frac_near_zero")
STATNN_STATS = ("mean", "var", "q0", "q25", "q50", "q75", "q100")
NEAR_ZERO = 1e-3


def _finite(w: np.ndarray) -> np.ndarray:
    flat = np.asarray(w, dtype=np.float64).ravel()
    return flat[np.isfinite(flat)]


def distribution_stats(w: np.ndarray) -> dict[str, float]:
    """Location, spread, shape and quantiles of a tensor's finite values (NaN if none)."""
    x = _finite(w)
    if x.size == 0:
        return dict.fromkeys(DIST_STATS, float("nan"))
    mean, std = float(x.mean()), float(x.std())
    z = (x - mean) / std if std > 0 else np.zeros_like(x)
    q = np.quantile(x, [0, 0.25, 0.5, 0.75, 1])
    return {
        "mean": mean, "std": std, "skew": float((z**3).mean()), "kurtosis": float((z**4).mean() - 3),
        "q0": q[0], "q25": q[1], "q50": q[2], "q75": q[3], "q100": q[4],
        "mean_abs": float(np.abs(x).mean()), "rms": float(np.sqrt((x**2).mean())),
        "frac_near_zero": float((np.abs(x) < NEAR_ZERO).mean()),
    }


def statnn_stats(w: np.ndarray) -> dict[str, float]:
    """StatNN baseline statistics: mean, variance and quantiles 0/25/50/75/100."""
    x = _finite(w)
    if x.size == 0:
        return dict.fromkeys(STATNN_STATS, float("nan"))
    q = np.quantile(x, [0, 0.25, 0.5, 0.75, 1])
    return {"mean": float(x.mean()), "var": float(x.var()),
            **{f"q{p}": float(v) for p, v in zip((0, 25, 50, 75, 100), q)}}


def matrix_view(w: np.ndarray) -> np.ndarray:
    """A layer weight as ``out x fan_in`` (conv kernels flattened over in·k·k)."""
    return np.asarray(w, dtype=np.float64).reshape(w.shape[0], -1)


def spectral_stats(w: np.ndarray) -> dict[str, float]:
    """Spectral norm, stable rank and log Frobenius norm of a weight matrix."""
    m = matrix_view(w)
    if m.size == 0 or not np.isfinite(m).all():
        return {"spectral_norm": float("nan"), "stable_rank": float("nan"), "log_fro": float("nan")}
    s = np.linalg.svd(m, compute_uv=False)
    fro2 = float((s**2).sum())
    top = float(s[0]) if s.size else 0.0
    return {"spectral_norm": top,
            "stable_rank": fro2 / top**2 if top > 0 else float("nan"),
            "log_fro": 0.5 * np.log(fro2) if fro2 > 0 else float("nan")}


def node_strength(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """In-strength of each output unit and out-strength of each input unit (sums of |w|).

    For conv kernels a unit is a channel: sums run over the other channels and the kernel.
    """
    a = np.abs(np.asarray(w, dtype=np.float64))
    other = tuple(range(2, a.ndim))
    return a.sum(axis=(1, *other)), a.sum(axis=(0, *other))


def gini(x: np.ndarray) -> float:
    """Gini coefficient of non-negative values (0: all equal, ->1: concentrated)."""
    x = np.sort(_finite(x))
    if x.size == 0 or x.sum() <= 0:
        return float("nan")
    n = x.size
    return float((2 * np.arange(1, n + 1) - n - 1) @ x / (n * x.sum()))
