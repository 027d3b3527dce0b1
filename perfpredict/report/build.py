"""Build the report: held-out predictions, feature importance and the good-vs-poor analysis,
as ``index.html``, ``figures/*.png`` and CSV/JSON tables in one folder."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd
from matplotlib import rc_context

from .. import __version__
from .._io import write_json_atomic
from ..predictor.bundles import PredictorBundle
from ..errors import PerfPredictError
from ..evaluation import TARGET, regression_metrics
from ..features.schema import schema_parts
from ..features.structure import table_layer_kinds
from ..features.table import FeatureTable, zoo_features
from ..workflows import fit_bundle, runs_hash
from . import analysis, figures
from .importance import Importance, feature_importance, shap_values
from .taxonomy import describe_feature, explain_feature
from .page import Section, write_page

__all__ = ["ReportConfig", "build_report"]


@dataclass(frozen=True)
class ReportConfig:
    """Settings of a report (written beside it as ``report_config.json``).

    Attributes
    ----------
    quantile : float
        Good and poor runs: the top and bottom ``quantile`` by final accuracy per (dataset, family).
    correlation : float
        |Spearman ρ| at which features are permuted together.
    repeats : int
        Permutations per feature group.
    permutations : int
        Label permutations of the similarity test.
    test_size : float
        Held-out runs when the report fits its own predictor.
    max_histogram_runs : int
        Checkpoints read per (dataset, family, quality) for weight histograms.
    dynamics_features : int
        Most important statistics shown across epochs.
    random_state : int
        Seed of splits and permutations.
    """

    quantile: float = 0.25
    correlation: float = 0.9
    repeats: int = 5
    permutations: int = 999
    test_size: float = 0.25
    max_histogram_runs: int = 40
    dynamics_features: int = 4
    random_state: int = 0


@dataclass(frozen=True)
class _HeldOut:
    bundle: PredictorBundle
    rows: np.ndarray
    note: str


def _held_out(table: FeatureTable, bundle: PredictorBundle | None, config: ReportConfig) -> _HeldOut:
    frame = table.frame
    if bundle is None:
        result = fit_bundle(table, test_size=config.test_size, random_state=config.random_state)
        n_test = len(result.bundle.info["test_runs"])
        return _HeldOut(result.bundle, result.test_rows,
                        f"Predictors fitted here on {frame['run_id'].nunique() - n_test} runs; "
                        f"scored on {n_test} held-out runs.")
    bundle.check_features(table.schema, table.schema_version)
    rows = np.flatnonzero(frame["run_id"].isin(bundle.info.get("test_runs", [])))
    if len(rows):
        return _HeldOut(bundle, rows, f"The given predictor, scored on its own {frame['run_id'].iloc[rows].nunique()} "
                                      "held-out runs found in this table.")
    if runs_hash(frame, np.arange(len(frame))) == bundle.info.get("training_runs_sha256"):
        raise PerfPredictError("this table holds exactly the predictor's training runs, and importance needs "
                               "runs it has not seen: give the features of another zoo, or a predictor fitted "
                               "with held-out runs (perfpredict fit --test-size 0.25)")
    return _HeldOut(bundle, np.arange(len(frame)),
                    f"The given predictor, scored on all {frame['run_id'].nunique()} runs of this table "
                    "(none is among its recorded held-out runs: make sure it was not trained on them).")


_DOMAIN_NOTE = ("Each checkpoint gets a domain verdict: in_domain, edge (farther from the training zoo than "
                "95% of held-out training runs) or outside (farther than 99%, or with layer kinds or a kind of "
                "architecture that no training network had). Intervals widen with that distance; "
                "covered_or_outside is the share of checkpoints covered by their interval or flagged outside.")


def _verdicts(held: _HeldOut, X: pd.DataFrame, table: FeatureTable) -> np.ndarray | None:
    """Domain verdict of each held-out row (None when the bundle has no domain model)."""
    if held.bundle.domain is None:
        return None
    kinds = table_layer_kinds(table.frame)
    return held.bundle.domain.assess(X, [kinds[i] for i in held.rows]).verdicts


def _domain_table(verdicts: np.ndarray | None, y: np.ndarray, predictions: Mapping[str, np.ndarray],
                  halfwidths: Mapping[str, Any]) -> pd.DataFrame:
    """Per verdict: checkpoints, their share, and each model's MAE and interval coverage."""
    if verdicts is None:
        return pd.DataFrame({"verdict": ["not assessed (predictor fitted without calibration runs)"]})
    rows = []
    for verdict in ("in_domain", "edge", "outside"):
        part = verdicts == verdict
        row: dict[str, Any] = {"verdict": verdict, "checkpoints": int(part.sum()), "share": float(part.mean())}
        for m, p in predictions.items():
            hw = halfwidths[m]
            scores = regression_metrics(y[part], p[part], None if hw is None else hw[part]) if part.any() else {}
            row[f"{m}_mae_points"] = scores.get("mae_points", float("nan"))
            row[f"{m}_coverage"] = scores.get("coverage", float("nan"))
        rows.append(row)
    return pd.DataFrame(rows)


