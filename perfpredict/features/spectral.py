"""Spectral statistics of weight matrices, batched over checkpoints.

A layer weight is viewed as a matrix ``W`` of shape ``out x fan_in`` (conv kernels flattened
over ``in·k·k``; a fused attention ``in_proj`` split into its Q, K and V blocks). Its
singular values ``s`` give the eigenvalues ``λ = s²`` of ``WᵀW`` (the empirical spectral
density of WeightWatcher), and:

- ``spectral_norm`` = ``s_max``; ``log_spectral_norm`` = ``log10 λ_max``;
- ``log_norm`` = ``log10 Σλ`` = ``log10 ‖W‖_F²``;
- ``stable_rank`` = ``Σλ / λ_max``;
- ``effective_rank`` = ``exp(H(p))`` with ``p = s / Σs`` (Roy & Vetterli, 2007);
- ``log_condition`` = ``log10(s_max / s_min)``, with ``s_min`` floored at ``1e-12 s_max``;
- ``alpha``: the power-law exponent of the tail of ``λ`` by maximum likelihood, with the tail's
  lower bound ``xmin`` chosen among the eigenvalues to minimise the Kolmogorov-Smirnov distance
  ``alpha_ks`` (Clauset et al., 2009; WeightWatcher's fit). Eigenvalues ``≤ 1e-5`` are left
  out; with fewer than :data:`ALPHA_MIN_EVALS` left, alpha and the metrics built on it are
  missing (NaN) and ``alpha_ok`` is 0;
- ``alpha_weighted`` = ``alpha · log10 λ_max``; ``log_alpha_norm`` = ``log10 Σ λ^alpha``.

A matrix with more than :data:`MAX_EVALS` eigenvalues (both sides longer) is not decomposed
(its spectral statistics are missing), which bounds the time and memory a huge layer takes.
"""

from __future__ import annotations

import torch

__all__ = ["SPECTRAL_STATS", "ALPHA_MIN_EVALS", "MAX_EVALS", "EVALS_THRESHOLD", "weight_matrices",
           "singular_values", "spectral_stats", "powerlaw_fit"]

SPECTRAL_STATS = ("spectral_norm", "log_spectral_norm", "log_norm", "stable_rank", "effective_rank",
                  "log_condition", "alpha", "alpha_ks", "alpha_weighted", "log_alpha_norm", "alpha_ok")
ALPHA_MIN_EVALS = 20
"""Fewest eigenvalues (above the threshold) for a power-law fit."""
MAX_EVALS = 4096
"""Largest number of eigenvalues (the shorter side of a matrix) that is decomposed."""
EVALS_THRESHOLD = 1e-5
"""Eigenvalues at or below this are treated as zero and left out of the fit."""
_FIT_BLOCK = 1 << 22  # elements of one (checkpoints x candidates x eigenvalues) block

Stats = dict[str, torch.Tensor]


def weight_matrices(name: str, w: torch.Tensor) -> dict[str, torch.Tensor]:
    """The matrices of a batched layer weight ``w`` of shape ``(n, out, ...)``.

    Returns ``{"": W}``, or ``{"q": Wq, "k": Wk, "v": Wv}`` for a fused attention projection
    (a ``*in_proj_weight`` whose rows are three times its columns).
    """
    m = w.reshape(w.shape[0], w.shape[1], -1)
    if name.endswith("in_proj_weight") and m.shape[1] == 3 * m.shape[2]:
        return dict(zip("qkv", m.chunk(3, dim=1)))
    return {"": m}


def _nan(n: int, dtype: torch.dtype) -> torch.Tensor:
    return torch.full((n,), float("nan"), dtype=dtype)


def spectral_stats(m: torch.Tensor) -> Stats:
    """Statistics ``SPECTRAL_STATS`` of each matrix in ``m`` (shape ``(n, rows, cols)``).

    A matrix with NaN or Inf entries, no entries, or more than ``MAX_EVALS`` eigenvalues gets
    NaN (and ``alpha_ok`` 0).
    """
    n = m.shape[0]
    out = {k: _nan(n, torch.float64) for k in SPECTRAL_STATS}
    out["alpha_ok"] = torch.zeros(n, dtype=torch.float64)
    if m.numel() == 0 or min(m.shape[1:]) > MAX_EVALS:
        return out
    ok = torch.isfinite(m).flatten(1).all(dim=1)
    if not bool(ok.any()):
        return out
    for k, v in _from_singular_values(singular_values(m[ok])).items():
        out[k][ok] = v
    return out


