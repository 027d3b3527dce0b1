"""Domain of applicability: is a checkpoint like the networks the predictor was trained on?

Two checks, each from the weights alone:

- **structural** (:func:`perfpredict.features.structure.structure_problems`, applied by the
  bundle): a network whose input layer or head cannot fit the dataset is refused; layer kinds
  (BatchNorm, residual shortcuts, attention, pruned layers, ...) and kinds of architecture (attention,
  convolution, dense) that no training network had, a kind of architecture that the training
  zoo has only on other datasets (its errors there say nothing of this dataset: MNIST CNNs do
  not calibrate CIFAR-10 CNNs), and layer counts or parameter counts
  (beyond a factor 2) outside the range of the training networks of its kind on its dataset,
  are reported and make the verdict ``outside``.
- **statistical** (:class:`DomainModel`): the features are standardized robustly (median and
  interquartile range of the training rows, clipped at ±``clip``) and projected on their
  ``n_components`` principal components. A checkpoint's *distance* to the training zoo is the
  larger of (a) its residual off that subspace and (b) its mean distance to the
  ``n_neighbors`` nearest training rows inside it (whitened) that were trained on its dataset
  (on any dataset when the inputs carry none), each divided by its median over
  held-out calibration runs, so that a typical held-out run is at distance about 1. The
  distance is reported as a percentile of the calibration runs' distances.

Why this score: on the reference zoos, with one family left out of training, the residual
alone separates the unseen family from held-out runs of the seen ones with ROC AUC 0.945-0.994
(64 components), nearest-neighbour distances alone with 0.691-0.921, and their maximum with
0.938-0.994; on a random run split all three are near 0.5, as they should be
(``benchmarks/domain_quality.py``; ``benchmarks/RESULTS.md``). The maximum costs at most 0.013
of AUC against the residual alone, and also flags networks that lie in the training zoo's
principal subspace but far from every training run, which the residual alone takes for
typical ones.

Verdicts: ``outside`` for any structural reason, or a distance above the 99th percentile of
the calibration runs; ``edge`` above the 95th; ``in_domain`` otherwise.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import reduce
from typing import Any, Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from ..features.structure import SPARSE_SHARE, architecture_kinds
from .models import DATASET_PREFIX, row_datasets

__all__ = ["VERDICTS", "EDGE_PERCENTILE", "OUTSIDE_PERCENTILE", "DomainModel", "DomainAssessment",
           "interval_strata"]

VERDICTS = ("in_domain", "edge", "outside")
EDGE_PERCENTILE = 95.0
OUTSIDE_PERCENTILE = 99.0
_RANGE = (0.5, 99.5)
"""Percentiles of the training rows that bound a feature's range, for the reasons."""
_CHUNK = 1024
_ARRAYS = ("center_", "scale_", "low_", "high_", "mean_", "components_", "coord_scale_", "reference_",
           "calibration_distances_")
_SCALARS = ("residual_norm_", "knn_norm_")
_ARCHITECTURE_WORDS = {"attention": "attention layers", "conv": "convolutions without attention",
                       "dense": "dense layers only"}
_KIND_WORDS = {"sparse": f"sparse (a layer with {SPARSE_SHARE:.0%} or more of its weights exactly zero, as pruning "
                         "leaves it)"}
_SIZES = {"network.n_layers": "layer weights", "network.n_conv": "convolutions", "network.n_linear": "dense layers",
          "network.n_attention": "attention projections", "network.n_embedding": "embeddings",
          "network.n_norm": "normalization scales", "network.log10_params": "parameters"}
"""Size and layer counts that a kind of architecture must keep within its training range."""
_PARAMS_SLACK = 0.3
"""log10 of the factor by which a parameter count may pass its training range (2x)."""


