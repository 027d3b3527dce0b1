"""Report: figures (functions return matplotlib Figures), CSV tables and one HTML page."""

from __future__ import annotations

import base64
import html
import io
import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

__all__ = ["predicted_vs_actual_figure", "importance_figure", "write_report"]


def predicted_vs_actual_figure(y_true: np.ndarray, predictions: Mapping[str, np.ndarray],
                               title: str = "Held-out runs") -> Figure:
    """Scatter of predicted vs actual test accuracy, one panel per model."""
    fig = Figure(figsize=(4.2 * len(predictions), 4.2), layout="constrained")
    axes = fig.subplots(1, len(predictions), squeeze=False)[0]
    for ax, (name, pred) in zip(axes, predictions.items()):
        ax.scatter(100 * np.asarray(y_true), 100 * np.asarray(pred), s=10, alpha=0.6)
        ax.plot([0, 100], [0, 100], color="grey", lw=1, ls="--")
        ax.set(xlim=(0, 100), ylim=(0, 100), xlabel="actual test accuracy (%)",
               ylabel="predicted (%)", title=f"{name}: {title}")
    return fig


def importance_figure(importance: pd.DataFrame, column: str, top: int = 20) -> Figure:
    """Horizontal bars of the ``top`` features by ``column``."""
    rows = importance.nlargest(top, column)[::-1]
    fig = Figure(figsize=(7, 0.28 * len(rows) + 1.2), layout="constrained")
    ax = fig.subplots()
    ax.barh(rows["feature"], rows[column])
    ax.set(xlabel=column.replace("_", " "), title=f"Top {len(rows)} features")
    return fig


def _png(fig: Figure, path: Path) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    path.write_bytes(buf.getvalue())
    return base64.b64encode(buf.getvalue()).decode()


def write_report(
    out: str | os.PathLike[str],
    *,
    metrics: pd.DataFrame,
    importance: pd.DataFrame,
    y_true: np.ndarray,
    predictions: Mapping[str, np.ndarray],
    provenance: Mapping[str, Any],
) -> Path:
    """Write ``index.html``, ``figures/*.png``, ``metrics.csv`` and ``importance.csv``.

    Returns the path of ``index.html`` (self-contained: figures are embedded).
    """
    folder = Path(out)
    (folder / "figures").mkdir(parents=True, exist_ok=True)
    metrics.to_csv(folder / "metrics.csv", index=False)
    importance.to_csv(folder / "importance.csv", index=False)
    figures = {"predicted_vs_actual": predicted_vs_actual_figure(y_true, predictions)}
    for col in importance.columns:
        if col.endswith(("_gain", "_abs_share")):
            figures[f"importance_{col}"] = importance_figure(importance, col)
    images = {name: _png(fig, folder / "figures" / f"{name}.png") for name, fig in figures.items()}
    body = [
        "<h1>perfpredict report</h1>",
        "<h2>Held-out accuracy prediction</h2>", metrics.to_html(index=False, float_format="%.4f"),
        *[f'<h3>{html.escape(n)}</h3><img alt="{html.escape(n)}" src="data:image/png;base64,{b}">'
          for n, b in images.items()],
        "<h2>Feature importance (top 30)</h2>",
        importance.head(30).to_html(index=False, float_format="%.4f"),
        "<h2>Provenance</h2><ul>",
        *[f"<li><b>{html.escape(str(k))}</b>: {html.escape(str(v))}</li>" for k, v in provenance.items()],
        "</ul>",
    ]
    page = ("<!doctype html><html><head><meta charset='utf-8'><title>perfpredict report</title>"
            "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}"
            "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px}"
            "img{max-width:100%}</style></head><body>" + "\n".join(body) + "</body></html>")
    index = folder / "index.html"
    index.write_text(page)
    return index