def singular_values(m: torch.Tensor) -> torch.Tensor:
    """Singular values of each matrix, descending, in float64.

    Computed as the square roots of the eigenvalues of the smaller Gram matrix (``W Wᵀ`` or
    ``WᵀW``), which is much faster than an SVD for the small, wide matrices of a zoo; in
    float64 the singular values are exact to about ``1e-8 s_max``.
    """
    m = m.to(torch.float64)
    gram = m @ m.mT if m.shape[1] <= m.shape[2] else m.mT @ m
    return torch.linalg.eigvalsh(gram).clamp_min(0).sqrt().flip(1)


def _from_singular_values(s: torch.Tensor) -> Stats:
    top = s[:, 0]
    evals = (s * s).flip(1)  # ascending
    total = evals.sum(dim=1)
    lam_max = top * top
    p = s / s.sum(dim=1, keepdim=True)
    entropy = -(p * p.clamp_min(1e-300).log()).sum(dim=1)
    s_min = torch.maximum(s[:, -1], top * 1e-12)
    alpha, ks, ok = powerlaw_fit(evals)
    return {
        "spectral_norm": top,
        "log_spectral_norm": lam_max.log10(),
        "log_norm": total.log10(),
        "stable_rank": total / lam_max,
        "effective_rank": entropy.exp(),
        "log_condition": (top / s_min).log10(),
        "alpha": alpha,
        "alpha_ks": ks,
        "alpha_weighted": alpha * lam_max.log10(),
        "log_alpha_norm": (evals ** alpha[:, None]).sum(dim=1).log10(),
        "alpha_ok": ok.to(s.dtype),
    }


def powerlaw_fit(evals: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Power-law exponent of the tail of each row of ``evals`` (sorted ascending).

    For every candidate ``xmin`` (each eigenvalue above :data:`EVALS_THRESHOLD` but the
    largest), ``alpha = 1 + n / Σ log(λ_i / xmin)`` over the ``n`` eigenvalues ``≥ xmin``, and the
    Kolmogorov-Smirnov distance between the tail's empirical CDF ``(0, 1, ..., n-1) / n`` and the
    fitted ``1 - (λ / xmin)^(1 - alpha)``; the candidate with the smallest distance wins.

    Returns
    -------
    alpha, ks, ok : tensor of shape (n_rows,)
        Exponent and KS distance (NaN where not fitted) and whether the row was fitted.
    """
    n_rows, m = evals.shape
    dtype = evals.dtype
    valid = evals > EVALS_THRESHOLD
    first = m - valid.sum(dim=1)  # index of the smallest valid eigenvalue
    ok = (m - first) >= ALPHA_MIN_EVALS
    alpha = _nan(n_rows, dtype)
    ks = _nan(n_rows, dtype)
    if not bool(ok.any()):
        return alpha, ks, ok
    lam = evals[ok]
    start = first[ok]
    logs = torch.where(lam > EVALS_THRESHOLD, lam, 1.0).log()
    tail_sum = logs.flip(1).cumsum(dim=1).flip(1)  # Σ_{j >= i} log λ_j
    idx = torch.arange(m)
    n_tail = (m - idx).to(dtype)
    alphas = 1 + n_tail / (tail_sum - n_tail * logs)
    dist = torch.full_like(alphas, float("inf"))
    block = max(1, _FIT_BLOCK // max(1, lam.shape[0] * m))
    for lo in range(0, m - 1, block):
        cand = idx[lo:min(lo + block, m - 1)]
        dist[:, cand] = _ks_distance(logs, alphas[:, cand], cand, n_tail[cand])
    dist = torch.where(idx[None, :] < start[:, None], float("inf"), dist)
    dist[:, m - 1] = float("inf")
    best = dist.argmin(dim=1)
    rows = torch.arange(lam.shape[0])
    alpha[ok] = alphas[rows, best]
    ks[ok] = dist[rows, best]
    return alpha, ks, ok


def _ks_distance(logs: torch.Tensor, alphas: torch.Tensor, cand: torch.Tensor,
                 n_tail: torch.Tensor) -> torch.Tensor:
    """KS distances of candidate fits; shape ``(rows, len(cand))``. An alpha ≤ 1 scores 1."""
    m = logs.shape[1]
    j = torch.arange(m)
    rel = (j[None, :] - cand[:, None]).to(logs.dtype)  # (c, m): position within the tail
    in_tail = rel >= 0
    log_ratio = logs[:, None, :] - logs[:, cand, None]  # (rows, c, m)
    fitted = 1 - torch.exp((1 - alphas)[:, :, None] * log_ratio)
    empirical = rel / n_tail[:, None]
    gap = torch.where(in_tail, (fitted - empirical).abs(), 0.0)
    d = gap.amax(dim=2)
    return torch.where((alphas > 1) & torch.isfinite(alphas), d, 1.0)
