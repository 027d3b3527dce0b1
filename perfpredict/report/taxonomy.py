"""What a feature name measures: its statistic, the statistic's family and the layer role.

Names follow the schemas of :mod:`perfpredict.features.schema`: ``{group}.{stat}[.{agg}]`` and
``global.{stat}`` / ``network.{stat}`` (``agnostic``), ``{tensor}.{stat}`` (``per_layer``,
``statnn``), ``learned.{stat}`` (``learned``), ``alignment.{stat}`` (``alignment``), and
``dataset=NAME`` indicator inputs of several-dataset predictors.
"""

from __future__ import annotations

from typing import NamedTuple

from ..features.network import NODE_STATS
from ..features.schema import LAYER_GROUPS, TENSOR_GROUPS
from ..features.spectral import SPECTRAL_STATS
from ..predictor.models import DATASET_PREFIX

__all__ = ["FAMILIES", "FeatureKind", "describe_feature", "explain_feature"]

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
FAMILIES = (*_FAMILY_OF, "learned structure", "dataset")
"""Statistic families, in display order (``learned structure``: the ``learned`` and
``alignment`` schemas; ``dataset``: the dataset indicator inputs)."""
_LEARNED_TEXT = {
    "head_norm_cv": ("head", "coefficient of variation of the centred class vectors' norms"),
    "head_cos_gap": ("head", "mean pairwise cosine of the centred class vectors minus the simplex value -1/(C-1)"),
    "head_cos_std": ("head", "spread of the pairwise cosines of the centred class vectors"),
    "head_common": ("head", "norm of the class vectors' common component over their mean centred norm"),
    "head_bias_spread": ("head", "standard deviation of the bias over the mean centred class-vector norm"),
    "first_smoothness": ("first", "mean |difference| of adjacent pixels of the filters over that of all pixel "
                                  "pairs (1: noise)"),
    "first_smoothness_std": ("first", "spread of that smoothness over the filters"),
    "scale.mean": ("all", "RMS weight x sqrt(fan-in) (scale against initialization), averaged over layers"),
    "scale.min": ("all", "RMS weight x sqrt(fan-in), smallest over layers"),
    "scale.max": ("all", "RMS weight x sqrt(fan-in), largest over layers"),
    "scale_first": ("first", "RMS weight x sqrt(fan-in)"),
    "scale_head": ("head", "RMS weight x sqrt(fan-in)"),
    "scale_head_body": ("all", "the head's RMS weight x sqrt(fan-in) over the mean of the other layers'"),
}
"""Role and meaning of each ``learned`` statistic (computed on BatchNorm-folded weights)."""
_GRAM = "cosine of a layer's output Gram matrix and the next layer's input Gram matrix (anisotropic parts)"
_BALANCE = "correlation over units of a layer's incoming and the next layer's outgoing squared norms"
_ALIGNMENT_TEXT = {
    "gram.mean": ("pairs", f"mean {_GRAM}"), "gram.min": ("pairs", f"smallest {_GRAM}"), "gram_head": ("head", _GRAM),
    "balance.mean": ("pairs", f"mean {_BALANCE}"), "balance.min": ("pairs", f"smallest {_BALANCE}"),
    "balance_head": ("head", _BALANCE),
}
"""Role and meaning of each ``alignment`` statistic (``head``: the pair that ends at the head)."""
_SCALE_FREE = {"learned.": _LEARNED_TEXT, "alignment.": _ALIGNMENT_TEXT}
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
    for prefix, texts in _SCALE_FREE.items():
        stat = name.removeprefix(prefix)
        if stat != name and stat in texts:
            return FeatureKind(stat, "learned structure", texts[stat][0])
    parts = name.split(".")
    if len(parts) >= 2 and parts[0] in _GROUPS and parts[1] in _STAT_FAMILY:
        stat, role = parts[1], parts[0]
    else:
        stat, role = parts[-1], ".".join(parts[:-1]) or name
        if role.endswith((".q", ".k", ".v")):  # a block of a fused attention projection
            role = role[:-2]
    return FeatureKind(stat, _STAT_FAMILY.get(stat, "other"), role)


