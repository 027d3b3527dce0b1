"""Predictor bundles: fitted predictors with their feature schema and domain model, and what
they say of checkpoints (accuracy, interval, domain verdict). Saved as a pickle-free folder
by :mod:`.storage` (``save_bundle`` and ``load_bundle`` are re-exported here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np
import pandas as pd

from ..checkpoints import Checkpoint
from ..data import DATASET_SHAPES
from ..errors import DomainError, PerfPredictError, SchemaMismatchError, unknown_name
from ..features.batching import feature_matrix, left_out
from ..features.schema import Schema, get_schema, schema_label
from ..features.structure import checkpoint_structure, structure_problems, table_layer_kinds
from ..features.transformer import to_checkpoint
from .domain import DomainModel
from .models import DATASET_PREFIX, AccuracyPredictor, add_dataset_indicators
from .storage import BUNDLE_FORMAT, load_bundle, save_bundle

if TYPE_CHECKING:
    from ..features.table import FeatureTable

__all__ = ["PredictorBundle", "CheckpointPrediction", "BUNDLE_FORMAT", "save_bundle", "load_bundle"]


@dataclass(frozen=True)
class CheckpointPrediction:
    """One checkpoint's predicted accuracy, with its interval and domain verdict.

    Attributes
    ----------
    checkpoint : str
        Where the checkpoint came from (its path, or ``<memory>``).
    accuracy : float
        Predicted test accuracy (0-1).
    interval : (float, float) or None
        Bounds of the interval of the bundle's nominal coverage (None: not calibrated). It
        widens with the distance to the training zoo, and is the whole range ``(0, 1)`` when
        the verdict is ``outside`` for a structural reason (no training network was like it).
    verdict : str
        ``in_domain``, ``edge`` or ``outside`` (:mod:`perfpredict.predictor.domain`);
        ``unknown`` for a bundle fitted without calibration runs.
    reasons : tuple of str
        Why the verdict is not ``in_domain``.
    domain_percentile : float or None
        Share (0-100) of held-out training runs no farther from the training zoo.
    left_out : dict of str to str
        Tensors of the checkpoint that are not in its features, with the reason.
    """

    checkpoint: str
    accuracy: float
    interval: tuple[float, float] | None
    verdict: str
    reasons: tuple[str, ...]
    domain_percentile: float | None
    left_out: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (``predict --json``)."""
        return {"checkpoint": self.checkpoint, "predicted_accuracy": self.accuracy,
                "interval": None if self.interval is None else list(self.interval), "verdict": self.verdict,
                "reasons": list(self.reasons), "domain_percentile": self.domain_percentile,
                "left_out": dict(self.left_out)}


