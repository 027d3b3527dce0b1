"""``SearchSpace``: the hyperparameters that a zoo's runs are sampled from, and the sampler."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..errors import PerfPredictError
from .recipes import AUGMENTS, SCHEDULES
from .runspec import OPTIMIZER_KIND, OPTIMIZERS, TRAINABLE_LR, RunSpec

__all__ = ["SearchSpace", "IMAGE_SIZE"]

IMAGE_SIZE = {"digits": 8, "mnist": 28, "fashion_mnist": 28, "cifar10": 32}


def _picker(rng: np.random.Generator) -> Callable[[Sequence[Any]], Any]:
    """A function that picks one element of a sequence uniformly with ``rng``."""
    return lambda xs: xs[int(rng.integers(len(xs)))]


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


@dataclass(frozen=True)
class SearchSpace:
    """Hyperparameter space that runs are sampled from.

    Tuples are choices (a value listed twice is drawn twice as often); ``*_range`` pairs are
    sampled log-uniformly.

    A zoo samples runs in blocks that share the model's structure and training loop
    (:meth:`sample_block`: architecture, activation, dropout, batch size, epochs, optimizer
    kind, data fraction, augmentation); each run of a block then draws the rest
    (:meth:`sample_run`: initialization, optimizer within its kind, learning rate and
    schedule, weight decay, label noise).

    Architecture choices are per family: ``mlp_*`` (depth, width, norm), ``cnn_*`` (depth,
    channels, kernel, downsample, norm, head, and the ``fc`` head's layers and width),
    ``lenet_*`` (width multiplier, pooling), ``resnet_*`` (depth, base width, shortcut) and
    ``vit_*`` (depth, heads, hidden, patch); the ViT patch size is chosen among the
    ``vit_patch`` sizes that divide the image into between 2x2 and 8x8 patches.

    ``lr_ranges`` maps an optimizer to its own learning-rate range (SGD trains at rates where
    Adam diverges; the default spans each one's range from barely training to diverging);
    optimizers it does not name use ``lr_range``. A block trains on the full training set
    with probability ``full_data``, else on a fraction drawn from ``data_fraction_range``.
    Epochs: a choice from ``epochs`` if it is not empty, else log-uniform in ``epochs_range``
    if it is set, else the zoo's ``epochs``. ``augment`` applies to ``augment_datasets`` only.
    """

    activations: tuple[str, ...] = ("relu", "leaky_relu", "gelu", "elu", "tanh", "sigmoid")
    inits: tuple[str, ...] = ("default", "xavier_uniform", "xavier_normal", "kaiming_uniform",
                              "kaiming_normal", "orthogonal", "normal")
    init_std: tuple[float, ...] = (0.01, 0.05, 0.2, 0.5)
    optimizers: tuple[str, ...] = OPTIMIZERS
    lr_range: tuple[float, float] = (1e-4, 1.0)
    lr_ranges: Mapping[str, tuple[float, float]] = field(default_factory=lambda: dict(TRAINABLE_LR))
    schedules: tuple[str, ...] = SCHEDULES
    weight_decay: tuple[float, ...] = (0.0, 0.0, 1e-4, 1e-3, 1e-2)
    dropout: tuple[float, ...] = (0.0, 0.0, 0.1, 0.3, 0.5)
    batch_size: tuple[int, ...] = (32, 64, 128)
    full_data: float = 0.5
    data_fraction_range: tuple[float, float] = (0.02, 1.0)
    label_noise: tuple[float, ...] = (0.0, 0.0, 0.0, 0.2, 0.5)
    augment: tuple[str, ...] = AUGMENTS
    augment_datasets: tuple[str, ...] = ("cifar10",)
    epochs: tuple[int, ...] = ()
    epochs_range: tuple[int, int] | None = None
    mlp_depth: tuple[int, ...] = (1, 2, 3, 4)
    mlp_width: tuple[int, ...] = (32, 64, 128, 256, 512, 1024)
    mlp_norm: tuple[str, ...] = ("none", "batch")
    cnn_depth: tuple[int, ...] = (2, 3, 4)
    cnn_channels: tuple[int, ...] = (8, 16, 32)
    cnn_kernel: tuple[int, ...] = (3, 5)
    cnn_downsample: tuple[str, ...] = ("stride", "pool")
    cnn_norm: tuple[str, ...] = ("none", "batch")
    cnn_head: tuple[str, ...] = ("gap", "fc")
    cnn_fc_layers: tuple[int, ...] = (1, 2)
    cnn_fc_width: tuple[int, ...] = (64, 128, 256, 512)
    lenet_width: tuple[int, ...] = (1, 2, 4)
    lenet_pool: tuple[str, ...] = ("max", "avg")
    resnet_depth: tuple[int, ...] = (8, 14, 20)
    resnet_width: tuple[int, ...] = (8, 16, 32)
    resnet_shortcut: tuple[str, ...] = ("A", "B")
    vit_depth: tuple[int, ...] = (1, 2, 3, 4)
    vit_heads: tuple[int, ...] = (1, 2, 4)
    vit_hidden: tuple[int, ...] = (16, 32, 64, 128)
    vit_patch: tuple[int, ...] = (2, 4, 7, 8)

    def __post_init__(self) -> None:
        for name, (lo, hi) in {"lr_range": self.lr_range, **self.lr_ranges}.items():
            if name != "lr_range" and name not in OPTIMIZERS:
                raise PerfPredictError(f"lr_ranges names an unknown optimizer {name!r}; valid: {OPTIMIZERS}")
            if not 0 < lo <= hi:
                raise PerfPredictError(f"learning-rate range of {name} must satisfy 0 < low <= high, not {(lo, hi)}")
        lo, hi = self.data_fraction_range
        if not 0 < lo <= hi <= 1 or not 0 <= self.full_data <= 1:
            raise PerfPredictError("data_fraction_range must satisfy 0 < low <= high <= 1 and "
                                   f"full_data lie in [0, 1]; got {self.data_fraction_range}, {self.full_data}")
        if self.epochs_range is not None and not 1 <= self.epochs_range[0] <= self.epochs_range[1]:
            raise PerfPredictError(f"epochs_range must satisfy 1 <= low <= high, not {self.epochs_range}")

    def sample_arch(self, family: str, rng: np.random.Generator, image_size: int) -> dict[str, Any]:
        """Sample the architecture keywords of one ``family`` run."""
        pick = _picker(rng)
        if family == "mlp":
            return {"depth": int(pick(self.mlp_depth)), "width": int(pick(self.mlp_width)),
                    "norm": str(pick(self.mlp_norm))}
        if family == "cnn":
            arch = {"depth": int(pick(self.cnn_depth)), "channels": int(pick(self.cnn_channels)),
                    "kernel_size": int(pick(self.cnn_kernel)), "downsample": str(pick(self.cnn_downsample)),
                    "norm": str(pick(self.cnn_norm)), "head": str(pick(self.cnn_head))}
            if arch["head"] == "fc":
                arch.update(fc_layers=int(pick(self.cnn_fc_layers)), fc_width=int(pick(self.cnn_fc_width)))
            return arch
        if family == "lenet":
            return {"width_mult": int(pick(self.lenet_width)), "pool": str(pick(self.lenet_pool))}
        if family == "resnet":
            return {"depth": int(pick(self.resnet_depth)), "width": int(pick(self.resnet_width)),
                    "shortcut": str(pick(self.resnet_shortcut))}
        patches = [p for p in self.vit_patch if image_size % p == 0 and 2 <= image_size // p <= 8]
        if not patches:
            raise PerfPredictError(f"no vit_patch in {self.vit_patch} divides {image_size} px images into "
                                   "2x2 to 8x8 patches")
        heads = int(pick(self.vit_heads))
        hidden = max(int(pick(self.vit_hidden)), heads * 4)
        return {"depth": int(pick(self.vit_depth)), "heads": heads,
                "hidden": hidden - hidden % heads, "patch_size": int(pick(patches))}

    def sample_block(self, dataset: str, family: str, rng: np.random.Generator, epochs: int) -> dict[str, Any]:
        """What one block of runs shares: the model's structure and the training loop.

        ``epochs`` is the zoo's, used when the space samples none.
        """
        pick = _picker(rng)
        full = rng.random() < self.full_data
        fraction = _log_uniform(rng, *self.data_fraction_range)
        if self.epochs:
            epochs = int(pick(self.epochs))
        elif self.epochs_range is not None:
            lo, hi = self.epochs_range
            epochs = min(hi, int(_log_uniform(rng, lo, hi + 1)))
        return {
            "dataset": dataset,
            "family": family,
            "arch": self.sample_arch(family, rng, IMAGE_SIZE.get(dataset, 28)),
            "activation": str(pick(self.activations)),
            "dropout": float(pick(self.dropout)),
            "batch_size": int(pick(self.batch_size)),
            "epochs": epochs,
            "optimizer": str(pick(self.optimizers)),
            "data_fraction": 1.0 if full else round(fraction, 3),
            "augment": str(pick(self.augment)) if dataset in self.augment_datasets else "none",
        }

    def sample_run(self, block: Mapping[str, Any], rng: np.random.Generator, *, seed: int,
                   precision: str = "fp32") -> RunSpec:
        """One run of ``block`` (from :meth:`sample_block`)."""
        pick = _picker(rng)
        kind = OPTIMIZER_KIND[block["optimizer"]]
        optimizer = str(pick([o for o in self.optimizers if OPTIMIZER_KIND[o] == kind]))
        return RunSpec(
            **{**block, "optimizer": optimizer},
            init=str(pick(self.inits)),
            init_std=float(pick(self.init_std)),
            lr=_log_uniform(rng, *self.lr_ranges.get(optimizer, self.lr_range)),
            schedule=str(pick(self.schedules)),
            weight_decay=float(pick(self.weight_decay)),
            label_noise=float(pick(self.label_noise)),
            precision=precision,
            seed=seed,
        )