_FONTS = {"font.size": 12, "axes.titlesize": 13, "axes.labelsize": 12, "xtick.labelsize": 11,
          "ytick.labelsize": 11, "legend.fontsize": 11}
"""Figure fonts that stay readable once the page scales a figure to its width."""


def _glossary_section(importance: Importance, correlations: pd.DataFrame, dynamics: list[str]) -> Section:
    """Every feature name the page shows (tables and figures), with what it measures."""
    features = importance.features
    measures = [c for c in features.columns if c.endswith(("_shap", "_permutation", "_abs_share"))]
    names = set(features["feature"].head(30)) | set(dynamics)
    names |= {n for c in measures for n in features.loc[features[c].abs().nlargest(20).index, "feature"]}
    names |= set(correlations.loc[correlations["all"].abs().nlargest(20).index, "feature"])
    rows = [{"feature": n, "meaning": explain_feature(n), "statistic family": describe_feature(n).family,
             "layer role": describe_feature(n).role} for n in sorted(names)]
    return Section("Glossary", ["What each feature name on this page measures. Names read "
                                "{layers}.{statistic}[.{mean|min|max} over those layers]; the README lists "
                                "every statistic."], tables=[("Feature names", pd.DataFrame(rows))])


def _dynamics_features(importance: Importance, table: FeatureTable, n: int) -> list[str]:
    features = importance.features
    weights = features[~features["family"].isin(["architecture", "dataset", "other"])]
    varying = [f for f in weights["feature"] if table.frame[f].nunique() > 1]
    return varying[:n]


def _summary(table: FeatureTable, held: _HeldOut, importance: Importance, similarity: pd.DataFrame,
             correlations: pd.DataFrame) -> list[str]:
    frame = table.frame
    best = importance.scores.sort_values("r2", ascending=False).iloc[0]
    shares = [c for c in importance.by_family.columns if c.startswith(f"{best['model']}_") and
              c.endswith(("_shap", "_abs_share"))]
    lines = [f"{len(frame)} checkpoints of {frame['run_id'].nunique()} runs "
             f"({', '.join(sorted(frame['family'].unique()))} on {', '.join(sorted(frame['dataset'].unique()))}), "
             f"{table.schema} features. {held.note}",
             f"Best model: {best['model']}, held-out R² {best['r2']:.3f}, Kendall τ {best['kendall_tau']:.3f}, "
             f"MAE {best['mae_points']:.1f} accuracy points."]
    if shares:
        top = importance.by_family.nlargest(3, shares[0])
        lines.append("Statistic families that matter most to it: " + ", ".join(
            f"{r.family} ({getattr(r, shares[0]):.0%})" for r in top.itertuples()) + f" (by {shares[0]}).")
    lines += list(similarity["conclusion"])
    for family in [c for c in correlations.columns if c not in ("feature", "all")]:
        col = correlations[["feature", family]].dropna()
        if len(col):
            r = col.loc[col[family].abs().idxmax()]
            lines.append(f"{family}: the statistic most correlated with accuracy is {r['feature']} "
                         f"(Spearman ρ = {r[family]:.2f}).")
    return lines


