"""``mlp``: the fully connected network."""

from __future__ import annotations

import math
from typing import Sequence

from torch import nn

from .layers import norm_layer
from .registry import activation_module, register_arch


@register_arch("mlp")
def mlp(
    input_shape: Sequence[int],
    num_classes: int,
    *,
    activation: str = "relu",
    dropout: float = 0.0,
    depth: int = 2,
    width: int = 64,
    norm: str = "none",
) -> nn.Module:
    """``depth`` hidden layers of ``width`` units, each ``Linear [BatchNorm] act [Dropout]``.

    With ``norm="batch"`` the hidden linear layers have no bias (BatchNorm's shift replaces it).
    """
    layers: list[nn.Module] = [nn.Flatten()]
    fan_in = math.prod(input_shape)
    for _ in range(depth):
        bn = norm_layer(norm, width, spatial=False)
        layers += [nn.Linear(fan_in, width, bias=not bn), *bn, activation_module(activation)]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        fan_in = width
    layers.append(nn.Linear(fan_in, num_classes))
    return nn.Sequential(*layers)
