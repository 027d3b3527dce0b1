"""Report figures. Each function returns a :class:`matplotlib.figure.Figure` and touches no
global pyplot state, so they can be shown in notebooks or saved anywhere."""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

__all__ = ["predicted_vs_actual_figure", "importance_figure", "aggregate_figure", "shap_figure",
           "histogram_figure", "similarity_figure", "correlation_figure", "dynamics_figure"]

_QUALITY_COLORS = {"good": "tab:green", "poor": "tab:red"}


def predicted_vs_actual_figure(y_true: np.ndarray, predictions: Mapping[str, np.ndarray],
                               title: str = "Held-out runs", *, families: np.ndarray | None = None,
                               halfwidths: Mapping[str, np.ndarray | None] | None = None) -> Figure:
    """Scatter of predicted vs actual test accuracy, one panel per model, coloured by family,
    with each checkpoint's interval as a vertical line (``halfwidths`` per model)."""
    fig = Figure(figsize=(5.2 * len(predictions), 5.0), layout="constrained")
    axes = fig.subplots(1, len(predictions), squeeze=False)[0]
    actual = 100 * np.asarray(y_true)
    groups = np.asarray(families) if families is not None else np.full(len(actual), "all", dtype=object)
    for ax, (name, pred) in zip(axes, predictions.items()):
        predicted = 100 * np.asarray(pred)
        half = None if halfwidths is None or halfwidths.get(name) is None else 100 * np.asarray(halfwidths[name])
        for i, family in enumerate(sorted(set(groups))):
            rows = groups == family
            color = f"C{i}"
            if half is not None:
                ax.vlines(actual[rows], np.clip(predicted[rows] - half[rows], 0, 100),
                          np.clip(predicted[rows] + half[rows], 0, 100), color=color, alpha=0.15, lw=1)
            ax.scatter(actual[rows], predicted[rows], s=12, alpha=0.7, color=color, label=str(family))
        ax.plot([0, 100], [0, 100], color="grey", lw=1, ls="--")
        ax.set(xlim=(0, 100), ylim=(0, 100), xlabel="actual test accuracy (%)",
               ylabel="predicted (%)" + (", with its interval" if half is not None else ""), title=f"{name}: {title}")
        if families is not None:
            ax.legend(title="family", loc="upper left")
    return fig


def importance_figure(features: pd.DataFrame, column: str, top: int = 20) -> Figure:
    """Horizontal bars of the ``top`` features by ``column`` (absolute value)."""
    rows = features.loc[features[column].abs().nlargest(top).index][::-1]
    fig = Figure(figsize=(7, 0.28 * len(rows) + 1.2), layout="constrained")
    ax = fig.subplots()
    ax.barh(rows["feature"], rows[column])
    ax.set(xlabel=column.replace("_", " "), title=f"Top {len(rows)} features by {column.replace('_', ' ')}")
    return fig


def aggregate_figure(table: pd.DataFrame, key: str) -> Figure:
    """One panel per measure: importance per statistic family (or layer role)."""
    measures = [c for c in table.columns if c.endswith(("_shap", "_gain", "_abs_share", "_permutation"))]
    fig = Figure(figsize=(3.2 * max(len(measures), 1), 0.3 * len(table) + 1.6), layout="constrained")
    axes = fig.subplots(1, max(len(measures), 1), squeeze=False, sharey=True)[0]
    labels = table[key].astype(str)[::-1]
    for ax, measure in zip(axes, measures):
        ax.barh(labels, table[measure][::-1].fillna(0.0))
        ax.set(xlabel=measure.replace("_", " "))
    fig.suptitle(f"Importance by {key}")
    return fig


def shap_figure(shap: np.ndarray, X: pd.DataFrame, top: int = 15, link: str = "identity") -> Figure:
    """SHAP values of the ``top`` features (by mean |SHAP|), each point a held-out checkpoint,
    coloured by the feature's value rank (blue low, red high); in logits of the accuracy for a
    predictor of ``link`` logit."""
    order = np.argsort(-np.abs(shap).mean(axis=0))[:top][::-1]
    fig = Figure(figsize=(7.5, 0.35 * len(order) + 1.4), layout="constrained")
    ax = fig.subplots()
    rng = np.random.default_rng(0)
    points = None
    for row, j in enumerate(order):
        ranks = X.iloc[:, j].rank(pct=True).fillna(0.5).to_numpy()
        points = ax.scatter(shap[:, j], row + rng.uniform(-0.25, 0.25, len(ranks)), c=ranks, cmap="coolwarm",
                            s=7, vmin=0, vmax=1)
    if points is not None:
        bar = fig.colorbar(points, ax=ax, ticks=[0, 1], fraction=0.04)
        bar.ax.set_yticklabels(["low", "high"])
        bar.set_label("feature value (rank among held-out checkpoints)")
    ax.set_yticks(range(len(order)), [X.columns[j] for j in order])
    ax.axvline(0, color="grey", lw=0.8)
    unit = "the logit of the predicted accuracy" if link == "logit" else "predicted accuracy"
    ax.set(xlabel=f"SHAP value (effect on {unit})", title="SHAP values on held-out runs")
    return fig


