"""What to train: a ``ZooSpec`` (many runs, sampled from a ``SearchSpace``) and its runs.

``RunSpec`` (:mod:`.runspec`), ``SearchSpace`` (:mod:`.space`) and ``ZooSpec`` are frozen
dataclasses with a JSON round-trip. A ``ZooSpec`` samples its runs deterministically from its
seed, so the same spec always describes the same runs.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..errors import PerfPredictError
from .recipes import PRECISIONS
from .runspec import FAMILIES, OPTIMIZER_KIND, OPTIMIZERS, TRAINABLE_LR, RunSpec, checkpoint_schedule
from .space import SearchSpace

__all__ = ["RunSpec", "SearchSpace", "ZooSpec", "checkpoint_schedule", "FAMILIES", "OPTIMIZERS",
           "OPTIMIZER_KIND", "TRAINABLE_LR"]


def _tuple_fields(cls: type, d: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}
    unknown = set(d) - names
    if unknown:
        raise PerfPredictError(f"unknown {cls.__name__} keys {sorted(unknown)}; valid: {sorted(names)}")
    return {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}


@dataclass(frozen=True)
class ZooSpec:
    """A zoo: ``runs_per_group`` sampled runs for each (dataset, family) pair.

    Parameters
    ----------
    name : str
        Human-readable name.
    datasets, families : tuple of str
        Datasets and architecture families to cover.
    runs_per_group : int
        Runs per (dataset, family) pair.
    epochs : int
        Training epochs of every run, unless ``space`` samples them; checkpoints follow
        :func:`checkpoint_schedule`.
    seed : int
        Sampler seed; also the base of each run's training seed.
    space : SearchSpace
        Hyperparameter space.
    max_train_samples : int or None
        Cap on training images before ``data_fraction`` is applied (keeps small zoos cheap).
    max_eval_samples : int or None
        Cap on evaluation images (a fixed prefix of the eval split).
    ensemble_size : int
        Runs are sampled in blocks of this size that share the model's structure and training
        loop and differ in everything else (:class:`SearchSpace`; the seed, and so the data
        subset, differs too); a block trains as one stacked ensemble whose members all take
        the same number of steps.
        ``1`` samples every run independently.
    precision : str
        ``"bf16"`` (default): bf16 mixed precision where the hardware has fast bf16
        (:func:`~perfpredict.zoo.recipes.bf16_available`), fp32 elsewhere; ``"fp32"``.
    """

    name: str = "zoo"
    datasets: tuple[str, ...] = ("digits",)
    families: tuple[str, ...] = FAMILIES
    runs_per_group: int = 8
    epochs: int = 8
    seed: int = 0
    space: SearchSpace = field(default_factory=SearchSpace)
    max_train_samples: int | None = None
    max_eval_samples: int | None = None
    ensemble_size: int = 8
    precision: str = "bf16"

    def __post_init__(self) -> None:
        if self.ensemble_size < 1 or self.runs_per_group < 1 or self.epochs < 1:
            raise PerfPredictError("ensemble_size, runs_per_group and epochs must be >= 1")
        if self.precision not in PRECISIONS:
            raise PerfPredictError(f"precision must be one of {PRECISIONS}, not {self.precision!r}")

    def runs(self) -> list[RunSpec]:
        """The zoo's runs, sampled deterministically from ``seed``."""
        out: list[RunSpec] = []
        for di, dataset in enumerate(self.datasets):
            for fi, family in enumerate(self.families):
                rng = np.random.default_rng([self.seed, di, fi])
                for i in range(self.runs_per_group):
                    if i % self.ensemble_size == 0:
                        block = self.space.sample_block(dataset, family, rng, self.epochs)
                    out.append(self.space.sample_run(block, rng, seed=self.seed * 100_003 + len(out),
                                                     precision=self.precision))
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return json.loads(json.dumps(asdict(self)))

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ZooSpec":
        """Inverse of :meth:`to_dict`; unknown keys are an error."""
        d = _tuple_fields(cls, dict(d))
        if "space" in d:
            space = _tuple_fields(SearchSpace, dict(d["space"]))
            space["lr_ranges"] = {k: tuple(v) for k, v in dict(space.get("lr_ranges", {})).items()}
            d["space"] = SearchSpace(**space)
        return cls(**d)

    @classmethod
    def from_json(cls, path: str | Path) -> "ZooSpec":
        """Read a spec from a JSON file."""
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (OSError, json.JSONDecodeError, TypeError) as exc:
            raise PerfPredictError(f"cannot read zoo spec {path}: {exc}") from exc
