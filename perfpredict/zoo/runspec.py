"""One training run: ``RunSpec``, a frozen dataclass with a JSON round-trip and a content id,
and the names it may use (families, optimizers)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any, Mapping

from ..errors import PerfPredictError
from .recipes import AUGMENTS, PRECISIONS, SCHEDULES

__all__ = ["RunSpec", "checkpoint_schedule", "FAMILIES", "OPTIMIZERS", "OPTIMIZER_KIND", "TRAINABLE_LR"]

FAMILIES = ("mlp", "cnn", "lenet", "resnet", "vit")
OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop")
#: Ensembles group runs by optimizer kind (part of ``ensemble_key``). The stacked optimizer
#: no longer needs it, but regrouping would change which runs existing zoos train together.
OPTIMIZER_KIND = {"sgd": "sgd", "momentum": "sgd", "nesterov": "sgd", "adam": "adam",
                  "adamw": "adam", "rmsprop": "rmsprop"}

TRAINABLE_LR = {"sgd": (1e-2, 1.0), "momentum": (1e-3, 0.3), "nesterov": (1e-3, 0.3),
                "adam": (1e-4, 3e-2), "adamw": (1e-4, 3e-2), "rmsprop": (1e-4, 1e-2)}
"""Learning-rate ranges per optimizer that span from barely training to diverging."""

#: RunSpec fields added after zoo format v1 was fixed, with the value runs had before: a
#: run that keeps it hashes to the id it had then.
_LATER_FIELDS = {"schedule": "constant", "augment": "none", "precision": "fp32"}


def checkpoint_schedule(epochs: int) -> tuple[int, ...]:
    """Epochs at which to save: 0, 1, 2, 4, 8, ... and the final epoch."""
    points = {0, epochs}
    e = 1
    while e < epochs:
        points.add(e)
        e *= 2
    return tuple(sorted(points))


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
    schedule: str = "constant"
    augment: str = "none"
    precision: str = "fp32"

    def __post_init__(self) -> None:
        object.__setattr__(self, "arch", dict(sorted(dict(self.arch).items())))
        sched = tuple(self.checkpoint_epochs) or checkpoint_schedule(self.epochs)
        object.__setattr__(self, "checkpoint_epochs", sched)
        if self.family not in FAMILIES:
            raise PerfPredictError(f"family must be one of {FAMILIES}, not {self.family!r}")
        if self.optimizer not in OPTIMIZERS:
            raise PerfPredictError(f"optimizer must be one of {OPTIMIZERS}, not {self.optimizer!r}")
        for name, choices in (("schedule", SCHEDULES), ("augment", AUGMENTS), ("precision", PRECISIONS)):
            if getattr(self, name) not in choices:
                raise PerfPredictError(f"{name} must be one of {choices}, not {getattr(self, name)!r}")
        if not 0 < self.data_fraction <= 1:
            raise PerfPredictError(f"data_fraction must be in (0, 1], not {self.data_fraction}")
        if max(sched) > self.epochs or min(sched) < 0:
            raise PerfPredictError(f"checkpoint_epochs {sched} must lie in [0, {self.epochs}]")

    @property
    def run_id(self) -> str:
        """16 hex digits of the SHA-256 of the canonical JSON of this spec.

        Fields added since zoo format v1 are left out while they keep their first value, so
        that runs of earlier zoos keep their ids.
        """
        d = {k: v for k, v in self.to_dict().items() 
             if k not in _LATER_FIELDS or v != _LATER_FIELDS[k]}
        return hashlib.sha256(_canonical_json(d).encode()).hexdigest()[:16]

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