@dataclass(frozen=True)
class DomainAssessment:
    """What :meth:`DomainModel.assess` says of each row.

    Attributes
    ----------
    verdicts : ndarray of str
        ``in_domain``, ``edge`` or ``outside`` (:data:`VERDICTS`).
    percentiles : ndarray
        :meth:`DomainModel.percentile` of each row's distance.
    reasons : list of list of str
        Why each row is not ``in_domain``: unseen layer or architecture kinds (or kinds seen
        on other datasets only), layer or parameter counts out of range, its distance percentile, and the feature groups most out
        of the training range.
    structural : ndarray of bool
        Whether a row is ``outside`` for a structural reason (the training zoo had no network
        like it, so calibration says nothing about its errors).
    """

    verdicts: np.ndarray
    percentiles: np.ndarray
    reasons: list[list[str]]
    structural: np.ndarray


class DomainModel(BaseEstimator):
    """Distance of feature rows to a predictor's training zoo, and a verdict per row.

    Parameters
    ----------
    n_components : int, default=64
        Principal components of the robustly standardized features (at most the number of
        training rows and features).
    n_neighbors : int, default=5
        Nearest training rows averaged in the subspace distance.
    max_reference : int, default=2000
        Training rows kept (at random) as neighbours; bounds the saved size.
    clip : float, default=10
        Standardized values are clipped to ``[-clip, clip]``.
    random_state : int, default=0
        Seed of the choice of reference rows.
    within_dataset : bool, default=True
        Whether a row's nearest neighbours are taken among the reference rows of its dataset
        only (when the inputs have dataset indicators): a CIFAR-10 network close to MNIST
        networks is not close to the training zoo for CIFAR-10.

    Attributes
    ----------
    columns_ : list of str
        Feature columns used (dataset indicators and columns never finite in training left out).
    center_, scale_ : ndarray
        Median and robust scale of each column.
    low_, high_ : ndarray
        0.5th and 99.5th percentiles of each column over the training rows.
    mean_, components_, coord_scale_ : ndarray
        The principal subspace and the spread of the training rows along each component.
    reference_ : ndarray of shape (n_reference, n_components)
        Whitened coordinates of the reference training rows.
    reference_datasets_ : ndarray of object
        Dataset of each reference row (None without dataset indicators, or in older bundles).
    residual_norm_, knn_norm_ : float
        Medians of the two distances over the calibration rows.
    calibration_distances_ : ndarray
        Sorted distances of the calibration rows (held-out training runs).
    layer_kinds_ : list of str
        Layer kinds of the training networks.
    architectures_ : list of str
        Kinds of architecture of the training networks.
    kind_datasets_ : dict of str to list of str
        Per kind of architecture, the datasets its training networks were trained on (empty
        when the inputs have no dataset indicators).
    size_ranges_ : dict
        Per stratum (:func:`interval_strata`: ``"cifar10/conv"``, or the kind alone when the
        inputs have no dataset indicators), the training range ``[min, max]`` of its layer counts and
        ``log10`` parameter count (``network.*`` columns).
    """

    def __init__(self, *, n_components: int = 64, n_neighbors: int = 5, max_reference: int = 2000,
                 clip: float = 10.0, random_state: int = 0, within_dataset: bool = True) -> None:
        self.n_components = n_components
        self.n_neighbors = n_neighbors
        self.max_reference = max_reference
        self.clip = clip
        self.random_state = random_state
        self.within_dataset = within_dataset

    def fit(self, X: pd.DataFrame, *, calibration: pd.DataFrame,
            layer_kinds: Sequence[frozenset[str]] = ()) -> "DomainModel":
        """Learn the training zoo's region from rows ``X`` and calibrate the distance on
        ``calibration`` rows of held-out training runs.

        ``layer_kinds`` are the training rows' layer kinds
        (:func:`perfpredict.features.structure.table_layer_kinds`).
        """
        columns = [c for c in X.columns if not str(c).startswith(DATASET_PREFIX)]
        values = X[columns].to_numpy(dtype=np.float64)
        finite = np.isfinite(values).any(axis=0)
        self.columns_ = [c for c, ok in zip(columns, finite) if ok]
        self._fit_scales(values[:, finite])
        self._fit_subspace(self._standardize(values[:, finite]), row_datasets(X))
        residual, knn = self._parts(calibration)
        self.residual_norm_ = float(max(np.median(residual), 1e-12))
        self.knn_norm_ = float(max(np.median(knn), 1e-12))
        self.calibration_distances_ = np.sort(self.distance(calibration))
        self.layer_kinds_ = sorted(set().union(*layer_kinds)) if len(layer_kinds) else []
        self.architectures_ = sorted(k for k in set(architecture_kinds(X)) if k is not None)
        self.kind_datasets_ = _kind_datasets(X)
        self.size_ranges_ = _size_ranges(X)
        return self

    def _fit_scales(self, values: np.ndarray) -> None:
        """Median, robust scale (IQR / 1.349, else the standard deviation, else 1) and the
        0.5-99.5 percentile range of each column."""
        self.center_ = np.nanmedian(values, axis=0)
        q25, q75 = np.nanpercentile(values, [25, 75], axis=0)
        std = np.nanstd(values, axis=0)
        self.scale_ = np.where(q75 - q25 > 1e-12, (q75 - q25) / 1.349, np.where(std > 1e-12, std, 1.0))
        self.low_, self.high_ = np.nanpercentile(values, _RANGE, axis=0)

    def _fit_subspace(self, z: np.ndarray, datasets: np.ndarray) -> None:
        """Principal components of the standardized rows ``z``, and the reference rows (with
        their ``datasets``)."""
        self.mean_ = z.mean(axis=0)
        _, _, vt = np.linalg.svd(z - self.mean_, full_matrices=False)
        self.components_ = vt[: min(self.n_components, *z.shape)]
        coords = (z - self.mean_) @ self.components_.T
        self.coord_scale_ = np.maximum(coords.std(axis=0), 1e-9)
        rng = np.random.default_rng(self.random_state)
        keep = rng.choice(len(coords), min(self.max_reference, len(coords)), replace=False)
        self.reference_ = coords[np.sort(keep)] / self.coord_scale_
        self.reference_datasets_ = datasets[np.sort(keep)]

    def _standardize(self, values: np.ndarray) -> np.ndarray:
        z = (values - self.center_) / self.scale_
        return np.clip(np.nan_to_num(z, nan=0.0), -self.clip, self.clip)

    def _parts(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Residual off the subspace and mean whitened distance to the nearest reference rows."""
        z = self._standardize(X[self.columns_].to_numpy(dtype=np.float64)) - self.mean_
        coords = z @ self.components_.T
        residual = np.linalg.norm(z - coords @ self.components_, axis=1)
        white = coords / self.coord_scale_
        knn = np.empty(len(z))
        for rows, reference in self._neighbour_groups(row_datasets(X)):
            knn[rows] = _mean_knn_distance(white[rows], reference, self.n_neighbors)
        return residual, knn

    def _neighbour_groups(self, datasets: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """(row indices, their candidate neighbours): per dataset when :attr:`within_dataset`
        and the reference rows have it, else all rows against all reference rows."""
        known = set(self.reference_datasets_) - {None}
        if not (self.within_dataset and known):
            return [(np.arange(len(datasets)), self.reference_)]
        keys = np.array([d if d in known else None for d in datasets], dtype=object)
        return [(np.flatnonzero(keys == d),
                 self.reference_ if d is None else self.reference_[self.reference_datasets_ == d])
                for d in dict.fromkeys(keys)]

    def distance_parts(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """The two parts of :meth:`distance`: the residual off the principal subspace and the
        nearest-neighbour distance inside it, each relative to its median over the calibration
        rows."""
        check_is_fitted(self, "reference_")
        residual, knn = self._parts(X)
        return residual / self.residual_norm_, knn / self.knn_norm_

    def distance(self, X: pd.DataFrame) -> np.ndarray:
        """Distance of each row to the training zoo (about 1 for a typical held-out training run)."""
        return np.maximum(*self.distance_parts(X))

    def quantile(self, q: float) -> float:
        """The ``q`` quantile (0-1) of the calibration runs' distances."""
        return float(np.quantile(self.calibration_distances_, q))

    def percentile(self, distances: np.ndarray) -> np.ndarray:
        """Percentage of calibration runs at most as far as each distance (0-100)."""
        ranks = np.searchsorted(self.calibration_distances_, distances, side="right")
        return 100.0 * ranks / len(self.calibration_distances_)

    def assess(self, X: pd.DataFrame, layer_kinds: Sequence[frozenset[str]] | None = None) -> DomainAssessment:
        """Verdict, distance percentile and reasons of each row.

        Parameters
        ----------
        X : pandas.DataFrame
            Predictor inputs.
        layer_kinds : sequence of frozenset of str, optional
            Each row's layer kinds; unseen ones make the verdict ``outside``.
        """
        pct = self.percentile(self.distance(X))
        kinds = layer_kinds if layer_kinds is not None else [frozenset()] * len(X)
        arch, datasets = architecture_kinds(X), row_datasets(X)
        strata = _strata(datasets, arch)
        verdicts = np.where(pct > OUTSIDE_PERCENTILE, "outside", np.where(pct > EDGE_PERCENTILE, "edge", "in_domain"))
        verdicts = verdicts.astype(object)
        structural = np.zeros(len(X), dtype=bool)
        reasons: list[list[str]] = []
        for i in range(len(X)):
            why = self._structural_reasons(kinds[i], arch[i], datasets[i], strata[i], X.iloc[i])
            if why:
                verdicts[i], structural[i] = "outside", True
            if verdicts[i] != "in_domain":
                why.append(f"farther from the training zoo than {min(pct[i], 100.0):.1f}% of held-out training runs")
                why += self._range_reasons(X.iloc[[i]])
            reasons.append(why)
        return DomainAssessment(verdicts, pct, reasons, structural)

    def _structural_reasons(self, kinds: frozenset[str], architecture: str | None, dataset: str | None,
                            stratum: str, row: pd.Series) -> list[str]:
        out = []
        unseen = sorted(set(kinds) - set(self.layer_kinds_))
        if unseen and self.layer_kinds_:
            out.append(f"layer kinds the training zoo never had: {', '.join(_KIND_WORDS.get(k, k) for k in unseen)}")
        if architecture is not None and self.architectures_ and architecture not in self.architectures_:
            out.append(f"no network of its kind ({_ARCHITECTURE_WORDS[architecture]}) in the training zoo")
        elif dataset is not None and dataset not in self.kind_datasets_.get(architecture, [dataset]):
            out.append(f"no network of its kind ({_ARCHITECTURE_WORDS[architecture]}) trained on {dataset} in "
                       f"the training zoo, only on {', '.join(self.kind_datasets_[architecture])}")
        ranges = self.size_ranges_.get(stratum, self.size_ranges_.get(architecture, {}))  # kind alone: older bundles
        where = "" if dataset is None else f" on {dataset}"
        for column, (low, high) in ranges.items():
            slack = _PARAMS_SLACK if column == "network.log10_params" else 0.0
            value = row.get(column)
            if value is not None and np.isfinite(value) and not low - slack <= value <= high + slack:
                span = _number(column, low) if low == high else f"{_number(column, low)} to {_number(column, high)}"
                out.append(f"{_number(column, value)} {_SIZES[column]}; the training zoo's networks of its "
                           f"kind{where} have {span}")
        return out

    def _range_reasons(self, row: pd.DataFrame, top: int = 3) -> list[str]:
        """The feature groups (layer role and statistic family) with the most values outside
        the training rows' 0.5-99.5 percentile range."""
        from ..report.taxonomy import describe_feature

        values = row[self.columns_].to_numpy(dtype=np.float64)[0]
        out = (values < self.low_) | (values > self.high_)
        groups: Counter[str] = Counter()
        for name in np.asarray(self.columns_, dtype=object)[out]:
            kind = describe_feature(str(name))
            groups[f"{kind.role} {kind.family}"] += 1
        if not groups:
            return []
        listed = ", ".join(f"{g} ({n})" for g, n in groups.most_common(top))
        return [f"features out of the training range: {listed}"]

    def to_saved(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Arrays (for a safetensors file) and JSON-able settings that :meth:`from_saved` restores."""
        check_is_fitted(self, "reference_")
        arrays = {name: np.ascontiguousarray(getattr(self, name), dtype=np.float64) for name in _ARRAYS}
        info = {"params": self.get_params(), "columns": list(self.columns_),
                "layer_kinds": list(self.layer_kinds_), "architectures": list(self.architectures_),
                "size_ranges": self.size_ranges_, "kind_datasets": self.kind_datasets_,
                "reference_datasets": list(self.reference_datasets_),
                **{name: float(getattr(self, name)) for name in _SCALARS}}
        return arrays, info

    @classmethod
    def from_saved(cls, arrays: dict[str, np.ndarray], info: dict[str, Any]) -> "DomainModel":
        """The model that :meth:`to_saved` described."""
        model = cls(**info["params"])
        for name in _ARRAYS:
            setattr(model, name, np.asarray(arrays[name], dtype=np.float64))
        for name in _SCALARS:
            setattr(model, name, float(info[name]))
        model.columns_ = list(info["columns"])
        model.layer_kinds_ = list(info["layer_kinds"])
        model.architectures_ = list(info["architectures"])
        model.size_ranges_ = {k: {c: tuple(r) for c, r in v.items()} for k, v in info["size_ranges"].items()}
        model.kind_datasets_ = {k: list(v) for k, v in info.get("kind_datasets", {}).items()}  # absent in older bundles
        names = info.get("reference_datasets", [None] * len(model.reference_))  # absent in older bundles
        model.reference_datasets_ = np.array(names, dtype=object)
        return model


def _mean_knn_distance(points: np.ndarray, reference: np.ndarray, k: int) -> np.ndarray:
    """Mean distance of each point to its ``k`` nearest reference rows (all of them when fewer)."""
    k = min(k, len(reference))
    ref_sq = (reference ** 2).sum(axis=1)
    out = np.empty(len(points))
    for start in range(0, len(points), _CHUNK):  # |a - b|² = |a|² + |b|² - 2a·b: a (chunk x reference) matrix
        part = points[start:start + _CHUNK]
        d2 = np.maximum((part ** 2).sum(axis=1)[:, None] + ref_sq[None] - 2 * part @ reference.T, 0.0)
        out[start:start + _CHUNK] = np.sqrt(np.partition(d2, k - 1, axis=1)[:, :k]).mean(axis=1)
    return out


def interval_strata(X: pd.DataFrame) -> np.ndarray:
    """Stratum of each row of predictor inputs: ``dataset/kind``, where the dataset comes from
    the ``dataset=NAME`` indicators and the kind (``attention``, ``conv`` or ``dense``) from
    ``network.n_attention`` and ``network.n_conv``; either part is left out when the inputs
    lack its columns (``all`` when both are). Interval half-widths and size ranges are per
    stratum."""
    return _strata(row_datasets(X), architecture_kinds(X))


def _strata(datasets: np.ndarray, kinds: np.ndarray) -> np.ndarray:
    parts = [p for p in (datasets, kinds) if p.size and p[0] is not None]
    if not parts:
        return np.full(len(datasets), "all", dtype=object)
    return reduce(lambda a, b: a + "/" + b, parts)


def _size_ranges(X: pd.DataFrame) -> dict[str, dict[str, tuple[float, float]]]:
    """Per stratum (:func:`interval_strata`), ``(min, max)`` of each size column of its rows;
    none without the kind of architecture."""
    kinds = architecture_kinds(X)
    if not kinds.size or kinds[0] is None:
        return {}
    keys = _strata(row_datasets(X), kinds)
    columns = [c for c in _SIZES if c in X.columns]
    return {str(k): {c: (float(X.loc[keys == k, c].min()), float(X.loc[keys == k, c].max())) for c in columns}
            for k in sorted(set(keys))}


def _kind_datasets(X: pd.DataFrame) -> dict[str, list[str]]:
    """Per kind of architecture, the datasets of its rows (empty without dataset indicators)."""
    pairs = {(k, d) for k, d in zip(architecture_kinds(X), row_datasets(X)) if k is not None and d is not None}
    return {k: sorted(d for kk, d in pairs if kk == k) for k in sorted({k for k, _ in pairs})}


def _number(column: str, value: float) -> str:
    """A count (``3``), or a parameter count from its log10 (``220,000``)."""
    if column == "network.log10_params":
        return f"{float(f'{10 ** value:.2g}'):,.0f}"
    return f"{value:.0f}"
