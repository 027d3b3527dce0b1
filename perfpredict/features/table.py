"""Feature tables: features of many checkpoints (a zoo or files) with their metadata.

A table is a parquet file whose key-value metadata ``perfpredict`` records the schema name,
version and feature names; every other column is metadata (run_id, accuracy, config.*).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..checkpoints import CHECKPOINT_SUFFIXES, Checkpoint, load_checkpoint
from ..errors import PerfPredictError, SchemaMismatchError
from ..zoo.store import ZooStore
from .batching import Signature, feature_matrix, feature_names, left_out, signature
from .schema import DEFAULT_SCHEMA, Schema, get_schema, schema_label
from .structure import checkpoint_structure

__all__ = ["FeatureTable", "extract_features", "zoo_features", "expand_paths", "save_features",
           "load_features", "concat_features"]

_META_KEY = b"perfpredict"
BLOCK_BYTES = 1 << 28
"""Bytes of weights read into memory at a time by :func:`extract_features`."""


@dataclass(frozen=True)
class FeatureTable:
    """Features of many checkpoints.

    Attributes
    ----------
    frame : pandas.DataFrame
        Metadata columns and one column per feature.
    schema, schema_version : str, int
        The feature schema.
    feature_names : list of str
        Feature columns, in schema order.
    failures : list of (str, str)
        Inputs that could not be processed, with the reason.
    skipped : dict of str to int
        ``"tensor: reason"`` of tensors left out of the features, with the number of
        checkpoints they were left out of.
    """

    frame: pd.DataFrame
    schema: str
    schema_version: int
    feature_names: list[str]
    failures: list[tuple[str, str]] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)

    @property
    def X(self) -> pd.DataFrame:
        """The feature columns."""
        return self.frame[self.feature_names]

    @property
    def shape(self) -> tuple[int, int]:
        """``(checkpoints, features)``."""
        return len(self.frame), len(self.feature_names)

    def __repr__(self) -> str:
        return (f"FeatureTable({len(self.frame)} checkpoints x {len(self.feature_names)} {self.schema} "
                f"v{self.schema_version} features, {len(self.failures)} unreadable inputs)")

    def select(self, schema: str) -> "FeatureTable":
        """The table of ``schema`` whose columns this table holds (``agnostic`` or ``learned``
        out of a ``transfer`` table), with the same rows and metadata.

        Raises
        ------
        SchemaMismatchError
            This table lacks some of the schema's features.
        """
        spec = get_schema(schema)
        names = list(spec.fixed_names or ())
        missing = [n for n in names if n not in set(self.feature_names)]
        if spec.fixed_names is None or missing:
            raise SchemaMismatchError(f"a {self.schema} table does not hold the {schema} features; "
                                      f"extract them with --schema {schema}")
        meta = [c for c in self.frame.columns if c not in set(self.feature_names)]
        return FeatureTable(self.frame[meta + names], spec.name, spec.version, names, self.failures, self.skipped)

    def require(self, columns: Sequence[str], purpose: str) -> None:
        """Raise :class:`SchemaMismatchError` naming the ``columns`` the frame lacks for ``purpose``."""
        missing = [c for c in columns if c not in self.frame.columns]
        if missing:
            raise SchemaMismatchError(
                f"the feature table has no {', '.join(missing)} column, needed to {purpose}; "
                "extract the features of a zoo (`perfpredict features ZOO`), which carry them")


def expand_paths(inputs: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Files as given, and the checkpoint files inside given folders (recursively, sorted)."""
    out: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            out += sorted(p for p in item.rglob("*") if p.suffix.lower() in CHECKPOINT_SUFFIXES and p.is_file())
        else:
            out.append(item)
    return out