def _importance_section(held: _HeldOut, X: pd.DataFrame, importance: Importance) -> Section:
    figs = [(f"importance_{c}", figures.importance_figure(importance.features, c))
            for c in importance.features.columns if c.endswith(("_shap", "_permutation", "_abs_share"))]
    xgb = [name for name, p in held.bundle.models.items() if p.boosters_]
    if xgb and len(X):
        model = held.bundle.models[xgb[0]]
        figs.insert(0, ("shap_values", figures.shap_figure(shap_values(model, X), X, link=model.link)))
    figs += [("importance_by_family", figures.aggregate_figure(importance.by_family, "family")),
             ("importance_by_role", figures.aggregate_figure(importance.by_role, "role"))]
    return Section("Feature importance",
                   ["Measured on the held-out runs. Shares (gain, SHAP, |coefficient|) sum to 1; permutation is "
                    "the drop in held-out R² when a feature's group of correlated features (or a whole family "
                    "or role) is shuffled. Importance of a model that predicts poorly means little: its held-out "
                    "score is in the first table."],
                   figs, [("Held-out score of each model", importance.scores),
                          ("By statistic family", importance.by_family), ("By layer role", importance.by_role),
                          ("Top 30 features", importance.features.head(30))])


def _similarity(table: FeatureTable, zoo: Path | None, config: ReportConfig) -> pd.DataFrame:
    """The good-vs-poor test on the table's features and, when the checkpoints are at hand, on
    the scale-free ``learned`` statistics of the zoo's runs (``features`` column); a
    ``transfer`` table holds them already, and from v2 on the ``alignment`` statistics too."""
    tables = {table.schema: table}
    scale_free = [p for p in schema_parts(table.schema, table.schema_version) if p != "agnostic"]
    if scale_free:
        tables.update({p: table.select(p) for p in scale_free})
    elif zoo is not None and table.schema != "learned":
        tables["learned"] = zoo_features(zoo, "learned")
    parts = []
    for name, t in tables.items():
        part = analysis.similarity_test(t, quantile=config.quantile, permutations=config.permutations,
                                        random_state=config.random_state)
        if len(tables) > 1:
            part["conclusion"] = f"With the {name} features, " + part["conclusion"]
        parts.append(part.assign(features=name))
    return pd.concat(parts, ignore_index=True)


def _analysis_section(table: FeatureTable, zoo: Path | None, importance: Importance,
                      config: ReportConfig, out: Path) -> tuple[Section, pd.DataFrame, pd.DataFrame]:
    similarity = _similarity(table, zoo, config)
    correlations = analysis.accuracy_correlations(table)
    dynamics = analysis.learning_dynamics(table, _dynamics_features(importance, table, config.dynamics_features),
                                          quantile=config.quantile)
    for name, frame in (("similarity", similarity), ("correlations", correlations), ("dynamics", dynamics)):
        frame.to_csv(out / f"{name}.csv", index=False)
    figs, notes = [], [f"Good and poor runs: the top and bottom {config.quantile:.0%} by final test accuracy "
                       "within each dataset and family."]
    if zoo is not None:
        hist = analysis.weight_histograms(table, zoo, quantile=config.quantile, max_runs=config.max_histogram_runs)
        hist.to_csv(out / "histograms.csv", index=False)
        datasets = sorted(hist["dataset"].unique()) if len(hist) else []
        figs += [(f"weights_{d}", figures.histogram_figure(hist, d)) for d in datasets]
    else:
        notes.append("Weight histograms need the checkpoints: give the zoo folder (perfpredict report ZOO, "
                     "or --zoo ZOO with a feature table).")
    if len(similarity):
        figs.append(("similarity", figures.similarity_figure(similarity)))
    else:
        notes.append("Too few runs to compare good and poor ones: each (dataset, family) needs at least 4 "
                     "runs with 2 or more on each side.")
    figs.append(("correlations", figures.correlation_figure(correlations)))
    if len(dynamics):
        figs.append(("dynamics", figures.dynamics_figure(dynamics)))
    notes += list(similarity["conclusion"])
    section = Section("Good vs poor networks", notes, figs,
                      [("Similarity test", similarity.drop(columns="conclusion")),
                       ("Strongest correlations with accuracy",
                        correlations.loc[correlations["all"].abs().nlargest(20).index])])
    return section, similarity, correlations


