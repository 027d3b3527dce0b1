"""Weight-statistic features: statistics, layer roles, schemas, transformer and tables."""

from .schema import DEFAULT_SCHEMA, SCHEMAS, Schema, get_schema
from .table import FeatureTable, concat_features, extract_features, load_features, save_features, zoo_features
from .transformer import WeightStatistics

__all__ = ["SCHEMAS", "DEFAULT_SCHEMA", "Schema", "get_schema", "WeightStatistics", "FeatureTable",
           "extract_features", "zoo_features", "save_features", "load_features", "concat_features"]
