"""Baseline inputs, scored beside the full features on the same zoo and split.

- ``global7``: the 7 global statistics of all layer weights pooled (mean, standard deviation,
  quantiles 0/25/50/75/100), the ``global.*`` columns of ``agnostic``;
- ``spectral``: WeightWatcher-style spectral metrics alone (the ``spectral`` schema's columns);
- ``hyperparameters``: the run's configuration (``config.*``, categories one-hot) and the
  checkpoint's epoch, no weights at all;
- any other feature table given (e.g. ``statnn``), matched to the rows by run and epoch;
- and, in :func:`perfpredict.evaluation.evaluate`, the ``constant`` model (the mean training
  accuracy).
"""

from __future__ import annotations

from typing import Mapping

import pandas as pd

from .errors import SchemaMismatchError
from .features.schema import SCHEMAS
from .features.table import FeatureTable

__all__ = ["GLOBAL7", "hyperparameter_inputs", "baseline_inputs"]

GLOBAL7 = tuple(f"global.{s}" for s in ("mean", "std", "q0", "q25", "q50", "q75", "q100"))


def hyperparameter_inputs(frame: pd.DataFrame) -> pd.DataFrame:
    """The ``config.*`` columns and ``epoch`` as numbers (categories one-hot, 0/1)."""
    columns = [c for c in frame.columns if c.startswith("config.")] + (["epoch"] if "epoch" in frame else [])
    raw = frame[columns]
    categorical = [c for c in columns if raw[c].dtype == object or isinstance(raw[c].dtype, pd.CategoricalDtype)
                   or pd.api.types.is_string_dtype(raw[c])]
    encoded = pd.get_dummies(raw, columns=categorical, dtype=float)
    return encoded.astype(float).reset_index(drop=True)


def _aligned(other: FeatureTable, frame: pd.DataFrame, name: str) -> pd.DataFrame:
    keys = ["run_id", "epoch"] if {"run_id", "epoch"} <= set(frame) & set(other.frame) else ["path"]
    if not set(keys) <= set(frame) & set(other.frame):
        raise SchemaMismatchError(f"the {name} table cannot be matched to the features' rows (no "
                                  f"{' and '.join(keys)} columns); extract both from the same zoo")
    merged = frame[keys].merge(other.frame[keys + other.feature_names], on=keys, how="left",
                               indicator=True, validate="one_to_one")
    if (merged["_merge"] != "both").any():
        raise SchemaMismatchError(f"the {name} table lacks some checkpoints of the features table; "
                                  "extract both from the same zoo")
    return merged[other.feature_names]


def baseline_inputs(table: FeatureTable, extra: Mapping[str, FeatureTable] | None = None, *,
                    in_table: bool = True) -> dict[str, pd.DataFrame]:
    """Input frames of the baselines that ``table`` makes possible (unless not ``in_table``)
    and of the ``extra`` tables, rows aligned with ``table``."""
    frame = table.frame
    out: dict[str, pd.DataFrame] = {}
    for name, other in (extra or {}).items():
        out[name] = _aligned(other, frame, name)
    if not in_table:
        return out
    if set(GLOBAL7) <= set(frame):
        out["global7"] = frame[list(GLOBAL7)].reset_index(drop=True)
    spectral = [n for n in SCHEMAS["spectral"].fixed_names or () if n in frame]
    if spectral:
        out["spectral"] = frame[spectral].reset_index(drop=True)
    hyper = hyperparameter_inputs(frame)
    if hyper.shape[1]:
        out["hyperparameters"] = hyper
    return out
