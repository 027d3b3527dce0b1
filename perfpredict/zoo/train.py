"""Solo trainer: one run, one model, ``torch.optim`` and its ``LambdaLR`` schedule;
checkpoints on a schedule.

The zoo generator trains with :mod:`~perfpredict.zoo.ensemble`; this trainer is the
reference its members are tested against, and the naive loop of the throughput benchmark.
Reproducible without global side effects: the run's seed drives a forked torch RNG
(initialization, dropout) and explicit generators (data subset, label noise, shuffling).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Callable, Iterator

import torch
from torch import nn
from torch.nn import functional as F

from ..archs import build_model, init_weights
from ..data import Dataset
from .recipes import (apply_augment, draw_augment, epoch_steps, has_batch_norm, lr_factor, mixed_precision,
                      resolve_precision)
from .spec import RunSpec

#: Training-set accuracy and loss are measured on this many of the run's training images.
TRAIN_METRIC_SAMPLES = 2048

__all__ = ["CheckpointMetrics", "train_run", "resolve_device", "make_optimizer", "training_indices",
           "seeded", "build_run_model"]


@dataclass(frozen=True)
class CheckpointMetrics:
    """Accuracy and loss of one checkpoint; ``status`` is ``ok`` or ``diverged``."""

    epoch: int
    train_loss: float
    train_accuracy: float
    test_loss: float
    test_accuracy: float
    status: str


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` picks CUDA when available, else CPU; anything else is passed to torch."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


@contextlib.contextmanager
def seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Seed torch's RNG (CPU, and ``device`` if it is CUDA) and restore it afterwards."""
    with torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        yield


def build_run_model(spec: RunSpec, data: Dataset) -> nn.Module:
    """The run's model, initialized with its scheme from torch's RNG (seed it first)."""
    model = build_model(spec.family, data.input_shape, data.num_classes,
                        activation=spec.activation, dropout=spec.dropout, **spec.arch)
    init_weights(model, spec.init, std=spec.init_std)
    return model


def make_optimizer(spec: RunSpec, params: list[nn.Parameter]) -> torch.optim.Optimizer:
    """The ``torch.optim`` optimizer that ``spec`` names (at the base learning rate)."""
    lr, wd = spec.lr, spec.weight_decay
    if spec.optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=wd)
    if spec.optimizer in ("momentum", "nesterov"):
        return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=wd,
                               nesterov=spec.optimizer == "nesterov")
    if spec.optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd)
    if spec.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd)
    return torch.optim.RMSprop(params, lr=lr, weight_decay=wd)


def training_indices(
    spec: RunSpec, data: Dataset, max_samples: int | None, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """The run's training subset as indices into ``data.x_train`` and (noisy) labels.

    Draws from ``gen`` in a fixed order, so that every trainer sees the same subset.
    """
    n_all = len(data.y_train)
    pool = torch.randperm(n_all, generator=torch.Generator().manual_seed(0))
    if max_samples is not None:
        pool = pool[:max_samples]
    n = max(1, round(len(pool) * spec.data_fraction))
    idx = pool[torch.randperm(len(pool), generator=gen)[:n]]
    y = data.y_train[idx].clone()
    noisy = torch.rand(n, generator=gen) < spec.label_noise
    y[noisy] = torch.randint(data.num_classes, (int(noisy.sum()),), generator=gen)
    return idx, y


@torch.no_grad()
def _evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, device: torch.device) -> tuple[float, float]:
    model.eval()
    loss, correct = 0.0, 0
    for start in range(0, len(y), 1024):
        xb, yb = x[start:start + 1024].to(device), y[start:start + 1024].to(device)
        logits = model(xb)
        loss += float(F.cross_entropy(logits, yb, reduction="sum"))
        correct += int((logits.argmax(1) == yb).sum())
    model.train()
    return loss / len(y), correct / len(y)


def train_run(
    spec: RunSpec,
    data: Dataset,
    on_checkpoint: Callable[[int, dict[str, torch.Tensor], CheckpointMetrics], None],
    *,
    device: str | torch.device = "auto",
    max_train_samples: int | None = None,
    max_eval_samples: int | None = None,
) -> str:
    """Train one run and hand every scheduled checkpoint to ``on_checkpoint``.

    Parameters
    ----------
    spec : RunSpec
        What to train.
    data : Dataset
        Loaded dataset matching ``spec.dataset``.
    on_checkpoint : callable
        Called as ``on_checkpoint(epoch, state_dict, metrics)`` at each scheduled epoch,
        and once more at the epoch where training diverged (non-finite loss or weights).
    device : str or torch.device
        ``"auto"`` (default), ``"cpu"``, ``"cuda"``, ...
    max_train_samples, max_eval_samples : int, optional
        Caps on the training pool and on the evaluation split.

    Returns
    -------
    str
        ``"ok"`` or ``"diverged"``.
    """
    dev = resolve_device(device)
    gen = torch.Generator().manual_seed(spec.seed)
    idx, y_tr = training_indices(spec, data, max_train_samples, gen)
    x_tr = data.x_train[idx]
    x_ev, y_ev = data.x_eval[:max_eval_samples], data.y_eval[:max_eval_samples]
    precision = resolve_precision(spec.precision, dev)
    with seeded(spec.seed, dev):
        model = build_run_model(spec, data).to(dev)
        opt = make_optimizer(spec, list(model.parameters()))
        lr_schedule = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda e: lr_factor(spec.schedule, e, spec.epochs))
        schedule = set(spec.checkpoint_epochs)

        def checkpoint(epoch: int, status: str) -> None:
            tr = _evaluate(model, x_tr[:TRAIN_METRIC_SAMPLES], y_tr[:TRAIN_METRIC_SAMPLES], dev)
            te = _evaluate(model, x_ev, y_ev, dev)
            metrics = CheckpointMetrics(epoch, tr[0], tr[1], te[0], te[1], status)
            state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
            on_checkpoint(epoch, state, metrics)

        if 0 in schedule:
            checkpoint(0, "ok")
        for epoch in range(1, spec.epochs + 1):
            with mixed_precision(precision, dev):
                finite = _train_epoch(model, opt, x_tr, y_tr, spec, gen, dev)
            if not finite:
                checkpoint(epoch, "diverged")
                return "diverged"
            lr_schedule.step()
            if epoch in schedule:
                checkpoint(epoch, "ok")
    return "ok"


def _train_epoch(
    model: nn.Module,
    opt: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    spec: RunSpec,
    gen: torch.Generator,
    dev: torch.device,
) -> bool:
    """One epoch of mini-batch training; returns False if loss or weights became non-finite."""
    order = torch.randperm(len(y), generator=gen)
    draws = draw_augment(spec.augment, len(y), gen)
    total = torch.zeros((), device=dev)
    bs = spec.batch_size
    for start in range(0, epoch_steps(len(y), bs, has_batch_norm(model)) * bs, bs):
        idx = order[start:start + bs]
        xb = x[idx].to(dev)
        if draws is not None:
            xb = apply_augment(xb, draws[start:start + bs])
        loss = F.cross_entropy(model(xb), y[idx].to(dev))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        total += loss.detach()
    finite = bool(torch.isfinite(total))
    return finite and all(bool(torch.isfinite(p).all()) for p in model.parameters())