_STAT_TEXT = {
    "mean": "mean weight", "std": "standard deviation of the weights", "var": "variance of the weights",
    "skew": "skewness of the weights", "kurtosis": "excess kurtosis of the weights",
    "mean_abs": "mean |w|", "max_abs": "largest |w|", "l1": "L1 norm", "l2": "L2 norm",
    "frac_near_zero": "share of weights with |w| < 0.001",
    "entropy": "entropy of the weights' 32-bin histogram (nats)",
    "spectral_norm": "largest singular value", "log_spectral_norm": "log10 of the largest eigenvalue of WᵀW",
    "log_norm": "log10 of the squared Frobenius norm", "stable_rank": "stable rank (Σλ / λmax)",
    "effective_rank": "effective rank (exp of the entropy of the normalized singular values)",
    "log_condition": "log10 condition number (smax / smin)",
    "alpha": "power-law exponent of the eigenvalue tail (WeightWatcher's alpha)",
    "alpha_ks": "Kolmogorov-Smirnov distance of the power-law fit", "alpha_weighted": "alpha x log10 λmax",
    "log_alpha_norm": "log10 Σ λ^alpha", "alpha_ok": "whether a power law could be fitted (1) or not (0)",
    "frac_dead": "share of units whose incoming |w| are all < 0.001",
    "sum_log_norm": "sum over layers of log10 squared Frobenius norms",
    "log_prod_spectral_norm": "log10 of the product of the layers' spectral norms",
    "alpha_coverage": "share of layer matrices with a power-law fit", "log10_params": "log10 of the parameter count",
    "n_layers": "number of layer weights",
}
_STAT_TEXT.update({f"q{p}": f"{p}th percentile of the weights" for p in (0, 1, 5, 25, 50, 75, 95, 99, 100)})
_STAT_TEXT.update({"q0": "smallest weight", "q100": "largest weight", "q50": "median weight"})
_STAT_TEXT.update({f"n_{k}": f"number of {k} tensors" for k in ("conv", "linear", "attention", "embedding", "norm",
                                                                 "bias")})
for _d, _what in (("in", "incoming |w| summed per unit (in-strength)"), ("out", "outgoing |w| summed per input unit")):
    for _s, _name in (("mean", "mean"), ("std", "standard deviation"), ("skew", "skewness"), ("gini", "Gini index")):
        _STAT_TEXT[f"node_{_d}_{_s}"] = f"{_name} of the {_what}"
_ROLE_TEXT = {"all": "every layer weight", "first": "the first layer", "hidden": "the hidden layers",
              "head": "the classifier (last layer)", "conv": "the convolution kernels", "linear": "the dense layers",
              "attention": "the attention projections", "embedding": "the embeddings",
              "norm": "the normalization scales", "bias": "the bias vectors", "global": "all layer weights pooled",
              "network": "the whole network", "pairs": "every pair of consecutive layers"}
_AGG_TEXT = {"mean": "averaged over", "min": "smallest over", "max": "largest over"}


def explain_feature(name: str) -> str:
    """What a feature name means, in words: ``bias.frac_near_zero.max`` is "share of weights
    with |w| < 0.001, largest over the bias vectors"."""
    kind = describe_feature(name)
    if kind.family == "dataset":
        return f"1 if the checkpoint was trained on {name[len(DATASET_PREFIX):]}, else 0"
    if kind.family == "learned structure":
        texts = _SCALE_FREE[name[: -len(kind.statistic)]]
        return f"{texts[kind.statistic][1]}, of {_ROLE_TEXT[kind.role]} (BatchNorm folded)"
    stat = _STAT_TEXT.get(kind.statistic, kind.statistic.replace("_", " "))
    parts = name.split(".")
    role = _ROLE_TEXT.get(kind.role, f"tensor {kind.role}")
    if len(parts) == 3 and parts[2] in _AGG_TEXT and parts[0] in _ROLE_TEXT:
        return f"{stat}, {_AGG_TEXT[parts[2]]} {role}"
    if kind.role == "network":
        return stat
    return f"{stat} of {role}"
