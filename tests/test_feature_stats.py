"""Statistics against independent references (numpy, scipy, a loop power-law fit)."""

import numpy as np
import pytest
import torch
from scipy import stats as sps

from perfpredict.features.network import gini, node_stats
from perfpredict.features.spectral import powerlaw_fit, spectral_stats, weight_matrices
from perfpredict.features.stats import HIST_BINS, QUANTILES, distribution_stats, statnn_stats


def _one(stats):
    return {k: float(v[0]) for k, v in stats.items()}


def test_distribution_stats_match_numpy_and_scipy():
    x = np.random.default_rng(0).standard_t(5, size=5000).astype(np.float32) * 0.01
    s = _one(distribution_stats(torch.from_numpy(x)[None]))
    x64 = x.astype(np.float64)
    assert s["mean"] == pytest.approx(x64.mean(), rel=1e-5, abs=1e-9)
    assert s["std"] == pytest.approx(x64.std(), rel=1e-5)
    assert s["skew"] == pytest.approx(sps.skew(x64), rel=1e-4)
    assert s["kurtosis"] == pytest.approx(sps.kurtosis(x64), rel=1e-4)
    for p in QUANTILES:
        assert s[f"q{p}"] == pytest.approx(np.quantile(x64, p / 100), rel=1e-6)
    assert s["mean_abs"] == pytest.approx(np.abs(x64).mean(), rel=1e-5)
    assert s["max_abs"] == pytest.approx(np.abs(x64).max(), rel=1e-7)
    assert s["l1"] == pytest.approx(np.abs(x64).sum(), rel=1e-5)
    assert s["l2"] == pytest.approx(np.linalg.norm(x64), rel=1e-5)
    assert s["frac_near_zero"] == pytest.approx((np.abs(x) < 1e-3).mean())
    counts, _ = np.histogram(x64, bins=HIST_BINS)
    p = counts[counts > 0] / x.size
    assert s["entropy"] == pytest.approx(-(p * np.log(p)).sum(), abs=2e-3)


def test_statnn_stats():
    x = np.random.default_rng(1).normal(size=301)
    s = _one(statnn_stats(torch.from_numpy(x)[None]))
    assert s["var"] == pytest.approx(x.var(), rel=1e-6)
    assert [s[f"q{p}"] for p in (0, 25, 50, 75, 100)] == pytest.approx(np.quantile(x, [0, .25, .5, .75, 1]))


def test_non_finite_values_are_dropped_row_by_row():
    x = torch.tensor([[1.0, 2.0, 3.0, 4.0], [1.0, float("nan"), 3.0, float("inf")],
                      [float("nan")] * 4])
    s = distribution_stats(x)
    assert s["mean"].tolist()[:2] == [2.5, 2.0]
    assert s["q100"][1] == 3.0 and torch.isnan(s["mean"][2])
    constant = distribution_stats(torch.ones(1, 5))
    assert constant["std"][0] == 0 and torch.isnan(constant["skew"][0])


def test_spectral_stats_match_numpy_svd():
    w = np.random.default_rng(2).normal(size=(40, 90))
    s = np.linalg.svd(w, compute_uv=False)
    got = _one(spectral_stats(torch.from_numpy(w)[None].float()))
    lam = s**2
    assert got["spectral_norm"] == pytest.approx(s[0], rel=1e-5)
    assert got["log_spectral_norm"] == pytest.approx(np.log10(lam[0]), rel=1e-5)
    assert got["log_norm"] == pytest.approx(np.log10(lam.sum()), rel=1e-5)
    assert got["stable_rank"] == pytest.approx(lam.sum() / lam[0], rel=1e-5)
    p = s / s.sum()
    assert got["effective_rank"] == pytest.approx(np.exp(-(p * np.log(p)).sum()), rel=1e-5)
    assert got["log_condition"] == pytest.approx(np.log10(s[0] / s[-1]), rel=1e-4)
    assert got["alpha_ok"] == 1 and got["alpha_weighted"] == pytest.approx(got["alpha"] * np.log10(lam[0]), rel=1e-9)


def _reference_fit(evals):
    """Clauset et al.'s estimator, written as a plain loop."""
    x = np.sort(evals[evals > 1e-5])
    best = (np.inf, None)
    for i in range(len(x) - 1):
        tail = x[i:]
        n = len(tail)
        alpha = 1 + n / np.log(tail / x[i]).sum()
        d = np.abs(1 - (tail / x[i]) ** (1 - alpha) - np.arange(n) / n).max() if alpha > 1 else 1.0
        if d < best[0]:
            best = (d, alpha)
    return best[1], best[0]


def test_powerlaw_fit_matches_reference_and_recovers_a_known_exponent():
    rng = np.random.default_rng(3)
    rows = [np.sort(rng.pareto(1.5, size=400) + 1), np.sort(rng.standard_t(3, size=(50, 120)).std(0) ** 2),
            np.sort(np.r_[np.zeros(30), rng.pareto(2.0, size=60) + 1])]
    for evals in rows:
        alpha, ks, ok = powerlaw_fit(torch.from_numpy(evals)[None])
        ref_alpha, ref_ks = _reference_fit(evals)
        assert bool(ok[0]) and float(alpha[0]) == pytest.approx(ref_alpha, rel=1e-9)
        assert float(ks[0]) == pytest.approx(ref_ks, rel=1e-9)
    # a Pareto tail with density exponent 2.5 (numpy's shape 1.5)
    assert float(powerlaw_fit(torch.from_numpy(rows[0])[None])[0][0]) == pytest.approx(2.5, abs=0.25)


def test_too_few_eigenvalues_are_flagged_missing():
    got = _one(spectral_stats(torch.randn(1, 10, 50)))
    assert got["alpha_ok"] == 0 and np.isnan(got["alpha"]) and np.isnan(got["alpha_weighted"])
    assert np.isfinite(got["stable_rank"])
    bad = _one(spectral_stats(torch.tensor([[[1.0, float("nan")], [0.0, 1.0]]])))
    assert np.isnan(bad["spectral_norm"]) and bad["alpha_ok"] == 0


def test_fused_attention_projection_is_split_into_q_k_v():
    w = torch.randn(2, 12, 4)
    parts = weight_matrices("layer.self_attention.in_proj_weight", w)
    assert list(parts) == ["q", "k", "v"] and torch.equal(parts["k"], w[:, 4:8])
    conv = weight_matrices("conv.weight", torch.randn(2, 8, 3, 5, 5))
    assert conv[""].shape == (2, 8, 75)


def test_node_strength_and_gini():
    conv = torch.ones(1, 4, 2, 3, 3)
    conv[0, 3] = 0  # a dead output channel
    s = _one(node_stats(conv))
    assert s["node_in_mean"] == pytest.approx(18 * 3 / 4) and s["node_out_mean"] == pytest.approx(27)
    assert s["frac_dead"] == pytest.approx(0.25)
    assert s["node_in_gini"] == pytest.approx(0.25) and s["node_out_gini"] == pytest.approx(0)
    assert float(gini(torch.ones(1, 10))[0]) == pytest.approx(0)
    assert float(gini(torch.cat([torch.zeros(1, 99), torch.ones(1, 1)], dim=1))[0]) > 0.98
    assert torch.isnan(gini(torch.zeros(1, 5)))[0]
