"""Architectures: a registry of builders that adapt to the dataset's input and classes.

``mlp`` (:mod:`.dense`), ``cnn`` and ``lenet`` (:mod:`.convnets`), ``resnet`` (:mod:`.resnet`)
and ``vit`` (:mod:`.vit`); :func:`register_arch` adds more.
"""

from . import convnets, dense, resnet, vit  # noqa: F401  (they register themselves)
from .registry import ACTIVATIONS, ARCHS, INITS, activation_module, build_model, init_weights, register_arch

__all__ = ["ARCHS", "ACTIVATIONS", "INITS", "register_arch", "build_model", "init_weights",
           "activation_module"]
