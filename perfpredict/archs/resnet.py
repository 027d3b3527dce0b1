"""``resnet``: the CIFAR ResNet of He et al. (2016), section 4.2.

A 3x3 stem, three stages of ``n`` basic blocks (``depth = 6n + 2``) at ``width``, ``2 width``
and ``4 width`` channels (the second and third start with stride 2), global average pooling
and a linear classifier. Every convolution is followed by BatchNorm and has no bias. Parameter
names follow the common CIFAR ResNet releases (``conv1``, ``bn1``, ``layer1.0.conv1``, ...,
``linear``), so their checkpoints and ours read alike.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from .layers import check_choice
from .registry import activation_module, register_arch

__all__ = ["BasicBlock", "PadShortcut"]

SHORTCUTS = ("A", "B")


class PadShortcut(nn.Module):
    """Option A: subsample by ``stride`` and zero-pad the channels up to ``out_channels``."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.stride, self.extra = stride, out_channels - in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[..., ::self.stride, ::self.stride]
        return F.pad(x, (0, 0, 0, 0, self.extra // 2, self.extra - self.extra // 2))


class BasicBlock(nn.Module):
    """``act(bn2(conv2(act(bn1(conv1(x))))) + shortcut(x))``; both convs 3x3."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, shortcut: str,
                 activation: str) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.act1 = activation_module(activation)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.act2 = activation_module(activation)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = PadShortcut(in_channels, out_channels, stride) if shortcut == "A" else \
                nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                              nn.BatchNorm2d(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act1(self.bn1(self.conv1(x)))
        return self.act2(self.bn2(self.conv2(out)) + self.shortcut(x))


@register_arch("resnet")
def resnet(
    input_shape: Sequence[int],
    num_classes: int,
    *,
    activation: str = "relu",
    dropout: float = 0.0,
    depth: int = 8,
    width: int = 16,
    shortcut: str = "A",
) -> nn.Module:
    """He et al.'s CIFAR ResNet of ``depth`` 8, 14, 20, ... (``6n + 2``) at base ``width``.

    ``shortcut`` is ``"A"`` (subsample and zero-pad, no parameters) or ``"B"`` (1x1 conv and
    BatchNorm) where a block changes shape. ``dropout`` applies before the classifier.
    """
    check_choice("shortcut", shortcut, SHORTCUTS)
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(f"resnet depth must be 6n + 2 with n >= 1 (8, 14, 20, ...), not {depth}")
    blocks = (depth - 2) // 6
    parts: OrderedDict[str, nn.Module] = OrderedDict(
        conv1=nn.Conv2d(input_shape[0], width, 3, 1, 1, bias=False), bn1=nn.BatchNorm2d(width),
        act=activation_module(activation))
    c_in = width
    for stage in range(3):
        c_out = width * 2 ** stage
        parts[f"layer{stage + 1}"] = nn.Sequential(*(
            BasicBlock(c_in if b == 0 else c_out, c_out, 2 if stage and b == 0 else 1, shortcut, activation)
            for b in range(blocks)))
        c_in = c_out
    parts.update(pool=nn.AdaptiveAvgPool2d(1), flatten=nn.Flatten())
    if dropout > 0:
        parts["dropout"] = nn.Dropout(dropout)
    parts["linear"] = nn.Linear(c_in, num_classes)
    return nn.Sequential(parts)
