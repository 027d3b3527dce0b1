"""The registry of architectures, their activations and initialization schemes.

Every builder has the signature
``builder(input_shape, num_classes, *, activation, dropout, **arch) -> nn.Module``.
New architectures are added with :func:`register_arch`.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import torch
from torch import nn

from ..errors import unknown_name

__all__ = [
    "ARCHS",
    "ACTIVATIONS",
    "INITS",
    "register_arch",
    "build_model",
    "init_weights",
    "activation_module",
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


def activation_module(name: str) -> nn.Module:
    """A fresh module of the activation ``name`` (one of :data:`ACTIVATIONS`)."""
    if name not in ACTIVATIONS:
        raise unknown_name("activation", name, ACTIVATIONS)
    return ACTIVATIONS[name]()


def build_model(
    name: str, input_shape: Sequence[int], num_classes: int, **config: Any
) -> nn.Module:
    """Build a registered architecture.

    Parameters
    ----------
    name : str
        Registered architecture (``mlp``, ``cnn``, ``lenet``, ``resnet``, ``vit``).
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

    Normalization layers keep their initialization (scale 1, shift 0).

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
