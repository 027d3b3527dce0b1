"""What the commands share: the consoles, progress bars, zoo training and metrics tables."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Optional

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

if TYPE_CHECKING:
    import pandas as pd

    from ..features import FeatureTable
    from ..zoo import RunSummary, ZooSpec

console = Console()
err_console = Console(stderr=True, soft_wrap=True)  # one line per message, whatever the width

DEFAULT_SCHEMA = "transfer"
"""``perfpredict.features.DEFAULT_SCHEMA``, written out: importing it would load torch at startup."""


@contextmanager
def progress_bar(label: str, total: int) -> Iterator[tuple[Progress, object]]:
    """A progress bar on stderr, and its task."""
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("ETA"),
               TimeRemainingColumn()]
    with Progress(*columns, console=err_console, transient=False) as progress:
        yield progress, progress.add_task(label, total=total, rate="")


def generate_zoo_with_progress(spec: "ZooSpec", out: Path, data_root: Optional[Path], workers: Optional[int],
                               device: str, executor: str = "local",
                               address: Optional[str] = None) -> "pd.DataFrame":
    """Train (or resume) the zoo of ``spec`` in ``out``, with a progress bar; its index."""
    import time

    from ..zoo import generate_zoo
    from ..zoo.executors import make_executor

    n_runs = len(spec.runs())
    start = time.perf_counter()
    with progress_bar("training runs", n_runs) as (progress, task):
        fresh = []

        def on_run(summary: "RunSummary", done: int, total: int) -> None:
            fresh.append(summary)
            per_min = 60 * len(fresh) / max(time.perf_counter() - start, 1e-9)
            progress.update(task, completed=done, rate=f"{per_min:.1f} models/min")

        def on_incomplete(run_id: str, reason: str, moved_to: Path) -> None:
            err_console.print(f"[yellow]run {run_id} was incomplete[/] ({reason}): training it again; "
                              f"its folder was moved to {moved_to}")

        pool = make_executor("ray", address=address) if executor == "ray" else None
        return generate_zoo(spec, out, data_root=data_root, workers=workers, device=device,
                            executor=pool, on_run=on_run, on_incomplete=on_incomplete)


def zoo_table(zoo: Path, schema: str) -> "FeatureTable":
    """The ``schema`` features of every usable checkpoint of a zoo, with a progress bar."""
    from ..features import zoo_features
    from ..zoo import ZooStore

    n = int((ZooStore(zoo).load_index()["status"] == "ok").sum())
    with progress_bar("extracting features", n) as (progress, task):
        return zoo_features(zoo, schema, on_item=lambda i: progress.update(task, completed=i))


_SHOWN = {"fold": ("fold", "{}"), "features": ("features", "{}"), "model": ("model", "{}"), "r2": ("R²", "{:.3f}"),
          "kendall_tau": ("τ", "{:.3f}"), "mae_points": ("MAE", "{:.1f}"), "coverage": ("cover", "{:.2f}"),
          "width_points": ("width", "{:.1f}"), "outside": ("outside", "{:.2f}"), "n": ("n", "{:.0f}")}
"""Columns of a metrics table on screen: header and format (files written with -o have all)."""


def metrics_table(metrics: "pd.DataFrame", title: str) -> Table:
    """The main metrics, short enough for 80 columns: R², Kendall τ, MAE and the interval
    width in accuracy points, coverage, the share flagged outside the domain, checkpoints."""
    shown = [c for c in _SHOWN if c in metrics.columns]
    table = Table(*[_SHOWN[c][0] for c in shown], title=title)
    for row in metrics[shown].itertuples(index=False):
        table.add_row(*["-" if isinstance(v, float) and v != v else _SHOWN[c][1].format(v) for c, v in zip(shown, row)])
    return table
