"""Architecture registry: ``mlp``, ``cnn`` and ``vit`` builders that adapt to the input.

Every builder has the signature
``builder(input_shape, num_classes, *, activation, dropout, **arch) -> nn.Module``.
New architectures are added with :func:`register_arch`.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import torch
from torch import nn

from .errors import unknown_name

__all__ = [
    "ARCHS",
    "ACTIVATIONS",
    "INITS",
    "register_arch",
    "build_model",
    "init_weights",
]

Builder = Callable[..., nn.Module]
ARCHS: dict[str, Builder] = {}

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": lambda: nn.LeakyReLU(0.01),
    "gelu": nn.GELU,
    "elu": nn.ELU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
}


def register_arch(name: str) -> Callable[[Builder], Builder]:
    """Register a model builder under ``name`` (decorator)."""

    def deco(fn: Builder) -> Builder:
        ARCHS[name] = fn
        return fn

    return deco


def _activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise unknown_name("activation", name, ACTIVATIONS)
    return ACTIVATIONS[name]()


@register_arch("mlp")
def mlp(
    input_shape: Sequence[int],
    num_classes: int,
    *,
    activation: str = "relu",
    dropout: float = 0.0,
    depth: int = 2,
    width: int = 64,
) -> nn.Module:
    """Fully connected network: ``depth`` hidden layers of ``width`` units."""
    layers: list[nn.Module] = [nn.Flatten()]
    fan_in = math.prod(input_shape)
    for _ in range(depth):
        layers += [nn.Linear(fan_in, width), _activation(activation)]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        fan_in = width
    layers.append(nn.Linear(fan_in, num_classes))
    return nn.Sequential(*layers)


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
) -> nn.Module:
    """Small CNN: ``depth`` conv layers, global average pooling, linear head.

    With the defaults this is Unterthiner et al.'s small CNN (3 conv 3x3 stride 2,
    16 channels). ``downsample="pool"`` uses stride 1 and 2x2 max pooling instead.
    """
    if downsample not in ("stride", "pool"):
        raise ValueError(f"downsample must be 'stride' or 'pool', not {downsample!r}")
    layers: list[nn.Module] = []
    c_in, size = input_shape[0], min(input_shape[1:])
    for _ in range(depth):
        can_shrink = size >= 2
        stride = 2 if downsample == "stride" and can_shrink else 1
        layers += [
            nn.Conv2d(c_in, channels, kernel_size, stride=stride, padding=kernel_size // 2),
            _activation(activation),
        ]
        if downsample == "pool" and can_shrink:
            layers.append(nn.MaxPool2d(2))
        size = (size + 1) // 2 if can_shrink else size
        c_in = channels
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(channels, num_classes))
    return nn.Sequential(*layers)


@register_arch("vit")
def vit(
    input_shape: Sequence[int],
    num_classes: int,
    *,
    activation: str = "gelu",
    dropout: float = 0.0,
    patch_size: int = 4,
    depth: int = 2,
    heads: int = 2,
    hidden: int = 32,
    mlp_ratio: int = 2,
) -> nn.Module:
    """torchvision ``VisionTransformer`` adapted to the input's channels and size.

    The patch embedding takes ``input_shape[0]`` channels; the MLP blocks use
    ``activation`` instead of GELU.
    """
    from torchvision.models import VisionTransformer

    c, h, w = input_shape
    if h != w or h % patch_size:
        raise ValueError(f"vit needs square images divisible by patch_size; got {h}x{w}, {patch_size}")
    if hidden % heads:
        raise ValueError(f"vit hidden ({hidden}) must be divisible by heads ({heads})")
    model = VisionTransformer(
        image_size=h,
        patch_size=patch_size,
        num_layers=depth,
        num_heads=heads,
        hidden_dim=hidden,
        mlp_dim=hidden * mlp_ratio,
        dropout=dropout,
        num_classes=num_classes,
    )
    model.conv_proj = nn.Conv2d(c, hidden, kernel_size=patch_size, stride=patch_size)
    _replace_gelu(model, activation)
    return model


def _replace_gelu(module: nn.Module, activation: str) -> None:
    for name, child in module.named_children():
        if isinstance(child, nn.GELU):
            setattr(module, name, _activation(activation))
        else:
            _replace_gelu(child, activation)


def build_model(
    name: str, input_shape: Sequence[int], num_classes: int, **config: Any
) -> nn.Module:
    """Build a registered architecture.

    Parameters
    ----------
    name : str
        Registered architecture (``mlp``, ``cnn``, ``vit``).
    input_shape : sequence of int
        ``(channels, height, width)``.
    num_classes : int
        Output classes.
    **config
        Builder options (``activation``, ``dropout`` and architecture keywords).
    """
    if name not in ARCHS:
        raise unknown_name("architecture", name, ARCHS)
    return ARCHS[name](tuple(input_shape), num_classes, **config)


def _init_tensor(weight: torch.Tensor, init: str, std: float, gain: float) -> None:
    if init == "xavier_uniform":
        nn.init.xavier_uniform_(weight, gain=gain)
    elif init == "xavier_normal":
        nn.init.xavier_normal_(weight, gain=gain)
    elif init == "kaiming_uniform":
        nn.init.kaiming_uniform_(weight, nonlinearity="relu")
    elif init == "kaiming_normal":
        nn.init.kaiming_normal_(weight, nonlinearity="relu")
    elif init == "orthogonal":
        nn.init.orthogonal_(weight.view(weight.shape[0], -1), gain=gain)
    elif init == "normal":
        nn.init.normal_(weight, 0.0, std)


INITS = ("default", "xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal",
         "orthogonal", "normal")


@torch.no_grad()
def init_weights(model: nn.Module, init: str, *, std: float = 0.02, gain: float = 1.0) -> None:
    """Re-initialize every linear and conv weight (biases to zero) with scheme ``init``.

    ``"default"`` keeps PyTorch's initialization. Uses the global torch RNG: call it inside
    ``torch.random.fork_rng`` with a seed to keep it reproducible and side-effect free.
    """
    if init not in INITS:
        raise unknown_name("init", init, INITS)
    if init == "default":
        return
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            _init_tensor(module.weight, init, std, gain)
            if module.bias is not None:
                module.bias.zero_()
