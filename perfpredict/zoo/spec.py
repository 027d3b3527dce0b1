"""What to train: ``RunSpec`` (one training run), ``SearchSpace`` and ``ZooSpec``.

All three are frozen dataclasses with a JSON round-trip. A ``ZooSpec`` samples its runs
deterministically from its seed, so the same spec always describes the same runs.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..errors import PerfPredictError

__all__ = ["RunSpec", "SearchSpace", "ZooSpec", "checkpoint_schedule"]

FAMILIES = ("mlp", "cnn", "vit")
OPTIMIZERS = ("sgd", "momentum", "adam", "adamw", "rmsprop")
#: Ensembles group runs by optimizer kind (part of ``ensemble_key``). The stacked optimizer
#: no longer needs it, but regrouping would change which runs existing zoos train together.
OPTIMIZER_KIND = {"sgd": "sgd", "momentum": "sgd", "adam": "adam", "adamw": "adam",
                  "rmsprop": "rmsprop"}


def checkpoint_schedule(epochs: int) -> tuple[int, ...]:
    """Epochs at which to save: 0, 1, 2, 4, 8, ... and the final epoch."""
    points = {0, epochs}
    e = 1
    while e < epochs:
        points.add(e)
        e *= 2
    return tuple(sorted(points))


def _picker(rng: np.random.Generator) -> Callable[[Sequence[Any]], Any]:
    """A function that picks one element of a sequence uniformly with ``rng``."""
    return lambda xs: xs[int(rng.integers(len(xs)))]


def _canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class RunSpec:
    """One training run: dataset, architecture, optimization and seed.

    ``arch`` holds the architecture builder's keywords (e.g. ``{"depth": 2, "width": 64}``).
    ``run_id`` is a hash of every field, so equal specs share one id.
    """

    dataset: str
    family: str
    arch: Mapping[str, Any]
    activation: str = "relu"
    init: str = "default"
    init_std: float = 0.02
    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    dropout: float = 0.0
    batch_size: int = 64
    data_fraction: float = 1.0
    label_noise: float = 0.0
    epochs: int = 4
    checkpoint_epochs: tuple[int, ...] = ()
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "arch", dict(sorted(dict(self.arch).items())))
        sched = tuple(self.checkpoint_epochs) or checkpoint_schedule(self.epochs)
        object.__setattr__(self, "checkpoint_epochs", sched)
        if self.family not in FAMILIES:
            raise PerfPredictError(f"family must be one of {FAMILIES}, not {self.family!r}")
        if self.optimizer not in OPTIMIZERS:
            raise PerfPredictError(f"optimizer must be one of {OPTIMIZERS}, not {self.optimizer!r}")
        if not 0 < self.data_fraction <= 1:
            raise PerfPredictError(f"data_fraction must be in (0, 1], not {self.data_fraction}")
        if max(sched) > self.epochs or min(sched) < 0:
            raise PerfPredictError(f"checkpoint_epochs {sched} must lie in [0, {self.epochs}]")

    @property
    def run_id(self) -> str:
        """16 hex digits of the SHA-256 of the canonical JSON of this spec."""
        return hashlib.sha256(_canonical_json(self.to_dict()).encode()).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        d = asdict(self)
        d["checkpoint_epochs"] = list(self.checkpoint_epochs)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "RunSpec":
        """Inverse of :meth:`to_dict`."""
        d = dict(d)
        d["checkpoint_epochs"] = tuple(d.get("checkpoint_epochs", ()))
        return cls(**d)

    def flat(self) -> dict[str, Any]:
        """Flattened hyperparameters (``arch.*`` expanded), as the index stores them."""
        d = self.to_dict()
        arch = d.pop("arch")
        d.pop("checkpoint_epochs")
        d.update({f"arch.{k}": v for k, v in arch.items()})
        return d


def _tuple_fields(cls: type, d: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}
    unknown = set(d) - names
    if unknown:
        raise PerfPredictError(f"unknown {cls.__name__} keys {sorted(unknown)}; valid: {sorted(names)}")
    return {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}


@dataclass(frozen=True)
class SearchSpace:
    """Hyperparameter space that runs are sampled from.

    Tuples are choices; ``*_range`` pairs are sampled log-uniformly (``lr``) or uniformly.
    Architecture choices are per family: ``mlp_depth``, ``mlp_width``, ``cnn_depth``,
    ``cnn_channels``, ``cnn_kernel``, ``cnn_downsample``, ``vit_depth``, ``vit_heads``,
    ``vit_hidden``; ViT patch size is chosen among divisors of the image size that give
    between 2x2 and 8x8 patches. ``epochs`` empty means the zoo's ``epochs``.
    ``lr_ranges`` maps an optimizer to its own learning-rate range (e.g. SGD trains at rates
    where Adam diverges); optimizers it does not name use ``lr_range``.
    """

    activations: tuple[str, ...] = ("relu", "leaky_relu", "gelu", "elu", "tanh", "sigmoid")
    inits: tuple[str, ...] = ("default", "xavier_uniform", "xavier_normal", "kaiming_uniform",
                              "kaiming_normal", "orthogonal", "normal")
    init_std: tuple[float, ...] = (0.01, 0.05, 0.2, 0.5)
    optimizers: tuple[str, ...] = OPTIMIZERS
    lr_range: tuple[float, float] = (1e-4, 1.0)
    lr_ranges: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    weight_decay: tuple[float, ...] = (0.0, 0.0, 1e-4, 1e-3, 1e-2)
    dropout: tuple[float, ...] = (0.0, 0.0, 0.1, 0.3, 0.5)
    batch_size: tuple[int, ...] = (32, 64, 128)
    data_fraction_range: tuple[float, float] = (0.1, 1.0)
    label_noise: tuple[float, ...] = (0.0, 0.0, 0.0, 0.2, 0.5)
    mlp_depth: tuple[int, ...] = (1, 2, 3, 4)
    mlp_width: tuple[int, ...] = (16, 32, 64, 128, 256)
    cnn_depth: tuple[int, ...] = (2, 3, 4)
    cnn_channels: tuple[int, ...] = (8, 16, 32)
    cnn_kernel: tuple[int, ...] = (3, 5)
    cnn_downsample: tuple[str, ...] = ("stride", "pool")
    vit_depth: tuple[int, ...] = (1, 2, 3, 4)
    vit_heads: tuple[int, ...] = (1, 2, 4)
    vit_hidden: tuple[int, ...] = (16, 32, 64)
    epochs: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        for name, (lo, hi) in {"lr_range": self.lr_range, **self.lr_ranges}.items():
            if name != "lr_range" and name not in OPTIMIZERS:
                raise PerfPredictError(f"lr_ranges names an unknown optimizer {name!r}; valid: {OPTIMIZERS}")
            if not 0 < lo <= hi:
                raise PerfPredictError(f"learning-rate range of {name} must satisfy 0 < low <= high, not {(lo, hi)}")

    def sample_arch(self, family: str, rng: np.random.Generator, image_size: int) -> dict[str, Any]:
        """Sample the architecture keywords of one ``family`` run."""
        pick = _picker(rng)
        if family == "mlp":
            return {"depth": int(pick(self.mlp_depth)), "width": int(pick(self.mlp_width))}
        if family == "cnn":
            return {
                "depth": int(pick(self.cnn_depth)),
                "channels": int(pick(self.cnn_channels)),
                "kernel_size": int(pick(self.cnn_kernel)),
                "downsample": str(pick(self.cnn_downsample)),
            }
        patches = [p for p in (2, 4, 7, 8) if image_size % p == 0 and 2 <= image_size // p <= 8]
        heads = int(pick(self.vit_heads))
        hidden = max(int(pick(self.vit_hidden)), heads * 4)
        return {"depth": int(pick(self.vit_depth)), "heads": heads,
                "hidden": hidden - hidden % heads, "patch_size": int(pick(patches))}


_IMAGE_SIZE = {"digits": 8, "mnist": 28, "fashion_mnist": 28, "cifar10": 32}


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
        Training epochs of every run; checkpoints follow :func:`checkpoint_schedule`.
    seed : int
        Sampler seed; also the base of each run's training seed.
    space : SearchSpace
        Hyperparameter space.
    max_train_samples : int or None
        Cap on training images before ``data_fraction`` is applied (keeps small zoos cheap).
    max_eval_samples : int or None
        Cap on evaluation images (a fixed prefix of the eval split).
    ensemble_size : int
        Runs are sampled in blocks of this size that share the model's structure
        (architecture, activation, dropout, batch size, epochs, optimizer kind, data fraction)
        and differ in everything else (initialization, optimizer within its kind, learning rate,
        weight decay, label noise, seed and so the data subset); a block trains as one stacked
        ensemble whose members all take the same number of steps.
        ``1`` samples every run independently.
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

    def __post_init__(self) -> None:
        if self.ensemble_size < 1 or self.runs_per_group < 1 or self.epochs < 1:
            raise PerfPredictError("ensemble_size, runs_per_group and epochs must be >= 1")

    def runs(self) -> list[RunSpec]:
        """The zoo's runs, sampled deterministically from ``seed``."""
        out: list[RunSpec] = []
        for di, dataset in enumerate(self.datasets):
            for fi, family in enumerate(self.families):
                rng = np.random.default_rng([self.seed, di, fi])
                for i in range(self.runs_per_group):
                    if i % self.ensemble_size == 0:
                        shared = self._sample_structure(dataset, family, rng)
                    out.append(self._sample_member(shared, rng, seed=self.seed * 100_003 + len(out)))
        return out

    def _sample_structure(self, dataset: str, family: str, rng: np.random.Generator) -> dict[str, Any]:
        """What one block of runs shares: the model's structure and the training loop."""
        s = self.space
        pick = _picker(rng)
        frac_lo, frac_hi = s.data_fraction_range
        return {
            "dataset": dataset,
            "family": family,
            "arch": s.sample_arch(family, rng, _IMAGE_SIZE.get(dataset, 28)),
            "activation": str(pick(s.activations)),
            "dropout": float(pick(s.dropout)),
            "batch_size": int(pick(s.batch_size)),
            "epochs": int(pick(s.epochs)) if s.epochs else self.epochs,
            "optimizer": str(pick(s.optimizers)),
            "data_fraction": round(float(rng.uniform(frac_lo, frac_hi)), 3),
        }

    def _sample_member(self, shared: dict[str, Any], rng: np.random.Generator, seed: int) -> RunSpec:
        s = self.space
        pick = _picker(rng)
        kind = OPTIMIZER_KIND[shared["optimizer"]]
        optimizer = str(pick([o for o in s.optimizers if OPTIMIZER_KIND[o] == kind]))
        lo, hi = s.lr_ranges.get(optimizer, s.lr_range)
        return RunSpec(
            **{**shared, "optimizer": optimizer},
            init=str(pick(s.inits)),
            init_std=float(pick(s.init_std)),
            lr=float(math.exp(rng.uniform(math.log(lo), math.log(hi)))),
            weight_decay=float(pick(s.weight_decay)),
            label_noise=float(pick(s.label_noise)),
            seed=seed,
        )

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
