"""Feature schemas: fixed, named, versioned feature vectors of a checkpoint.

- ``agnostic`` (v2): the same names for every architecture. Per-tensor statistics aggregated
  per role group over the group's tensors: ``{group}.{stat}.{mean|min|max}``, and
  ``{group}.{stat}`` for the single-layer groups ``first`` and ``head``; distribution
  statistics of all layer weights pooled (``global.{stat}``); network-level values
  (``network.*``). Groups of layer weights (``all``, ``first``, ``hidden``, ``head``,
  ``conv``, ``linear``, ``attention``, ``embedding``) carry distribution, spectral and node
  statistics; ``norm`` and ``bias`` distribution statistics only.
- ``per_layer`` (v2): every statistic of every tensor of one fixed architecture,
  ``{tensor}.{stat}`` (``{tensor}.{q|k|v}.{stat}`` for the blocks of a fused attention
  projection), and the ``network.*`` values.
- ``statnn`` (v1): the published StatNN baseline: mean, variance and quantiles
  0/25/50/75/100 of every tensor, ``{tensor}.{stat}``.
- ``learned`` (v1): scale-free signals of learned structure (:mod:`.learned`), ``learned.*``.
- ``alignment`` (v1): whether consecutive layers fit each other (:mod:`.alignment`),
  ``alignment.*``.
- ``transfer`` (v2), the default (:data:`DEFAULT_SCHEMA`): ``agnostic``, ``learned`` and
  ``alignment`` together, same names and values; built to rank networks of architectures the
  training zoo did not have. ``transfer`` v1 (``agnostic`` and ``learned``), the schema of
  the committed reference zoo v2 tables and of the shipped predictor, is kept
  (:data:`EARLIER_SCHEMAS`): ``get_schema("transfer", 1)``, or ``transfer@1`` wherever a
  schema is named.
- ``spectral`` (v1): WeightWatcher-style spectral metrics alone, architecture-agnostic: the
  spectral statistics of every layer matrix aggregated over layers (``all.{stat}.{agg}``) and
  the spectral ``network.*`` values; the same names and values as those columns of
  ``agnostic``.

The statistics are defined in :mod:`.stats`, :mod:`.spectral` and :mod:`.network`; layer roles
in :mod:`.roles`. Missing values (a group the architecture lacks, a power law that could not
be fitted) are NaN.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Mapping

import torch

from ..errors import SchemaMismatchError, unknown_name
from .alignment import ALIGNMENT_STATS, alignment_stats
from .layers import LAYER_STATS, Record, batch_records, spectral_records
from .learned import LEARNED_STATS, effective_layers, learned_stats
from .spectral import SPECTRAL_STATS
from .roles import TensorRole
from .stats import DIST_STATS, distribution_stats, statnn_stats

__all__ = ["Schema", "SCHEMAS", "EARLIER_SCHEMAS", "DEFAULT_SCHEMA", "get_schema", "schema_label", "schema_parts",
           "LAYER_GROUPS", "TENSOR_GROUPS", "NETWORK_STATS"]

LAYER_GROUPS = ("all", "first", "hidden", "head", "conv", "linear", "attention", "embedding")
TENSOR_GROUPS = ("norm", "bias")
_SINGLE = ("first", "head")
_COUNTED = ("conv", "linear", "attention", "embedding", "norm", "bias")
NETWORK_STATS = ("sum_log_norm", "log_prod_spectral_norm", "alpha_coverage", "log10_params",
                 "n_layers", *(f"n_{k}" for k in _COUNTED))

Stats = dict[str, torch.Tensor]
Compute = Callable[[Mapping[str, torch.Tensor], Mapping[str, TensorRole]], Stats]


@dataclass(frozen=True)
class Schema:
    """A feature schema.

    Attributes
    ----------
    name, version : str, int
        Identify the schema; predictors refuse features of another name or version.
    fixed_names : tuple of str or None
        The feature names when they do not depend on the architecture.
    compute : callable
        ``compute(batch, roles) -> {feature name: values}`` for a batch of same-architecture
        checkpoints (tensor name to a tensor of shape ``(n_checkpoints, ...)``).
    uses_buffers : bool
        Whether ``batch`` also holds the checkpoints' BatchNorm running variances (names
        without a role), where every checkpoint of the batch has them.
    parts : tuple of str
        The schemas whose features this one holds side by side, same names and values (each
        one's :meth:`FeatureTable.select` out of a table of this schema); empty for most.
    """

    name: str
    version: int
    fixed_names: tuple[str, ...] | None
    compute: Compute
    uses_buffers: bool = False
    parts: tuple[str, ...] = ()


def _group_stats(group: str) -> tuple[str, ...]:
    return LAYER_STATS if group in LAYER_GROUPS else DIST_STATS


def _group_names(group: str, stats: tuple[str, ...]) -> list[str]:
    aggs = ("",) if group in _SINGLE else (".mean", ".min", ".max")
    return [f"{group}.{s}{a}" for s in stats for a in aggs]


_SPECTRAL_NETWORK = ("sum_log_norm", "log_prod_spectral_norm", "alpha_coverage")


def _agnostic_names() -> tuple[str, ...]:
    names = [n for g in (*LAYER_GROUPS, *TENSOR_GROUPS) for n in _group_names(g, _group_stats(g))]
    names += [f"global.{s}" for s in DIST_STATS]
    names += [f"network.{s}" for s in NETWORK_STATS]
    return tuple(names)


def _spectral_names() -> tuple[str, ...]:
    return (*_group_names("all", SPECTRAL_STATS), *(f"network.{s}" for s in _SPECTRAL_NETWORK))


def _stack(records: list[Record], stat: str) -> torch.Tensor | None:
    values = [r.stats[stat] for r in records if stat in r.stats]
    return torch.stack(values, dim=1) if values else None


def _record_matrix(record: Record, stats: tuple[str, ...], n: int) -> torch.Tensor:
    """A record's ``stats`` as columns of an ``(n, len(stats))`` tensor, NaN where absent."""
    nan = torch.full((n,), float("nan"), dtype=torch.float64)
    return torch.stack([record.stats.get(k, nan) for k in stats], dim=1)


def _aggregate(matrices: list[torch.Tensor], group: str, stats: tuple[str, ...], n: int) -> Stats:
    """Mean, min and max over a group's records (just the mean for single-layer groups).

    ``matrices`` hold the records' statistics as columns, ``stats`` first.
    """
    if matrices:
        v = torch.stack(matrices, dim=1)[:, :, :len(stats)]  # (n, records, stats)
    else:
        v = torch.full((n, 1, len(stats)), float("nan"), dtype=torch.float64)
    present = ~torch.isnan(v)
    count = present.sum(dim=1)
    mean = torch.where(present, v, 0.0).sum(dim=1) / count
    if group in _SINGLE:
        return {f"{group}.{k}": mean[:, j] for j, k in enumerate(stats)}
    none = count == 0
    low = torch.where(none, float("nan"), torch.where(present, v, math.inf).amin(dim=1))
    high = torch.where(none, float("nan"), torch.where(present, v, -math.inf).amax(dim=1))
    out: Stats = {}
    for j, k in enumerate(stats):
        out.update({f"{group}.{k}.mean": mean[:, j], f"{group}.{k}.min": low[:, j], f"{group}.{k}.max": high[:, j]})
    return out


def _network(batch: Mapping[str, torch.Tensor], roles: Mapping[str, TensorRole], records: list[Record]) -> Stats:
    n = next(iter(batch.values())).shape[0]
    nan = torch.full((n,), float("nan"), dtype=torch.float64)
    const = lambda v: torch.full((n,), float(v), dtype=torch.float64)  # noqa: E731
    log_norm, log_spec, ok = (_stack(records, s) for s in ("log_norm", "log_spectral_norm", "alpha_ok"))
    n_params = sum(math.prod(w.shape[1:]) for w in batch.values())
    out = {
        "sum_log_norm": nan if log_norm is None else log_norm.sum(dim=1),
        # log10 of the product of spectral norms s_max (log_spectral_norm is log10 s_max²)
        "log_prod_spectral_norm": nan if log_spec is None else log_spec.sum(dim=1) / 2,
        "alpha_coverage": nan if ok is None else ok.mean(dim=1),
        "log10_params": const(math.log10(n_params)) if n_params else nan,
        "n_layers": const(sum(r.is_layer for r in roles.values())),
    }
    for kind in _COUNTED:
        out[f"n_{kind}"] = const(sum(r.kind == kind for r in roles.values()))
    return {f"network.{k}": v for k, v in out.items()}


def _layer_weights(batch: Mapping[str, torch.Tensor], roles: Mapping[str, TensorRole]) -> torch.Tensor:
    parts = [w.reshape(w.shape[0], -1) for name, w in batch.items() if roles[name].is_layer]
    if not parts:
        return torch.empty(next(iter(batch.values())).shape[0], 0, dtype=torch.float64)
    return torch.cat(parts, dim=1)


def _agnostic(batch: Mapping[str, torch.Tensor], roles: Mapping[str, TensorRole]) -> Stats:
    records = batch_records(batch, roles)
    n = next(iter(batch.values())).shape[0]
    matrices = [_record_matrix(r, LAYER_STATS, n) for r in records]
    out: Stats = {}
    for group in (*LAYER_GROUPS, *TENSOR_GROUPS):
        members = [m for m, r in zip(matrices, records) if group in r.groups]
        out.update(_aggregate(members, group, _group_stats(group), n))
    out.update({f"global.{k}": v for k, v in distribution_stats(_layer_weights(batch, roles)).items()})
    out.update(_network(batch, roles, records))
    return out


def _per_layer(batch: Mapping[str, torch.Tensor], roles: Mapping[str, TensorRole]) -> Stats:
    records = batch_records(batch, roles)
    out = {f"{r.label}.{k}": v for r in records for k, v in r.stats.items()}
    out.update(_network(batch, roles, records))
    return out


def _spectral(batch: Mapping[str, torch.Tensor], roles: Mapping[str, TensorRole]) -> Stats:
    records = spectral_records(batch, roles)
    n = next(iter(batch.values())).shape[0]
    out = _aggregate([_record_matrix(r, SPECTRAL_STATS, n) for r in records], "all", SPECTRAL_STATS, n)
    network = _network(batch, roles, records)
    return {**out, **{f"network.{k}": network[f"network.{k}"] for k in _SPECTRAL_NETWORK}}


def _statnn(batch: Mapping[str, torch.Tensor], roles: Mapping[str, TensorRole]) -> Stats:
    return {f"{name}.{k}": v for name, w in batch.items()
            for k, v in statnn_stats(w.reshape(w.shape[0], -1)).items()}


def _learned(batch: Mapping[str, torch.Tensor], roles: Mapping[str, TensorRole],
             layers: Mapping[str, torch.Tensor] | None = None) -> Stats:
    return {f"learned.{k}": v for k, v in learned_stats(batch, roles, layers).items()}


_LEARNED_NAMES = tuple(f"learned.{k}" for k in LEARNED_STATS)
_ALIGNMENT_NAMES = tuple(f"alignment.{k}" for k in ALIGNMENT_STATS)


def _alignment(batch: Mapping[str, torch.Tensor], roles: Mapping[str, TensorRole],
               layers: Mapping[str, torch.Tensor] | None = None) -> Stats:
    return {f"alignment.{k}": v for k, v in alignment_stats(batch, roles, layers).items()}


def _transfer_v1(batch: Mapping[str, torch.Tensor], roles: Mapping[str, TensorRole],
                 layers: Mapping[str, torch.Tensor] | None = None) -> Stats:
    weights = {name: w for name, w in batch.items() if name in roles}  # without running variances
    return {**_agnostic(weights, roles), **_learned(batch, roles, layers)}


def _transfer(batch: Mapping[str, torch.Tensor], roles: Mapping[str, TensorRole]) -> Stats:
    layers = effective_layers(batch, roles)  # BatchNorm folded once for both
    return {**_transfer_v1(batch, roles, layers), **_alignment(batch, roles, layers)}


SCHEMAS: dict[str, Schema] = {
    "agnostic": Schema("agnostic", 2, _agnostic_names(), _agnostic),
    "per_layer": Schema("per_layer", 2, None, _per_layer),
    "statnn": Schema("statnn", 1, None, _statnn),
    "spectral": Schema("spectral", 1, _spectral_names(), _spectral),
    "learned": Schema("learned", 1, _LEARNED_NAMES, _learned, uses_buffers=True),
    "alignment": Schema("alignment", 1, _ALIGNMENT_NAMES, _alignment, uses_buffers=True),
    "transfer": Schema("transfer", 2, _agnostic_names() + _LEARNED_NAMES + _ALIGNMENT_NAMES, _transfer,
                       uses_buffers=True, parts=("agnostic", "learned", "alignment")),
}
"""The current version of each schema."""
EARLIER_SCHEMAS: dict[tuple[str, int], Schema] = {
    ("transfer", 1): Schema("transfer", 1, _agnostic_names() + _LEARNED_NAMES, _transfer_v1, uses_buffers=True,
                            parts=("agnostic", "learned")),
}
"""Earlier versions still computed, by ``(name, version)``: those of committed tables and bundles."""
DEFAULT_SCHEMA = "transfer"
"""The schema that extraction uses unless told otherwise. On zoo v2 it ranks held-out runs and
held-out families better than ``agnostic`` alone (``benchmarks/RESULTS.md``)."""


def get_schema(name: str, version: int | None = None) -> Schema:
    """The registered schema called ``name``: its current version, or ``version`` (also written
    ``name@version``) where :data:`EARLIER_SCHEMAS` keeps it.

    Raises
    ------
    UnknownNameError
        No schema is called ``name``.
    SchemaMismatchError
        This version of the schema is not computed any more.
    """
    if version is None and "@" in name:
        name, _, written = name.partition("@")
        if not written.isdigit():
            raise SchemaMismatchError(f"schema version {written!r} is not a number; write NAME@VERSION, "
                                      "e.g. transfer@1")
        version = int(written)
    if name not in SCHEMAS:
        raise unknown_name("feature schema", name, SCHEMAS)
    current = SCHEMAS[name]
    spec = current if version is None else _computed(name, version)
    if spec is None:
        kept = "".join(f" and v{v}" for n, v in EARLIER_SCHEMAS if n == name)
        raise SchemaMismatchError(f"this perfpredict computes {name} v{current.version}{kept}, not v{version}; "
                                  f"re-extract the features and refit the predictor with v{current.version}")
    return spec


def _computed(name: str, version: int) -> Schema | None:
    """Schema ``name`` at ``version``, current or kept, if this perfpredict computes it."""
    current = SCHEMAS.get(name)
    return current if current is not None and current.version == version else EARLIER_SCHEMAS.get((name, version))


def schema_label(name: str, version: int) -> str:
    """How to name a schema version to :func:`get_schema` and ``--schema``: ``name`` for the
    current version, ``name@version`` for another."""
    current = SCHEMAS.get(name)
    return name if current is not None and current.version == version else f"{name}@{version}"


def schema_parts(name: str, version: int) -> tuple[str, ...]:
    """The :attr:`Schema.parts` of a schema version; none for a version not computed any more."""
    spec = _computed(name, version)
    return spec.parts if spec is not None else ()
