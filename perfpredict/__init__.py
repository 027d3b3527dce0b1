"""perfpredict: predict a trained network's test accuracy from its weights alone.

The public names below are imported on first use, so that ``import perfpredict`` (and the
command line) does not pay for torch, scikit-learn and XGBoost until a name needs them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "predictor.bundles": ("PredictorBundle", "CheckpointPrediction", "load_bundle", "save_bundle"),
    "predictor.domain": ("DomainModel",),
    "checkpoints": ("Checkpoint", "load_checkpoint"),
    "data": ("Dataset", "load_dataset"),
    "errors": ("PerfPredictError",),
    "evaluation": ("evaluate", "evaluate_repeated", "regression_metrics", "run_split", "summarize"),
    "features": ("FeatureTable", "WeightStatistics", "extract_features", "load_features",
                 "save_features", "zoo_features"),
    "report": ("build_report", "ReportConfig", "feature_importance"),
    "predictor.models": ("AccuracyPredictor",),
    "pretrained": ("load_pretrained",),
    "workflows": ("fit_bundle",),
    "zoo": ("RunSpec", "SearchSpace", "ZooSpec", "ZooStore", "generate_zoo"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = ["__version__", *_MODULE_OF]

if TYPE_CHECKING:
    from .predictor.bundles import CheckpointPrediction, PredictorBundle, load_bundle, save_bundle
    from .predictor.domain import DomainModel
    from .checkpoints import Checkpoint, load_checkpoint
    from .data import Dataset, load_dataset
    from .errors import PerfPredictError
    from .evaluation import evaluate, evaluate_repeated, regression_metrics, run_split, summarize
    from .features import (FeatureTable, WeightStatistics, extract_features, load_features,
                           save_features, zoo_features)
    from .report import ReportConfig, build_report, feature_importance
    from .predictor.models import AccuracyPredictor
    from .pretrained import load_pretrained
    from .workflows import fit_bundle
    from .zoo import RunSpec, SearchSpace, ZooSpec, ZooStore, generate_zoo


def __getattr__(name: str) -> Any:
    if name not in _MODULE_OF:
        raise AttributeError(f"module 'perfpredict' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_MODULE_OF[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