@dataclass
class PredictorBundle:
    """Fitted predictors with the feature schema they expect.

    Attributes
    ----------
    models : dict of str to AccuracyPredictor
        Fitted predictors by name (``xgboost``, ``linear``).
    schema, schema_version : str, int
        Feature schema the predictors were trained on.
    feature_names : list of str
        Their input columns.
    info : dict
        Provenance and held-out metrics, stored in the manifest.
    domain : DomainModel or None
        The training zoo's domain (None when fitted without calibration runs).
    """

    models: dict[str, AccuracyPredictor]
    schema: str
    schema_version: int
    feature_names: list[str]
    info: dict[str, Any] = field(default_factory=dict)
    domain: DomainModel | None = None

    def __repr__(self) -> str:
        return (f"PredictorBundle(models={sorted(self.models)}, schema='{self.schema}' v{self.schema_version}, "
                f"{len(self.feature_names)} features, datasets={self.datasets}, "
                f"domain={'yes' if self.domain is not None else 'no'})")

    @property
    def _schema(self) -> Schema:
        """The schema the bundle's features are computed with (an earlier version where it was fitted on one)."""
        return get_schema(self.schema, self.schema_version)

    def check_features(self, schema: str, schema_version: int) -> None:
        """Raise :class:`SchemaMismatchError` unless features use this bundle's schema."""
        if (schema, schema_version) != (self.schema, self.schema_version):
            raise SchemaMismatchError(
                f"features use schema {schema} v{schema_version}, but the predictor needs "
                f"{self.schema} v{self.schema_version}; re-extract with "
                f"--schema {schema_label(self.schema, self.schema_version)}")

    def predict(self, X: pd.DataFrame, model: str = "xgboost") -> np.ndarray:
        """Predicted accuracies of feature rows ``X`` with predictor ``model``."""
        if model not in self.models:
            raise unknown_name("model in this bundle", model, self.models)
        return self.models[model].predict(X)

    @property
    def datasets(self) -> list[str]:
        """Datasets of the training zoo."""
        return list(self.info.get("datasets", []))

    @property
    def needs_dataset(self) -> bool:
        """Whether predictions need the dataset the checkpoints were trained on."""
        return any(n.startswith(DATASET_PREFIX) for n in self.feature_names)

    def predict_checkpoints(self, checkpoints: Sequence[Any], model: str = "xgboost",
                            dataset: str | None = None, errors: str = "raise") -> np.ndarray:
        """Predicted accuracies of checkpoints (paths or state dicts) trained on ``dataset``.

        ``dataset`` is required when the bundle was trained on several datasets, and must be
        one of them. For intervals and domain verdicts too, use :meth:`assess`.

        Parameters
        ----------
        errors : {"raise", "nan"}
            What to do with checkpoints that cannot be read or cannot be networks of
            ``dataset``: raise one error that lists all of them (nothing is predicted), or
            predict the others and give these NaN (:meth:`read_checkpoints` says why).

        Raises
        ------
        CheckpointError or DomainError
            With ``errors="raise"``, some checkpoints cannot be used (the message lists all).
        """
        if errors not in ("raise", "nan"):
            raise unknown_name("errors policy", errors, ("raise", "nan"))
        read = self._read(checkpoints, dataset, errors == "raise")
        out = np.full(len(read), np.nan)
        usable = [i for i, r in enumerate(read) if isinstance(r, Checkpoint)]
        if usable:
            out[usable] = self.predict(self._inputs([read[i] for i in usable], dataset), model)
        return out

    def read_checkpoints(self, checkpoints: Sequence[Any], dataset: str | None = None
                         ) -> tuple[list[Checkpoint], dict[str, str]]:
        """Read checkpoints and check that each can be a network of ``dataset``, keeping
        those that cannot apart instead of stopping at the first.

        Returns
        -------
        usable : list of Checkpoint
            The checkpoints to pass on to :meth:`assess` or :meth:`predict_checkpoints`.
        failed : dict of str to str
            Each checkpoint that cannot be used (its path, or ``checkpoint #i``) and why.
        """
        read = self._read(checkpoints, dataset, strict=False)
        failed = {_label(c, i): str(r) for i, (c, r) in enumerate(zip(checkpoints, read))
                  if isinstance(r, PerfPredictError)}
        return [r for r in read if isinstance(r, Checkpoint)], failed

    def _read(self, checkpoints: Sequence[Any], dataset: str | None,
              strict: bool) -> list[Checkpoint | PerfPredictError]:
        """Each checkpoint, or why it cannot be used; ``strict``: raise one error naming all those."""
        self.check_dataset(dataset)
        read: list[Checkpoint | PerfPredictError] = []
        for item in checkpoints:
            try:
                ckpt = to_checkpoint(item)
                self.check_structure([ckpt], dataset)
                read.append(ckpt)
            except PerfPredictError as exc:
                read.append(exc)
        failed = {i: r for i, r in enumerate(read) if isinstance(r, PerfPredictError)}
        if strict and failed:
            first = next(iter(failed.values()))
            if len(read) == 1:
                raise first
            listed = "; ".join(_why(checkpoints[i], i, e) for i, e in failed.items())
            raise type(first)(f"{len(failed)} of {len(read)} checkpoints cannot be used ({listed}). Fix or drop "
                              "them, set them apart with read_checkpoints, or predict the others with "
                              "predict_checkpoints(..., errors='nan')") from first
        return read

    def assess(self, checkpoints: Sequence[Any], *, dataset: str | None = None,
               model: str = "xgboost") -> list[CheckpointPrediction]:
        """Predicted accuracy, interval and domain verdict of each checkpoint.

        Parameters
        ----------
        checkpoints : sequence of path, state dict or Checkpoint
            The networks to assess.
        dataset : str, optional
            The dataset they were trained on (see :meth:`predict_checkpoints`).
        model : str
            Which of the bundle's predictors.

        Raises
        ------
        CheckpointError or DomainError
            Some checkpoints cannot be read, or their input layer or head cannot fit the
            dataset (one error names all of them; :meth:`read_checkpoints` sets them apart).

        Examples
        --------
        >>> from perfpredict import load_pretrained
        >>> [r] = load_pretrained().assess(["model.pt"], dataset="mnist")  # doctest: +SKIP
        >>> r.accuracy, r.interval, r.verdict, r.reasons  # doctest: +SKIP
        """
        ckpts: list[Checkpoint] = self._read(checkpoints, dataset, strict=True)  # type: ignore[assignment]
        kinds = [frozenset(checkpoint_structure(c).layer_kinds) for c in ckpts]
        return self._assessments([c.source for c in ckpts], self._inputs(ckpts, dataset), kinds,
                                 [left_out(self._schema, c) for c in ckpts], model)

    def assess_table(self, table: "FeatureTable", model: str = "xgboost") -> list[CheckpointPrediction]:
        """:meth:`assess` of the rows of a feature table, without the checkpoints.

        The table holds the bundle's features (its schema, or one that contains it, such as
        ``transfer`` for an ``agnostic`` bundle, or ``transfer`` v2 for a ``transfer`` v1
        bundle) and, for a predictor of several datasets, each row's ``dataset``. Verdicts use
        the layer kinds the table recorded; the structural check of :meth:`assess` against the
        dataset's image size needs the checkpoints.

        Raises
        ------
        SchemaMismatchError
            The table holds other features than the bundle's.
        """
        if (table.schema, table.schema_version) != (self.schema, self.schema_version):
            table = table.select(schema_label(self.schema, self.schema_version))
        frame = table.frame
        sources = [str(v) for v in frame["path"]] if "path" in frame else [f"row {i}" for i in range(len(frame))]
        return self._assessments(sources, self.table_inputs(table), table_layer_kinds(frame),
                                 [{} for _ in sources], model)

    def _assessments(self, sources: Sequence[str], X: pd.DataFrame, kinds: Sequence[frozenset[str]],
                     left_out: Sequence[dict[str, str]], model: str) -> list[CheckpointPrediction]:
        """Prediction, interval and verdict of each row of inputs ``X``."""
        accuracy = self.predict(X, model)
        bounds = self.intervals(accuracy, model, X)
        if self.domain is None:
            unknown = ("the predictor was fitted without calibration runs",)
            return [CheckpointPrediction(src, float(a), None, "unknown", unknown, None, skipped)
                    for src, a, skipped in zip(sources, accuracy, left_out)]
        found = self.domain.assess(X, kinds)
        out = []
        for i, (src, a, skipped) in enumerate(zip(sources, accuracy, left_out)):
            interval = None if bounds is None else (float(bounds[0][i]), float(bounds[1][i]))
            if interval is not None and found.structural[i]:
                interval = (0.0, 1.0)  # no training network was like it: calibration bounds nothing
            out.append(CheckpointPrediction(src, float(a), interval, str(found.verdicts[i]),
                                            tuple(found.reasons[i]), float(found.percentiles[i]), skipped))
        return out

    def checkpoint_inputs(self, checkpoints: Sequence[Any], dataset: str | None = None) -> pd.DataFrame:
        """The predictors' inputs for checkpoints trained on ``dataset`` (see
        :meth:`predict_checkpoints`): their features and, when needed, the dataset indicators.

        Raises
        ------
        CheckpointError or DomainError
            Some checkpoints cannot be read, or their input layer or head cannot fit the
            dataset (:meth:`check_structure`; one error names all of them).
        """
        return self._inputs(self._read(checkpoints, dataset, strict=True), dataset)  # type: ignore[arg-type]

    def _inputs(self, ckpts: Sequence[Checkpoint], dataset: str | None) -> pd.DataFrame:
        """:meth:`checkpoint_inputs` of checkpoints already read and checked by :meth:`_read`."""
        names = [n for n in self.feature_names if not n.startswith(DATASET_PREFIX)]
        X = pd.DataFrame(feature_matrix(self._schema, ckpts, names), columns=names)
        if self.needs_dataset:
            X = add_dataset_indicators(X, [dataset] * len(X), self.datasets)
        return X

    def check_structure(self, checkpoints: Sequence[Checkpoint], dataset: str | None = None) -> None:
        """Refuse checkpoints whose first layer or head cannot fit ``dataset`` (default: the
        bundle's one dataset; not checked for datasets of unknown shape).

        Raises
        ------
        DomainError
            Says what the weights take and what the dataset has.
        """
        name = dataset if dataset is not None else (self.datasets[0] if len(self.datasets) == 1 else None)
        if name not in DATASET_SHAPES:
            return
        shape, classes = DATASET_SHAPES[name]
        for ckpt in checkpoints:
            problems = structure_problems(checkpoint_structure(ckpt), name, shape, classes)
            if problems:
                raise DomainError(f"{ckpt.source} cannot be a network of {name}: {'; '.join(problems)}. "
                                  "Pass the dataset it was trained on (--dataset), or a predictor fitted "
                                  "on such networks")

    def table_inputs(self, table: "FeatureTable") -> pd.DataFrame:
        """The predictors' inputs for the rows of a feature table: its features, and the
        ``dataset=NAME`` indicators from its ``dataset`` column when the bundle needs them.

        Raises
        ------
        SchemaMismatchError
            The table was extracted with another schema or version, or lacks columns.
        PerfPredictError
            Its ``dataset`` column names a dataset the bundle was not trained on, or the bundle
            needs that column and the table has none.
        """
        self.check_features(table.schema, table.schema_version)
        X = table.X.reset_index(drop=True)
        if "dataset" in table.frame:
            for name in table.frame["dataset"].unique():
                self.check_dataset(name)
        if self.needs_dataset:
            if "dataset" not in table.frame:
                raise PerfPredictError("this predictor needs each checkpoint's dataset; the table has no "
                                       "dataset column")
            X = add_dataset_indicators(X, table.frame["dataset"], self.datasets)
        return X

    def predict_table(self, table: "FeatureTable", model: str = "xgboost") -> np.ndarray:
        """Predicted accuracies of the rows of a feature table (see :meth:`table_inputs`)."""
        return self.predict(self.table_inputs(table), model)

    def check_dataset(self, dataset: str | None) -> None:
        """Raise :class:`PerfPredictError` unless ``dataset`` is one the bundle can predict
        (required when it was trained on several)."""
        known = ", ".join(self.datasets)
        if dataset is None and self.needs_dataset:
            raise PerfPredictError(f"this predictor was trained on several datasets ({known}); say which "
                                   "one the checkpoints were trained on (--dataset NAME)")
        if dataset is not None and self.datasets and dataset not in self.datasets:
            raise PerfPredictError(f"this predictor was trained on {known} only, not {dataset!r}; "
                                   "fit one on a zoo of that dataset (perfpredict fit)")

    def halfwidths(self, model: str = "xgboost", X: pd.DataFrame | None = None) -> np.ndarray | float | None:
        """Interval half-width of ``model``: per row of inputs ``X`` (from :meth:`table_inputs`
        or :meth:`checkpoint_inputs`), each row's stratum's (its dataset and kind of
        architecture; :func:`perfpredict.predictor.intervals.interval_strata`) where the bundle has one,
        times the row's difficulty (its distance to the training zoo;
        :class:`perfpredict.predictor.intervals.Calibration`); without ``X`` the overall one, for
        a typical checkpoint. None if not calibrated."""
        from .intervals import Calibration

        info = self.info.get("intervals", {})
        overall = info.get("halfwidth", {}).get(model)
        if overall is None or X is None:
            return overall
        by_stratum = info.get("halfwidth_by_stratum", {}).get(model, {})
        return Calibration(overall, by_stratum, self.domain).halfwidths(X)

    def intervals(self, predictions: np.ndarray, model: str = "xgboost",
                  X: pd.DataFrame | None = None) -> tuple[np.ndarray, np.ndarray] | None:
        """Conformal intervals around ``predictions`` of ``model`` for inputs ``X`` (see
        :meth:`halfwidths`), or None if not calibrated.

        Raises
        ------
        PerfPredictError
            ``X`` is missing, but the bundle's intervals depend on each checkpoint (its
            stratum, its distance to the training zoo).
        """
        from .intervals import intervals

        per_row = self.domain is not None or self.info.get("intervals", {}).get("halfwidth_by_stratum", {}).get(model)
        if X is None and per_row:
            raise PerfPredictError("this predictor's intervals depend on each checkpoint's dataset, kind of "
                                   "architecture and distance to the training zoo: pass the inputs the "
                                   "predictions were made from, intervals(predictions, X=X) with "
                                   "X = bundle.checkpoint_inputs(...) (or use bundle.assess)")
        halfwidth = self.halfwidths(model, X)
        return None if halfwidth is None else intervals(np.asarray(predictions), halfwidth)

    @property
    def coverage(self) -> float | None:
        """Nominal coverage of :meth:`intervals`."""
        return self.info.get("intervals", {}).get("coverage")


def _label(item: Any, position: int) -> str:
    """How a checkpoint is named in messages: its path, or its position."""
    if isinstance(item, Checkpoint):
        return item.source
    return f"checkpoint #{position}" if isinstance(item, Mapping) else str(item)


def _why(item: Any, position: int, error: Exception) -> str:
    """The error of one checkpoint in a list, named unless the message names it."""
    label, message = _label(item, position), str(error)
    return message if label in message else f"{label}: {message}"
