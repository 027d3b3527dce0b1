"""Plain convolutional networks: ``cnn`` (Unterthiner et al.'s small CNN and variants) and
``lenet`` (LeNet-5)."""

from __future__ import annotations

from typing import Sequence

from torch import nn

from .layers import check_choice, norm_layer
from .registry import activation_module, register_arch

HEADS = ("gap", "fc")
POOLS = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}


def _fc_head(features: int, num_classes: int, widths: Sequence[int], activation: str,
             dropout: float) -> list[nn.Module]:
    """``Linear act [Dropout]`` per hidden width, then the classifier."""
    layers: list[nn.Module] = []
    for width in widths:
        layers += [nn.Linear(features, width), activation_module(activation)]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        features = width
    return layers + [nn.Linear(features, num_classes)]


@register_arch("cnn")
def cnn(
    input_shape: Sequence[int],
    num_classes: int,
    *,
    activation: str = "relu",
    dropout: float = 0.0,
    depth: int = 3,
    channels: int = 16,
    kernel_size: int = 3,
    downsample: str = "stride",
    norm: str = "none",
    head: str = "gap",
    fc_layers: int = 1,
    fc_width: int = 128,
) -> nn.Module:
    """``depth`` conv layers ``Conv [BatchNorm] act [pool]``, then a head.

    With the defaults this is Unterthiner et al.'s small CNN (3 conv 3x3 stride 2,
    16 channels, global average pooling, linear head). ``downsample="pool"`` uses stride 1 and
    2x2 max pooling instead. ``head="fc"`` flattens the last feature map into ``fc_layers``
    hidden fully connected layers of ``fc_width`` units (``fc_layers`` and ``fc_width`` are
    ignored with ``head="gap"``). With ``norm="batch"`` the convolutions have no bias.
    """
    check_choice("downsample", downsample, ("stride", "pool"))
    check_choice("head", head, HEADS)
    layers: list[nn.Module] = []
    c_in, size = input_shape[0], min(input_shape[1:])
    for _ in range(depth):
        can_shrink = size >= 2
        stride = 2 if downsample == "stride" and can_shrink else 1
        bn = norm_layer(norm, channels, spatial=True)
        layers += [nn.Conv2d(c_in, channels, kernel_size, stride=stride, padding=kernel_size // 2,
                             bias=not bn), *bn, activation_module(activation)]
        if downsample == "pool" and can_shrink:
            layers.append(nn.MaxPool2d(2))
        size = size // 2 if downsample == "pool" and can_shrink else (size + 1) // 2 if can_shrink else size
        c_in = channels
    if head == "gap":
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        return nn.Sequential(*layers, nn.Linear(channels, num_classes))
    layers.append(nn.Flatten())
    return nn.Sequential(*layers, *_fc_head(channels * size * size, num_classes, [fc_width] * fc_layers,
                                            activation, dropout))


@register_arch("lenet")
def lenet(
    input_shape: Sequence[int],
    num_classes: int,
    *,
    activation: str = "relu",
    dropout: float = 0.0,
    width_mult: int = 1,
    pool: str = "max",
) -> nn.Module:
    """LeNet-5: conv 6@5x5, pool, conv 16@5x5, pool, FC 120, FC 84, classifier.

    Images smaller than 32 px are zero-padded to 32 by the first convolution (2 px for
    28 px MNIST, as in the original). ``width_mult`` multiplies every channel and unit count;
    ``pool`` is ``"max"`` or ``"avg"`` (2x2, stride 2); ``dropout`` follows each hidden FC layer.
    """
    check_choice("pool", pool, tuple(POOLS))
    c, size = input_shape[0], min(input_shape[1:])
    pad = max(0, (32 - size) // 2)
    c1, c2 = 6 * width_mult, 16 * width_mult
    size = ((size + 2 * pad - 4) // 2 - 4) // 2
    if size < 1:
        raise ValueError(f"lenet needs images of at least 12 px after padding; got {min(input_shape[1:])} px")
    layers: list[nn.Module] = [
        nn.Conv2d(c, c1, 5, padding=pad), activation_module(activation), POOLS[pool](2),
        nn.Conv2d(c1, c2, 5), activation_module(activation), POOLS[pool](2), nn.Flatten(),
    ]
    hidden = [120 * width_mult, 84 * width_mult]
    return nn.Sequential(*layers, *_fc_head(c2 * size * size, num_classes, hidden, activation, dropout))
