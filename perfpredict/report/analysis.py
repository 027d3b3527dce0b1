"""The seed paper's analysis of optimal vs suboptimal networks (Zheng et al. 2024).

Runs are ranked by final test accuracy within each (dataset, family) cell; the top and bottom
``quantile`` of each cell are the *good* and *poor* runs. On them:

- :func:`similarity_test`: are good networks more alike than poor ones? Dispersion of
  standardized feature vectors within each group, with a permutation test;
- :func:`accuracy_correlations`: Spearman correlation of each statistic with accuracy, per family;
- :func:`learning_dynamics`: statistics across training epochs, good vs poor runs;
- :func:`weight_histograms`: weight distributions per layer position, good vs poor runs.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ..checkpoints import load_checkpoint
from ..evaluation import TARGET
from ..features.roles import POSITIONS, layer_roles
from ..features.table import FeatureTable
from .taxonomy import describe_feature

__all__ = ["quality_labels", "similarity_test", "accuracy_correlations", "learning_dynamics",
           "weight_histograms"]

CELL = ["dataset", "family"]


def _ok(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["status"] == "ok"] if "status" in frame else frame


def _final(frame: pd.DataFrame) -> pd.DataFrame:
    ok = _ok(frame)
    return ok.loc[ok.groupby("run_id")["epoch"].idxmax()].reset_index(drop=True)


def quality_labels(frame: pd.DataFrame, quantile: float = 0.25) -> pd.Series:
    """``good``, ``poor`` or ``None`` per run (indexed by run id): the top and bottom
    ``quantile`` of runs by final accuracy within each (dataset, family) cell."""
    return _labels(_final(frame), quantile)


def _labels(final: pd.DataFrame, quantile: float) -> pd.Series:
    labels = pd.Series(None, index=final["run_id"], dtype=object)
    for _, cell in final.groupby(CELL):
        k = math.ceil(len(cell) * quantile) if len(cell) >= 4 else 0
        if k == 0:
            continue
        ranked = cell.sort_values([TARGET, "run_id"])["run_id"]
        labels[ranked.iloc[:k].to_numpy()] = "poor"
        labels[ranked.iloc[-k:].to_numpy()] = "good"
    return labels


def _good_and_poor_final(frame: pd.DataFrame, quantile: float) -> pd.DataFrame:
    """Final checkpoints of the good and poor runs, with their ``quality``."""
    final = _final(frame)
    final["quality"] = final["run_id"].map(_labels(final, quantile))
    return final[final["quality"].notna()]


def _weight_features(table: FeatureTable) -> list[str]:
    """Weight statistics only: not the architecture counts, which differ by design."""
    return [n for n in table.feature_names if describe_feature(n).family not in ("architecture", "dataset")]


def _standardized(values: np.ndarray) -> np.ndarray:
    present = np.isfinite(values)
    n = np.maximum(present.sum(axis=0), 1)
    mean = np.where(present, values, 0.0).sum(axis=0) / n
    centred = np.where(present, values - mean, 0.0)  # a missing value sits at its column's mean
    std = np.sqrt((centred ** 2).sum(axis=0) / n)
    return centred[:, std > 0] / std[std > 0]


def _dispersion(z: np.ndarray) -> float:
    """Root-mean-square distance to the group centroid, per feature."""
    return float(np.sqrt(((z - z.mean(axis=0)) ** 2).sum(axis=1).mean() / max(z.shape[1], 1)))


def _test(z: np.ndarray, good: np.ndarray, permutations: int, rng: np.random.Generator) -> tuple[float, float, float]:
    observed = _dispersion(z[~good]) - _dispersion(z[good])
    count = 0
    for _ in range(permutations):
        shuffled = rng.permutation(good)
        count += _dispersion(z[~shuffled]) - _dispersion(z[shuffled]) >= observed
    return _dispersion(z[good]), _dispersion(z[~good]), (count + 1) / (permutations + 1)


def _sentence(scope: str, dataset: str, row: dict[str, float], quantile: float) -> str:
    more = "more" if row["dispersion_good"] < row["dispersion_poor"] else "less"
    verdict = "significant" if row["p_value"] < 0.05 else "not significant"
    return (f"{scope} on {dataset}: the best {quantile:.0%} of runs (n={row['n_good']}) are {more} alike "
            f"than the worst {quantile:.0%} (n={row['n_poor']}): dispersion {row['dispersion_good']:.2f} vs "
            f"{row['dispersion_poor']:.2f} (ratio {row['ratio']:.2f}), one-sided permutation "
            f"p = {row['p_value']:.3f}, {verdict} at 5%.")


def similarity_test(table: FeatureTable, *, quantile: float = 0.25, permutations: int = 999,
                    random_state: int = 0) -> pd.DataFrame:
    """Dispersion of good vs poor runs' standardized feature vectors, with a permutation test.

    Final checkpoints only. Within each family (``scope`` = the family) and across families
    (``scope`` = ``all families``: good and poor runs of every family pooled), per dataset.
    Features are standardized over the good and poor runs of the scope; dispersion is the RMS
    distance to the group centroid per feature. The test permutes the good/poor labels; ``p_value``
    is one-sided (good runs more alike).

    Returns
    -------
    pandas.DataFrame
        ``dataset``, ``scope``, ``n_good``, ``n_poor``, ``dispersion_good``,
        ``dispersion_poor``, ``ratio`` (good / poor), ``p_value`` and ``conclusion`` (a sentence).
    """
    final = _good_and_poor_final(table.frame, quantile)
    names = _weight_features(table)
    rng = np.random.default_rng(random_state)
    rows = []
    for dataset, part in final.groupby("dataset"):
        scopes = [(fam, g) for fam, g in part.groupby("family")]
        if part["family"].nunique() > 1:
            scopes.append(("all families", part))
        for scope, group in scopes:
            good = (group["quality"] == "good").to_numpy()
            if good.sum() < 2 or (~good).sum() < 2:
                continue
            z = _standardized(group[names].to_numpy(dtype=np.float64))
            d_good, d_poor, p = _test(z, good, permutations, rng)
            row = {"dataset": dataset, "scope": scope, "n_good": int(good.sum()), "n_poor": int((~good).sum()),
                   "dispersion_good": d_good, "dispersion_poor": d_poor,
                   "ratio": d_good / d_poor if d_poor > 0 else float("nan"), "p_value": p}
            rows.append({**row, "conclusion": _sentence(str(scope), str(dataset), row, quantile)})
    return pd.DataFrame(rows, columns=["dataset", "scope", "n_good", "n_poor", "dispersion_good",
                                       "dispersion_poor", "ratio", "p_value", "conclusion"])


def accuracy_correlations(table: FeatureTable) -> pd.DataFrame:
    """Spearman ρ of every feature with test accuracy over all checkpoints, per family and for
    all families together: one row per feature, one column per family plus ``all``."""
    frame = _ok(table.frame)
    columns = {fam: part for fam, part in frame.groupby("family")} if "family" in frame else {}
    columns["all"] = frame
    out = pd.DataFrame({"feature": table.feature_names})
    for name, part in columns.items():
        varying = part[table.feature_names].loc[:, part[table.feature_names].nunique() > 1]
        rho = varying.corrwith(part[TARGET], method="spearman") if len(part) > 2 else pd.Series(dtype=float)
        out[name] = out["feature"].map(rho)
    return out


def learning_dynamics(table: FeatureTable, features: Sequence[str], *, quantile: float = 0.25) -> pd.DataFrame:
    """``features`` across training epochs for good and poor runs: median and quartiles per
    (family, quality, epoch, feature), long format."""
    labels = quality_labels(table.frame, quantile)
    frame = table.frame.assign(quality=table.frame["run_id"].map(labels))
    frame = frame[frame["quality"].notna()]
    long = frame.melt(id_vars=["family", "quality", "epoch"], value_vars=list(features),
                      var_name="feature", value_name="value")
    stats = long.groupby(["family", "quality", "epoch", "feature"])["value"]
    return pd.DataFrame({"median": stats.median(), "q25": stats.quantile(0.25),
                         "q75": stats.quantile(0.75), "runs": stats.count()}).reset_index()


def _pooled_weights(path: Path) -> dict[str, np.ndarray]:
    tensors = load_checkpoint(path).tensors
    roles = layer_roles({k: v.shape for k, v in tensors.items()})
    pooled: dict[str, list[np.ndarray]] = {}
    for name, role in roles.items():
        if role.position is not None:
            pooled.setdefault(role.position, []).append(tensors[name].ravel())
    return {pos: np.concatenate(parts) for pos, parts in pooled.items()}


def weight_histograms(table: FeatureTable, zoo: str | os.PathLike[str], *, quantile: float = 0.25,
                      max_runs: int = 40, bins: int = 60) -> pd.DataFrame:
    """Weight distributions of the final checkpoints of good and poor runs, per layer position.

    Reads at most ``max_runs`` checkpoints per (dataset, family, quality). Bins span the 0.5 to
    99.5 percentiles of the pooled weights of each (dataset, family, position); weights outside
    are counted in the edge bins, so heavy tails show as spikes at the edges.

    Returns
    -------
    pandas.DataFrame
        ``dataset``, ``family``, ``position``, ``quality``, ``left``, ``right`` and ``density``
        (one row per bin), and ``runs`` (checkpoints pooled).
    """
    table.require(["path"], "read the weights of its checkpoints")
    root = Path(zoo)
    final = _good_and_poor_final(table.frame, quantile)
    rows = []
    for (dataset, family), cell in final.groupby(CELL):
        weights = {q: [_pooled_weights(root / p) for p in g["path"].iloc[:max_runs]]
                   for q, g in cell.sort_values("run_id").groupby("quality")}
        for position in POSITIONS:
            pooled = {q: np.concatenate([w[position] for w in ws if position in w] or [np.empty(0)])
                      for q, ws in weights.items()}
            everything = np.concatenate(list(pooled.values()))
            if everything.size == 0:
                continue
            lo, hi = np.percentile(everything, [0.5, 99.5])
            edges = np.linspace(lo, hi if hi > lo else lo + 1e-6, bins + 1)
            for quality, values in pooled.items():
                if values.size:
                    density, _ = np.histogram(np.clip(values, lo, hi), edges, density=True)
                    rows += [{"dataset": dataset, "family": family, "position": position, "quality": quality,
                              "left": a, "right": b, "density": d, "runs": len(weights[quality])}
                             for a, b, d in zip(edges[:-1], edges[1:], density)]
    return pd.DataFrame(rows)
