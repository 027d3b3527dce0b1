"""``WeightStatistics``: a scikit-learn transformer from checkpoints to feature vectors."""

from __future__ import annotations

import os
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ..checkpoints import Checkpoint, as_checkpoint, load_checkpoint
from .batching import feature_matrix, feature_names
from .schema import DEFAULT_SCHEMA, get_schema

__all__ = ["WeightStatistics", "to_checkpoint"]

CheckpointLike = str | os.PathLike[str] | Mapping[str, Any] | Checkpoint


def to_checkpoint(item: CheckpointLike) -> Checkpoint:
    """A path, a state dict (torch tensors or numpy arrays) or a Checkpoint, as a Checkpoint."""
    if isinstance(item, Checkpoint):
        return item
    if isinstance(item, Mapping):
        return as_checkpoint(item)
    return load_checkpoint(item)


class WeightStatistics(TransformerMixin, BaseEstimator):
    """Turn checkpoints into weight-statistic feature vectors.

    Parameters
    ----------
    schema : {"transfer", "agnostic", "learned", "alignment", "per_layer", "statnn", "spectral"}, default="transfer"
        Feature schema (:mod:`perfpredict.features.schema`), its current version, or an earlier
        one kept as ``NAME@VERSION`` (``transfer@1``). ``transfer``, ``agnostic``, ``learned``
        and ``alignment`` have the same features for every architecture;
        ``per_layer`` and ``statnn`` learn the tensor names in :meth:`fit`.

    Attributes
    ----------
    feature_names_out_ : ndarray of str
        Names of the output features.
    schema_version_ : int
        Version of the schema used.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from xgboost import XGBRegressor
    >>> model = make_pipeline(WeightStatistics(), XGBRegressor())  # doctest: +SKIP
    >>> model.fit(checkpoint_paths, accuracies)  # doctest: +SKIP
    """

    def __init__(self, schema: str = DEFAULT_SCHEMA) -> None:
        self.schema = schema

    def fit(self, X: Sequence[CheckpointLike], y: Any = None) -> "WeightStatistics":
        """Learn the feature names (from ``X`` for per-tensor schemas)."""
        schema = get_schema(self.schema)
        ckpts = [] if schema.fixed_names is not None else [to_checkpoint(x) for x in X]
        self.feature_names_out_ = np.asarray(feature_names(schema, ckpts), dtype=object)
        self.schema_version_ = schema.version
        return self

    def transform(self, X: Iterable[CheckpointLike]) -> np.ndarray:
        """Feature matrix of shape ``(n_checkpoints, n_features)``; missing values are NaN."""
        check_is_fitted(self, "feature_names_out_")
        ckpts = [to_checkpoint(x) for x in X]
        return feature_matrix(get_schema(self.schema), ckpts, list(self.feature_names_out_))

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Names of the output features."""
        check_is_fitted(self, "feature_names_out_")
        return self.feature_names_out_.copy()