def extract_features(
    inputs: Sequence[str | os.PathLike[str]],
    schema: str = DEFAULT_SCHEMA,
    *,
    meta: pd.DataFrame | None = None,
    on_item: Callable[[int], None] | None = None,
) -> FeatureTable:
    """Features of checkpoint files; unreadable files are listed in ``failures``, not raised.

    Besides the features, each row records its ``layer_kinds`` (comma-separated, from
    :func:`perfpredict.features.structure.checkpoint_structure`), which a predictor's domain
    check compares with those of its training zoo. Files are read once, in blocks of at most
    ``BLOCK_BYTES`` of weights, so a zoo larger than memory can be processed. Per-tensor
    schemas add the feature names of each new architecture as it appears (earlier rows get NaN
    there).

    Parameters
    ----------
    inputs : sequence of path
        Checkpoint files.
    schema : str
        Feature schema (``NAME@VERSION`` for an earlier version; :func:`~perfpredict.features.get_schema`).
    meta : pandas.DataFrame, optional
        Metadata rows aligned with ``inputs`` (default: a ``path`` column).
    on_item : callable, optional
        Called with the number of inputs processed so far (progress display).
    """
    paths = [Path(p) for p in inputs]
    spec = get_schema(schema)
    names = list(spec.fixed_names or ())
    seen: set[Signature] = set()
    keep: list[int] = []
    kinds: list[str] = []
    blocks: list[np.ndarray] = []
    failures: list[tuple[str, str]] = []
    skipped: Counter[str] = Counter()
    for rows, ckpts in _read_blocks(paths, failures, on_item):
        if spec.fixed_names is None:
            names += _new_names(spec, ckpts, seen, names)
        keep += rows
        kinds += [",".join(checkpoint_structure(c).layer_kinds) for c in ckpts]
        blocks.append(feature_matrix(spec, ckpts, names))
        skipped.update(f"{name}: {reason}" for c in ckpts for name, reason in left_out(spec, c).items())
    padded = [np.pad(b, ((0, 0), (0, len(names) - b.shape[1])), constant_values=np.nan) for b in blocks]
    values = pd.DataFrame(np.vstack(padded) if padded else np.empty((0, len(names))), columns=names)
    base = meta if meta is not None else pd.DataFrame({"path": [str(p) for p in paths]})
    base = base.iloc[keep].reset_index(drop=True).assign(layer_kinds=kinds)
    frame = pd.concat([base, values], axis=1)
    return FeatureTable(frame, spec.name, spec.version, names, failures, dict(skipped))


def _read_blocks(paths: Sequence[Path], failures: list[tuple[str, str]],
                 on_item: Callable[[int], None] | None = None) -> Iterator[tuple[list[int], list[Checkpoint]]]:
    """Readable checkpoints in blocks of bounded size, with their positions in ``paths``."""
    rows: list[int] = []
    ckpts: list[Checkpoint] = []
    size = 0
    for i, path in enumerate(paths):
        try:
            ckpt = load_checkpoint(path)
        except PerfPredictError as exc:
            failures.append((str(path), str(exc)))
        else:
            rows.append(i)
            ckpts.append(ckpt)
            size += sum(w.nbytes for w in ckpt.tensors.values())
        if on_item is not None:
            on_item(i + 1)
        if size >= BLOCK_BYTES:
            yield rows, ckpts
            rows, ckpts, size = [], [], 0
    if ckpts:
        yield rows, ckpts


def _new_names(spec: Schema, ckpts: Sequence[Checkpoint], seen: set[Signature], names: list[str]) -> list[str]:
    """Feature names of architectures not ``seen`` before (one checkpoint of each), not in ``names``."""
    examples: dict[Signature, Checkpoint] = {}
    for ckpt in ckpts:
        sig = signature(ckpt)
        if sig not in seen:
            examples.setdefault(sig, ckpt)
    seen.update(examples)
    known = set(names)
    return [n for n in feature_names(spec, list(examples.values())) if n not in known]


def zoo_features(
    zoo: str | os.PathLike[str],
    schema: str = DEFAULT_SCHEMA,
    *,
    on_item: Callable[[int], None] | None = None,
) -> FeatureTable:
    """Features of every checkpoint of a zoo whose status is ``ok``, with the index columns."""
    store = ZooStore(zoo)
    index = store.load_index()
    index = index[index["status"] == "ok"].reset_index(drop=True)
    paths = [store.root / p for p in index["path"]]
    return extract_features(paths, schema, meta=index, on_item=on_item)


