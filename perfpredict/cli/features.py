"""``perfpredict features``: checkpoints or zoos to a feature table."""

from __future__ import annotations

from pathlib import Path

import typer

from ..errors import PerfPredictError
from .common import DEFAULT_SCHEMA, console, err_console, progress_bar, zoo_table


def features(
    inputs: list[Path] = typer.Argument(..., exists=True, help="Zoo folders, checkpoint files or folders of them."),
    output: Path = typer.Option(..., "-o", "--output", help="Feature table to write (.parquet)."),
    schema: str = typer.Option(DEFAULT_SCHEMA, help="transfer, agnostic, learned, alignment, per_layer, statnn or spectral; "
                                                     "an earlier version as NAME@VERSION (transfer@1: the "
                                                     "committed zoo v2 tables and the shipped predictor)."),
    float32: bool = typer.Option(False, "--float32", help="Store the features in single precision (half the size)."),
) -> None:
    """Extract weight-statistic features into a parquet table."""
    from ..checkpoints import CHECKPOINT_SUFFIXES
    from ..features import extract_features, save_features
    from ..features.table import expand_paths

    if len(inputs) == 1 and (inputs[0] / "zoo.json").exists():
        table = zoo_table(inputs[0], schema)
    else:
        paths = expand_paths(inputs)
        with progress_bar("extracting features", len(paths)) as (progress, task):
            table = extract_features(paths, schema, on_item=lambda i: progress.update(task, completed=i))
    for tensor, count in table.skipped.items():
        err_console.print(f"[yellow]left out[/] {tensor} ({count} checkpoints)")
    for source, reason in table.failures:
        err_console.print(f"[red]could not read[/] {source}: {reason}")
    if not len(table.frame):
        raise PerfPredictError(f"no input could be read ({len(table.failures)} listed above), so nothing was written "
                               f"to {output}; give checkpoint files (safetensors, torch, .npz or Keras weights), "
                               f"folders of them ({', '.join(CHECKPOINT_SUFFIXES)}) or a zoo folder")
    save_features(table, output, float32=float32)
    console.print(f"{len(table.frame)} checkpoints x {len(table.feature_names)} {schema} features -> {output}")
    if table.failures:
        console.print(f"{len(table.failures)} inputs could not be read (listed above); the rest were processed")