def histogram_figure(hist: pd.DataFrame, dataset: str) -> Figure:
    """Weight densities of good and poor runs: rows are families, columns layer positions."""
    part = hist[hist["dataset"] == dataset]
    families, positions = sorted(part["family"].unique()), ["first", "hidden", "head"]
    fig = Figure(figsize=(10, 2.6 * len(families) + 0.6), layout="constrained")
    axes = fig.subplots(len(families), 3, squeeze=False)
    for i, family in enumerate(families):
        for j, position in enumerate(positions):
            ax = axes[i, j]
            cell = part[(part["family"] == family) & (part["position"] == position)]
            for quality, g in cell.groupby("quality"):
                ax.stairs(g["density"], np.append(g["left"].to_numpy(), g["right"].iloc[-1]),
                          color=_QUALITY_COLORS[quality], label=f"{quality} ({g['runs'].iloc[0]} runs)")
            ax.set(title=f"{family}, {position} layer", xlabel="weight" if i == len(families) - 1 else None)
            if len(cell):
                ax.legend(fontsize=7)
    fig.suptitle(f"Weight distributions of good vs poor runs ({dataset})")
    return fig


def similarity_figure(similarity: pd.DataFrame) -> Figure:
    """Dispersion of good vs poor runs per scope, with the permutation p-value."""
    fig = Figure(figsize=(max(4.0, 1.3 * len(similarity) + 1.5), 3.8), layout="constrained")
    ax = fig.subplots()
    x = np.arange(len(similarity))
    ax.bar(x - 0.2, similarity["dispersion_good"], 0.4, color=_QUALITY_COLORS["good"], label="good runs")
    ax.bar(x + 0.2, similarity["dispersion_poor"], 0.4, color=_QUALITY_COLORS["poor"], label="poor runs")
    several = similarity["features"].nunique() > 1 if "features" in similarity else False
    labels = [f"{r.scope}\n{r.dataset}\n{r.features + chr(10) if several else ''}p={r.p_value:.3f}"
              for r in similarity.itertuples()]
    ax.set_xticks(x, labels, fontsize=8)
    ax.set(ylabel="dispersion (RMS z-distance to centroid)", title="Are good networks more alike?")
    ax.legend()
    return fig


def correlation_figure(correlations: pd.DataFrame, top: int = 25) -> Figure:
    """Heat map of Spearman ρ with accuracy: the ``top`` features by largest |ρ| in any column."""
    values = correlations.set_index("feature")
    chosen = values.abs().max(axis=1).nlargest(top).index
    grid = values.loc[chosen]
    fig = Figure(figsize=(2.0 + 1.1 * grid.shape[1], 0.3 * len(grid) + 1.5), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(grid.to_numpy(dtype=float), cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
    ax.set_xticks(range(grid.shape[1]), grid.columns)
    ax.set_yticks(range(len(grid)), grid.index, fontsize=8)
    fig.colorbar(image, ax=ax, label="Spearman ρ with test accuracy")
    ax.set_title("Statistics most correlated with accuracy")
    return fig


def dynamics_figure(dynamics: pd.DataFrame) -> Figure:
    """Median (line) and quartiles (band) of each statistic across epochs, good vs poor runs;
    rows are statistics, columns families."""
    features, families = list(dict.fromkeys(dynamics["feature"])), sorted(dynamics["family"].unique())
    fig = Figure(figsize=(3.4 * len(families), 2.4 * len(features) + 0.6), layout="constrained")
    axes = fig.subplots(len(features), len(families), squeeze=False)
    for i, feature in enumerate(features):
        for j, family in enumerate(families):
            ax = axes[i, j]
            cell = dynamics[(dynamics["feature"] == feature) & (dynamics["family"] == family)]
            for quality, g in cell.groupby("quality"):
                color = _QUALITY_COLORS[quality]
                ax.plot(g["epoch"], g["median"], marker="o", ms=3, color=color, label=quality)
                ax.fill_between(g["epoch"], g["q25"], g["q75"], color=color, alpha=0.2)
            ax.set(title=f"{family}" if i == 0 else None, xlabel="epoch" if i == len(features) - 1 else None,
                   ylabel=feature if j == 0 else None)
            if i == 0 and j == 0 and len(cell):
                ax.legend(fontsize=7)
    fig.suptitle("Learning dynamics: good vs poor runs")
    return fig
