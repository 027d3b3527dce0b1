"""One self-contained HTML page: sections of text, figures (embedded PNG) and tables."""

from __future__ import annotations

import base64
import html
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import pandas as pd
from matplotlib.figure import Figure

__all__ = ["Section", "write_page"]

_STYLE = ("body{font-family:system-ui,sans-serif;font-size:17px;max-width:1150px;margin:2em auto;padding:0 1em;"
          "color:#222;line-height:1.45}table{border-collapse:collapse;font-size:0.85em;margin:0}"
          "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right;white-space:nowrap}"
          "th{background:#f3f3f3;position:sticky;top:0}"
          ".scroll{overflow:auto;max-width:100%;max-height:36em;margin:0.6em 0;border:1px solid #eee}"
          "img{max-width:100%;display:block;margin:0.6em 0}.note{color:#555}"
          "nav a{margin-right:1em}")
"""Wide or long tables scroll inside their own box (``.scroll``), never the page."""


@dataclass(frozen=True)
class Section:
    """A titled part of the page: paragraphs, then figures ``(name, Figure)``, then tables
    ``(caption, DataFrame)``."""

    title: str
    paragraphs: Sequence[str] = ()
    figures: Sequence[tuple[str, Figure]] = ()
    tables: Sequence[tuple[str, pd.DataFrame]] = ()


def _png(fig: Figure, path: Path) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    path.write_bytes(buf.getvalue())
    return base64.b64encode(buf.getvalue()).decode()


def _anchor(title: str) -> str:
    return html.escape(title.lower().replace(" ", "-"))


def _section_html(section: Section, figures: Path) -> list[str]:
    parts = [f'<h2 id="{_anchor(section.title)}">{html.escape(section.title)}</h2>']
    parts += [f"<p>{html.escape(p)}</p>" for p in section.paragraphs]
    for name, fig in section.figures:
        data = _png(fig, figures / f"{name}.png")
        parts.append(f'<img alt="{html.escape(name)}" src="data:image/png;base64,{data}">')
    for caption, table in section.tables:
        parts.append(f"<h3>{html.escape(caption)}</h3>")
        parts.append('<div class="scroll">' + table.to_html(index=False, float_format=lambda v: f"{v:.4g}",
                                                               na_rep="–", border=0) + "</div>")
    return parts


def write_page(out: str | os.PathLike[str], title: str, sections: Sequence[Section],
               provenance: Mapping[str, Any]) -> Path:
    """Write ``out/index.html`` and each figure as ``out/figures/NAME.png``; return the page.

    The page is self-contained (figures are embedded as data URIs, no scripts, no external
    resources), so it can be mailed or attached as one file.
    """
    folder = Path(out)
    (folder / "figures").mkdir(parents=True, exist_ok=True)
    nav = " ".join(f'<a href="#{_anchor(s.title)}">{html.escape(s.title)}</a>' for s in sections)
    body = [f"<h1>{html.escape(title)}</h1>", f"<nav>{nav}</nav>"]
    for section in sections:
        body += _section_html(section, folder / "figures")
    body.append('<h2 id="provenance">Provenance</h2><ul class="note">')
    body += [f"<li><b>{html.escape(str(k))}</b>: {html.escape(str(v))}</li>" for k, v in provenance.items()]
    body.append("</ul>")
    page = (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{_STYLE}</style></head><body>" + "\n".join(body) + "</body></html>")
    index = folder / "index.html"
    index.write_text(page, encoding="utf-8")
    return index
