"""perfpredict: predict a trained network's test accuracy from its weights alone."""

__version__ = "0.1.0"

from .bundles import PredictorBundle, load_bundle, save_bundle
from .checkpoints import Checkpoint, load_checkpoint
from .data import Dataset, load_dataset
from .errors import PerfPredictError
from .evaluation import evaluate, regression_metrics, run_split
from .features import (FeatureTable, WeightStatistics, extract_features, load_features,
                       save_features, zoo_features)
from .importance import importance_table
from .predictors import AccuracyPredictor
from .workflows import fit_bundle, report_from_table
from .zoo import RunSpec, SearchSpace, ZooSpec, ZooStore, generate_zoo

__all__ = [
    "__version__", "Checkpoint", "load_checkpoint", "Dataset", "load_dataset", "PerfPredictError",
    "evaluate", "regression_metrics", "run_split", "FeatureTable", "WeightStatistics",
    "extract_features", "load_features", "save_features", "zoo_features", "importance_table",
    "AccuracyPredictor", "PredictorBundle", "load_bundle", "save_bundle", "fit_bundle",
    "report_from_table", "RunSpec", "SearchSpace", "ZooSpec", "ZooStore", "generate_zoo",
]
