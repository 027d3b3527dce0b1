"""Reports: feature importance and the analysis of good vs poor networks, as one HTML page
with its figures and tables (:func:`build_report`)."""

from .analysis import accuracy_correlations, learning_dynamics, quality_labels, similarity_test, weight_histograms
from .build import ReportConfig, build_report
from .importance import Importance, correlated_groups, feature_importance, shap_values
from .taxonomy import FAMILIES, FeatureKind, describe_feature

__all__ = ["ReportConfig", "build_report", "Importance", "feature_importance", "correlated_groups",
           "shap_values", "similarity_test", "accuracy_correlations", "learning_dynamics",
           "weight_histograms", "quality_labels", "FAMILIES", "FeatureKind", "describe_feature"]