def save_features(table: FeatureTable, path: str | os.PathLike[str], *, float32: bool = False) -> None:
    """Write a feature table as parquet (zstd; floats split by byte) with its schema in the file metadata.

    ``float32`` stores the features in single precision, half the size; XGBoost computes in
    single precision anyway, and :func:`load_features` returns float64 columns either way.
    """
    info = {"schema": table.schema, "schema_version": table.schema_version,
            "feature_names": table.feature_names, "failures": table.failures, "skipped": table.skipped}
    frame = table.frame
    if float32:
        frame = frame.astype({n: np.float32 for n in table.feature_names})
    arrow = pa.Table.from_pandas(frame, preserve_index=False)
    arrow = arrow.replace_schema_metadata({**(arrow.schema.metadata or {}), _META_KEY: json.dumps(info).encode()})
    floats = {f.name for f in arrow.schema if pa.types.is_floating(f.type)}
    # floats compress a third better split by byte than dictionary-encoded
    pq.write_table(arrow, path, compression="zstd", use_byte_stream_split=sorted(floats),
                   use_dictionary=[c for c in arrow.column_names if c not in floats])


def load_features(path: str | os.PathLike[str]) -> FeatureTable:
    """Read a feature table written by :func:`save_features`."""
    try:
        arrow = pq.read_table(path)
    except FileNotFoundError:
        raise PerfPredictError(f"{path} does not exist; make it with `perfpredict features`") from None
    except Exception as exc:
        raise PerfPredictError(f"{path} is not a readable parquet file ({exc})") from exc
    raw = (arrow.schema.metadata or {}).get(_META_KEY)
    if raw is None:
        raise SchemaMismatchError(f"{path} is not a perfpredict feature table (no schema metadata); "
                                  "make one with `perfpredict features`")
    info = json.loads(raw)
    wide = [f.with_type(pa.float64()) if pa.types.is_float32(f.type) else f for f in arrow.schema]
    frame = arrow.cast(pa.schema(wide, metadata=arrow.schema.metadata)).to_pandas()
    missing = [n for n in info["feature_names"] if n not in frame.columns]
    if missing:
        raise SchemaMismatchError(f"{path} lacks {len(missing)} feature columns (e.g. {missing[:3]}); "
                                  "re-extract it with `perfpredict features`")
    failures = [tuple(f) for f in info.get("failures", [])]
    return FeatureTable(frame, info["schema"], info["schema_version"], info["feature_names"],
                        failures, info.get("skipped", {}))


def concat_features(tables: Sequence[FeatureTable]) -> FeatureTable:
    """One table of the rows of several tables of one schema (e.g. the zoos of several datasets).

    Feature names are the union in order of appearance (per-tensor schemas give other
    architectures other names; rows lacking a feature get NaN there).

    Raises
    ------
    SchemaMismatchError
        The tables use different schemas or schema versions.
    PerfPredictError
        A checkpoint (``run_id`` and ``epoch``) is in more than one table.
    """
    if not tables:
        raise PerfPredictError("no feature tables to combine")
    first = tables[0]
    if len(tables) == 1:
        return first
    for t in tables[1:]:
        if (t.schema, t.schema_version) != (first.schema, first.schema_version):
            label = schema_label(first.schema, first.schema_version)
            raise SchemaMismatchError(f"cannot combine feature tables of schema {first.schema} "
                                      f"v{first.schema_version} and {t.schema} v{t.schema_version}; "
                                      f"re-extract them with --schema {label}")
    names = list(dict.fromkeys(n for t in tables for n in t.feature_names))
    frame = pd.concat([t.frame for t in tables], ignore_index=True)
    keys = ["run_id", "epoch"]
    if set(keys) <= set(frame) and frame.duplicated(keys).any():
        dup = frame.loc[frame.duplicated(keys), keys].iloc[0]
        where = ", ".join(f"{k} {dup[k]}" for k in keys)
        raise PerfPredictError(f"the tables share checkpoints (e.g. {where}); combine the tables of "
                               "different zoos, each once")
    is_feature = set(names)
    meta = [c for c in frame.columns if c not in is_feature]
    skipped: Counter[str] = Counter()
    for t in tables:
        skipped.update(t.skipped)
    return FeatureTable(frame[meta + names], first.schema, first.schema_version, names,
                        [f for t in tables for f in t.failures], dict(skipped))
