"""``vit``: torchvision's ``VisionTransformer``, adapted to the input's channels and size."""

from __future__ import annotations

from typing import Sequence

from torch import nn

from .registry import activation_module, register_arch


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
            setattr(module, name, activation_module(activation))
        else:
            _replace_gelu(child, activation)
