"""Building blocks shared by the architectures: normalization choice and flattened sizes."""

from __future__ import annotations

from torch import nn

__all__ = ["NORMS", "norm_layer", "check_choice"]

NORMS = ("none", "batch")


def check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    """Raise ``ValueError`` naming the valid ``choices`` unless ``value`` is one of them."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, not {value!r}")


def norm_layer(norm: str, features: int, *, spatial: bool) -> list[nn.Module]:
    """``[BatchNorm]`` for ``norm="batch"`` (2d on feature maps, 1d on vectors), else ``[]``."""
    check_choice("norm", norm, NORMS)
    if norm == "none":
        return []
    return [nn.BatchNorm2d(features) if spatial else nn.BatchNorm1d(features)]
