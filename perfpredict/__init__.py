"""perfpredict: predict a trained network's test accuracy from its weights alone."""

__version__ = "0.1.0"
