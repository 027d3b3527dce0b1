"""Predictors shipped with the package, so that predicting needs no zoo and no dataset.

Each is a predictor bundle folder beside this file (see :mod:`perfpredict.predictor.bundles`).
``reference`` is trained on the ``transfer`` v1 features of every checkpoint of the reference zoo
v2 portions that its ``manifest.json`` lists with their SHA-256 (``data/zoos/v2-<dataset>-<family>/``
in the repository: networks from chance to what their family reaches, trained on the full
training sets or, in the small-data portions, on 2-10% of them); XGBoost fits the logit of the
accuracy. It was made from the repository root, from the eighteen tables its manifest lists
(every MNIST and Fashion-MNIST table: all five families with their top-up, small-data and
shallow portions; and the CIFAR-10 MLPs, main and shallow), with::

    perfpredict fit data/zoos/v2-{mnist,fashion_mnist}-*/features-transfer.parquet \
        data/zoos/v2-cifar10-{mlp,shallow}/features-transfer.parquet \
        --test-size 0 --no-tune --link logit -o perfpredict/pretrained/reference

which gives the same files byte for byte. The CIFAR-10 convolutional portions are left out on
purpose: every fit with them gave confident intervals that missed two or three wild CIFAR-10 CNNs
(``benchmarks/RESULTS.md``), so without them a CIFAR-10 network with convolutions or attention
is flagged ``outside`` instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import BundleError

if TYPE_CHECKING:
    from ..predictor.bundles import PredictorBundle

__all__ = ["DEFAULT_PREDICTOR", "pretrained_names", "pretrained_path", "load_pretrained"]

DEFAULT_PREDICTOR = "reference"
_HERE = Path(__file__).parent


def pretrained_names() -> list[str]:
    """Names of the shipped predictors."""
    return sorted(p.name for p in _HERE.iterdir() if (p / "manifest.json").is_file())


def pretrained_path(name: str = DEFAULT_PREDICTOR) -> Path:
    """Folder of the shipped predictor ``name``.

    Raises
    ------
    BundleError
        No shipped predictor has that name.
    """
    folder = _HERE / name
    if not (folder / "manifest.json").is_file():
        known = ", ".join(pretrained_names()) or "none"
        raise BundleError(f"no shipped predictor named {name!r} (shipped: {known}); pass a bundle folder "
                          "made by `perfpredict fit` instead")
    return folder


def load_pretrained(name: str = DEFAULT_PREDICTOR) -> "PredictorBundle":
    """Load the shipped predictor ``name`` (default: ``reference``).

    Examples
    --------
    >>> from perfpredict import load_pretrained
    >>> bundle = load_pretrained()
    >>> acc = bundle.predict_checkpoints(["model.safetensors"], dataset="mnist")  # doctest: +SKIP
    """
    from ..predictor.bundles import load_bundle

    return load_bundle(pretrained_path(name))
