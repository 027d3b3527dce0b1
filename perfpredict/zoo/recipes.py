"""Training recipes shared by both trainers: learning-rate schedules, data augmentation and
mixed precision. Each is a pure function of the run's spec and its own random stream, so the
solo trainer and an ensemble member draw exactly the same numbers."""

from __future__ import annotations

import contextlib
import math
from typing import Iterator

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["SCHEDULES", "AUGMENTS", "PRECISIONS", "lr_factor", "epoch_steps", "has_batch_norm", "draw_augment",
           "apply_augment", "bf16_available", "resolve_precision", "mixed_precision"]

SCHEDULES = ("constant", "cosine", "step")
AUGMENTS = ("none", "crop_flip")
PRECISIONS = ("fp32", "bf16")
CROP_PAD = 4


def lr_factor(schedule: str, epoch: int, epochs: int) -> float:
    """Learning-rate multiplier during epoch ``epoch`` (0-based) of ``epochs``.

    ``constant``: 1. ``cosine``: ``(1 + cos(pi * epoch / epochs)) / 2``, as
    ``torch.optim.lr_scheduler.CosineAnnealingLR(T_max=epochs)`` stepped once per epoch.
    ``step``: x0.1 from half of the epochs on, x0.01 from three quarters on.
    """
    if schedule == "constant":
        return 1.0
    if schedule == "cosine":
        return (1 + math.cos(math.pi * epoch / epochs)) / 2
    if schedule == "step":
        return 0.1 ** sum(epoch >= m * epochs for m in (0.5, 0.75))
    raise ValueError(f"schedule must be one of {SCHEDULES}, not {schedule!r}")


def has_batch_norm(model: nn.Module) -> bool:
    """Whether ``model`` has a BatchNorm layer."""
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def epoch_steps(n: int, batch_size: int, batch_norm: bool) -> int:
    """Mini-batches per epoch over ``n`` images: the last one may be smaller, but a network
    with BatchNorm skips a last batch of one image (batch statistics need two)."""
    steps = math.ceil(n / batch_size)
    return steps - 1 if batch_norm and n % batch_size == 1 and steps > 1 else steps


def draw_augment(augment: str, n: int, gen: torch.Generator) -> torch.Tensor | None:
    """One epoch's augmentation draws for ``n`` images: ``(n, 3)`` int (dy, dx, flip), or None.

    ``crop_flip``: a random 32x32 (the image's size) crop of the image padded by 4 px, and a
    horizontal flip with probability 1/2.
    """
    if augment == "none":
        return None
    if augment != "crop_flip":
        raise ValueError(f"augment must be one of {AUGMENTS}, not {augment!r}")
    shifts = torch.randint(2 * CROP_PAD + 1, (n, 2), generator=gen)
    flips = torch.randint(2, (n, 1), generator=gen)
    return torch.cat([shifts, flips], 1)


def apply_augment(x: torch.Tensor, draws: torch.Tensor) -> torch.Tensor:
    """Crop and flip a batch ``(..., C, H, W)`` by ``draws`` ``(..., 3)`` (one gather)."""
    lead, (c, h, w) = x.shape[:-3], x.shape[-3:]
    x, draws = x.reshape(-1, c, h, w), draws.reshape(-1, 3).to(x.device)
    padded = F.pad(x, (CROP_PAD,) * 4)
    rows = draws[:, :1] + torch.arange(h, device=x.device)
    cols = draws[:, 1:2] + torch.arange(w, device=x.device)
    cols = torch.where(draws[:, 2:].bool(), cols.flip(1), cols)
    n = torch.arange(len(x), device=x.device)
    out = padded[n[:, None, None], :, rows[:, :, None], cols[:, None, :]]  # (N, H, W, C)
    return out.permute(0, 3, 1, 2).reshape(*lead, c, h, w)


def bf16_available(device: torch.device) -> bool:
    """True where bf16 matrix products are fast: CUDA with bf16, or a CPU with AVX512-BF16 or AMX."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type != "cpu":
        return False
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, c, lambda: False)() for c in checks)


def resolve_precision(precision: str, device: torch.device) -> str:
    """The precision a run asking for ``precision`` trains in on ``device``: ``bf16`` only where
    :func:`bf16_available`, else ``fp32``."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, not {precision!r}")
    return "bf16" if precision == "bf16" and bf16_available(device) else "fp32"


@contextlib.contextmanager
def mixed_precision(precision: str, device: torch.device) -> Iterator[None]:
    """bf16 autocast for ``precision="bf16"`` (fp32 weights and optimizer state), else nothing."""
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
        yield