def build_report(table: FeatureTable, out: str | os.PathLike[str], *, bundle: PredictorBundle | None = None,
                 zoo: str | os.PathLike[str] | None = None, config: ReportConfig = ReportConfig(),
                 provenance: Mapping[str, Any] | None = None) -> Path:
    """Write the report of a zoo's feature table to the folder ``out``; return ``index.html``.

    Parameters
    ----------
    table : FeatureTable
        Features of a zoo (with run ids, epochs, families, datasets and accuracies).
    bundle : PredictorBundle, optional
        Predictor to explain. Default: predictors fitted here on a run split of ``table``.
    zoo : path, optional
        The zoo folder, for weight histograms (they need the checkpoints).
    config : ReportConfig
        Settings, written to ``report_config.json``.
    provenance : mapping, optional
        Listed at the end of the page (zoo, features file, predictor, ...).
    """
    table.require([TARGET, "run_id", "epoch", "family", "dataset"], "write a report")
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    with rc_context(_FONTS):  # for the figures made here only
        return _build(table, folder, bundle, zoo, config, provenance)


def _build(table: FeatureTable, folder: Path, bundle: PredictorBundle | None, zoo: str | os.PathLike[str] | None,
           config: ReportConfig, provenance: Mapping[str, Any] | None) -> Path:
    held = _held_out(table, bundle, config)
    X = held.bundle.table_inputs(table).iloc[held.rows].reset_index(drop=True)
    y = table.frame[TARGET].to_numpy(dtype=float)[held.rows]
    importance = feature_importance(held.bundle, X, y, correlation=config.correlation, repeats=config.repeats,
                                    random_state=config.random_state)
    importance.features.to_csv(folder / "importance.csv", index=False)
    importance.by_family.to_csv(folder / "importance_by_family.csv", index=False)
    importance.by_role.to_csv(folder / "importance_by_role.csv", index=False)
    write_json_atomic(folder / "importance.json", importance.to_dict())
    write_json_atomic(folder / "report_config.json", asdict(config))
    predictions = {m: held.bundle.predict(X, m) for m in held.bundle.models}
    verdicts = _verdicts(held, X, table)
    outside = None if verdicts is None else verdicts == "outside"
    halfwidths = {m: held.bundle.halfwidths(m, X) for m in predictions}
    scores = pd.DataFrame([{"model": m, **regression_metrics(y, p, halfwidths[m], outside)}
                           for m, p in predictions.items()])
    scores.to_csv(folder / "metrics.csv", index=False)
    domain = _domain_table(verdicts, y, predictions, halfwidths)
    domain.to_csv(folder / "domain.csv", index=False)
    good_poor, similarity, correlations = _analysis_section(table, None if zoo is None else Path(zoo),
                                                            importance, config, folder)
    sections = [
        Section("Summary", _summary(table, held, importance, similarity, correlations)),
        Section("Prediction", [held.note, _DOMAIN_NOTE],
                [("predicted_vs_actual", figures.predicted_vs_actual_figure(
                    y, predictions, families=table.frame["family"].to_numpy()[held.rows], halfwidths=halfwidths))],
                [("Held-out scores" + (f"; coverage and width of the {held.bundle.coverage:.0%} intervals"
                                       if held.bundle.coverage else ""), scores),
                 ("Domain verdicts of the held-out checkpoints", domain)]),
        _importance_section(held, X, importance),
        good_poor,
        _glossary_section(importance, correlations, _dynamics_features(importance, table, config.dynamics_features)),
    ]
    info = {"perfpredict": __version__, "features": f"{table.schema} v{table.schema_version}",
            "checkpoints": len(table.frame), "runs": table.frame["run_id"].nunique(),
            "predictor training runs (SHA-256)": held.bundle.info.get("training_runs_sha256"),
            "settings": json.dumps(asdict(config)), **(provenance or {})}
    return write_page(folder, "perfpredict report", sections, info)
