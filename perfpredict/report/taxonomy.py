"""What a feature name measures: its statistic, the statistic's family and the layer role.

Names follow the schemas of :mod:`perfpredict.features.schema`: ``{group}.{stat}[.{agg}]`` and
``global.{stat}`` / ``network.{stat}`` (``agnostic``), ``{tensor}.{stat}`` (``per_layer``,
``statnn``), and ``dataset=NAME`` indicator inputs of several-dataset predictors.
"""

from __future__ import annotations

from typing import NamedTuple

from ..features.network import NODE_STATS
from ..features.schema import LAYER_GROUPS, TENSOR_GROUPS
from ..features.spectral import SPECTRAL_STATS
from ..predictor.models import DATASET_PREFIX

__all__ = ["FAMILIES", "FeatureKind", "describe_feature"]

_FAMILY_OF = {
    "location": ("mean", "q50"),
    "spread": ("std", "var"),
    "shape": ("skew", "kurtosis", "entropy", "frac_near_zero"),
    "quantiles": ("q0", "q1", "q5", "q25", "q75", "q95", "q99", "q100"),
    "norms": ("mean_abs", "max_abs", "l1", "l2", "sum_log_norm"),
    "spectral": (*SPECTRAL_STATS, "log_prod_spectral_norm", "alpha_coverage"),
    "node strength": NODE_STATS,
    "architecture": ("log10_params", "n_layers", "n_conv", "n_linear", "n_attention", "n_embedding",
                     "n_norm", "n_bias"),
}
FAMILIES = (*_FAMILY_OF, "dataset")
"""Statistic families, in display order (``dataset``: the dataset indicator inputs)."""
_STAT_FAMILY = {stat: family for family, stats in _FAMILY_OF.items() for stat in stats}
_GROUPS = (*LAYER_GROUPS, *TENSOR_GROUPS, "global", "network")


class FeatureKind(NamedTuple):
    """``statistic`` (e.g. ``alpha``), its ``family`` (e.g. ``spectral``) and the ``role`` of
    the layers it summarizes (an ``agnostic`` group such as ``head``, ``global``, ``network``,
    or the tensor name of a per-tensor schema)."""

    statistic: str
    family: str
    role: str


def describe_feature(name: str) -> FeatureKind:
    """The :class:`FeatureKind` of a feature name (family ``other`` when not recognised)."""
    if name.startswith(DATASET_PREFIX):
        return FeatureKind(name, "dataset", "dataset")
    parts = name.split(".")
    if len(parts) >= 2 and parts[0] in _GROUPS and parts[1] in _STAT_FAMILY:
        stat, role = parts[1], parts[0]
    else:
        stat, role = parts[-1], ".".join(parts[:-1]) or name
        if role.endswith((".q", ".k", ".v")):  # a block of a fused attention projection
            role = role[:-2]
    return FeatureKind(stat, _STAT_FAMILY.get(stat, "other"), role)
