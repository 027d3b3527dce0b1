"""Reports: importance measures on data with a known answer, the good-vs-poor analysis, and the
page itself, rendered in headless Chromium."""

import html
import json
import os
import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from conftest import run_cli as _cli

from perfpredict.predictor.bundles import PredictorBundle
from perfpredict.features.schema import get_schema
from perfpredict.features.table import FeatureTable
from perfpredict.predictor.models import AccuracyPredictor
from perfpredict.report import (ReportConfig, accuracy_correlations, correlated_groups,
                                describe_feature, feature_importance, quality_labels, shap_values,
                                similarity_test)
from perfpredict.report import figures
from perfpredict.report.taxonomy import explain_feature
from perfpredict.zoo import SearchSpace, ZooSpec, generate_zoo

AGNOSTIC = list(get_schema("agnostic").fixed_names)


def test_every_agnostic_feature_has_a_statistic_family():
    kinds = [describe_feature(n) for n in AGNOSTIC]
    assert {k.family for k in kinds} == {"location", "spread", "shape", "quantiles", "norms", "spectral",
                                         "node strength", "architecture"}
    assert describe_feature("hidden.node_in_gini.max") == ("node_in_gini", "node strength", "hidden")
    assert describe_feature("head.weight.q25") == ("q25", "quantiles", "head.weight")  # a per-tensor name
    assert describe_feature("dataset=mnist").family == "dataset"


def test_correlated_features_are_grouped():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=200), rng.normal(size=200)
    X = pd.DataFrame({"a": a, "a_cubed": a ** 3, "minus_a": -a, "b": b, "const": 1.0, "empty": np.nan})
    groups = correlated_groups(X, correlation=0.9)
    assert groups[0] == groups[1] == groups[2]  # rank-identical, whatever the sign
    assert len({groups[0], groups[3], groups[4], groups[5]}) == 4


def _synthetic(n_runs=60, seed=0):
    """Accuracy driven by one spectral statistic (and a perfect copy of it); the rest is noise."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n_runs, 6)),
                     columns=["all.alpha.mean", "first.alpha", "global.std", "head.kurtosis", "global.q50",
                              "network.n_layers"])
    X["first.alpha"] = 2 * X["all.alpha.mean"] + 1
    y = 1 / (1 + np.exp(-1.5 * X["all.alpha.mean"].to_numpy())) + rng.normal(scale=0.02, size=n_runs)
    return X, np.clip(y, 0, 1)


def test_importance_finds_the_statistic_that_drives_accuracy():
    X, y = _synthetic()
    models = {m: AccuracyPredictor(m, n_estimators=200, tune=False).fit(X[:40], y[:40]) for m in ("xgboost", "linear")}
    bundle = PredictorBundle(models, "agnostic", 2, list(X.columns))
    imp = feature_importance(bundle, X[40:], y[40:], repeats=5)
    by_family = imp.by_family.set_index("family")
    for column in ("xgboost_gain", "xgboost_shap", "xgboost_permutation", "linear_abs_share", "linear_permutation"):
        assert by_family[column].idxmax() == "spectral", column
    feats = imp.features.set_index("feature")
    assert feats.loc["all.alpha.mean", "group"] == feats.loc["first.alpha", "group"]  # permuted together
    assert feats.loc["all.alpha.mean", "xgboost_permutation"] > 0.5 > feats["xgboost_permutation"].drop(
        ["all.alpha.mean", "first.alpha"]).abs().max()
    assert imp.by_role.set_index("role").loc["global", "n_features"] == 2
    assert imp.scores.set_index("model").loc["xgboost", "r2"] > 0.8
    json.dumps(imp.to_dict())  # JSON-ready


@pytest.mark.parametrize("n_fits", [1, 3])
def test_shap_values_add_up_to_the_prediction(n_fits):
    X, y = _synthetic()
    pred = AccuracyPredictor("xgboost", n_estimators=100, tune=False, n_fits=n_fits).fit(X, y)
    shap = shap_values(pred, X)
    raw = np.mean([b.predict(X.to_numpy()) for b in pred.boosters_], axis=0)
    bias = raw - shap.sum(axis=1)
    np.testing.assert_allclose(bias, bias[0], atol=1e-5)  # the same base value for every row


def _table(features: pd.DataFrame, acc: np.ndarray, family="mlp", dataset="mnist", epochs=(3,)) -> FeatureTable:
    rows = []
    for i, a in enumerate(acc):
        for e in epochs:
            rows.append({"run_id": f"{family}{i:03d}", "epoch": e, "family": family, "dataset": dataset,
                         "status": "ok", "test_accuracy": a * (e + 1) / (max(epochs) + 1),
                         **features.iloc[i].to_dict()})
    return FeatureTable(pd.DataFrame(rows), "agnostic", 2, list(features.columns))


def test_quality_labels_take_the_top_and_bottom_quarter_per_cell():
    acc = np.linspace(0.1, 0.9, 8)
    table = _table(pd.DataFrame({"global.std": np.arange(8.0)}), acc)
    labels = quality_labels(table.frame)
    assert list(labels[["mlp000", "mlp001"]]) == ["poor", "poor"]
    assert list(labels[["mlp006", "mlp007"]]) == ["good", "good"]
    assert labels.isna().sum() == 4


def test_similarity_test_detects_tight_good_runs_and_not_random_labels():
    rng = np.random.default_rng(1)
    n, d = 40, 12
    acc = rng.uniform(0.1, 0.9, n)
    spread = np.where(acc > np.quantile(acc, 0.75), 0.2, 1.0)[:, None]
    names = [f"all.{s}.mean" for s in ("std", "skew", "kurtosis", "q5", "q95", "l2", "alpha", "stable_rank",
                                       "node_in_gini", "entropy", "q25", "q75")]
    tight = _table(pd.DataFrame(rng.normal(size=(n, d)) * spread, columns=names), acc)
    result = similarity_test(tight, permutations=499).iloc[0]
    assert result["ratio"] < 0.5 and result["p_value"] < 0.01
    assert "more alike" in result["conclusion"] and "significant at 5%" in result["conclusion"]
    same = _table(pd.DataFrame(rng.normal(size=(n, d)), columns=names), acc)
    assert similarity_test(same, permutations=499).iloc[0]["p_value"] > 0.05


def test_correlations_have_the_right_sign_per_family():
    acc = np.linspace(0.1, 0.9, 10)
    feats = pd.DataFrame({"global.std": acc ** 2, "global.mean": -acc, "global.q50": 0.0})
    table = _table(feats, acc)
    corr = accuracy_correlations(table).set_index("feature")
    assert corr.loc["global.std", "mlp"] == pytest.approx(1.0)
    assert corr.loc["global.mean", "all"] == pytest.approx(-1.0)
    assert np.isnan(corr.loc["global.q50", "mlp"])  # constant: no correlation


def test_figure_functions_return_figures_without_pyplot_state():
    import matplotlib.pyplot as plt

    X, y = _synthetic()
    fig = figures.predicted_vs_actual_figure(y, {"xgboost": y})
    assert isinstance(fig, Figure) and plt.get_fignums() == []
    families = np.where(np.arange(len(y)) % 2, "mlp", "cnn")
    fig = figures.predicted_vs_actual_figure(y, {"xgboost": y}, families=families,
                                             halfwidths={"xgboost": np.full(len(y), 0.1)})
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["cnn", "mlp"]  # coloured by family
    assert len(ax.collections) == 4  # per family: its intervals and its points
    shap = figures.shap_figure(np.random.default_rng(0).normal(size=X.shape), X)
    assert len(shap.axes) == 2 and "feature value" in shap.axes[1].get_ylabel()  # with its colour bar
    assert shap.axes[0].get_xlabel() == "SHAP value (effect on predicted accuracy)"
    logit = figures.shap_figure(np.random.default_rng(0).normal(size=X.shape), X, link="logit")
    assert "logit of the predicted accuracy" in logit.axes[0].get_xlabel()
    assert plt.get_fignums() == []


@pytest.fixture(scope="module")
def report_zoo(tmp_path_factory):
    """Digits zoo with 6 runs per family: enough for good and poor quarters."""
    spec = ZooSpec(name="rep", datasets=("digits",), families=("mlp", "cnn"), runs_per_group=6, epochs=2, seed=5,
                   max_train_samples=300, ensemble_size=3, space=SearchSpace(lr_range=(1e-3, 0.1)))
    out = tmp_path_factory.mktemp("rep") / "zoo"
    generate_zoo(spec, out, workers=0)
    return out


@pytest.fixture(scope="module")
def report_dir(report_zoo, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    result = _cli("report", report_zoo, "-o", out)
    assert result.returncode == 0, result.stderr
    return out


def test_report_writes_page_figures_and_tables(report_dir):
    names = {p.name for p in report_dir.iterdir()}
    assert {"index.html", "importance.csv", "importance.json", "importance_by_family.csv", "importance_by_role.csv",
            "metrics.csv", "similarity.csv", "correlations.csv", "dynamics.csv", "histograms.csv",
            "report_config.json"} <= names
    figs = {p.stem for p in (report_dir / "figures").glob("*.png")}
    assert {"predicted_vs_actual", "shap_values", "importance_by_family", "importance_by_role", "weights_digits",
            "similarity", "correlations", "dynamics"} <= figs
    payload = json.loads((report_dir / "importance.json").read_text())
    assert {r["model"] for r in payload["scores"]} == {"xgboost", "linear"}
    assert {r["family"] for r in payload["by_family"]} >= {"quantiles", "spectral", "node strength"}
    similarity = pd.read_csv(report_dir / "similarity.csv")
    assert set(similarity["scope"]) == {"mlp", "cnn", "all families"}
    assert set(similarity["features"]) == {"transfer", "learned", "alignment"}  # a transfer v2 table holds them
    prefixes = tuple(f"With the {s} features, " for s in set(similarity["features"]))
    assert similarity["conclusion"].str.startswith(prefixes).all()
    page = (report_dir / "index.html").read_text()
    for conclusion in similarity["conclusion"]:
        assert html.escape(conclusion) in page
    hist = pd.read_csv(report_dir / "histograms.csv")
    widths = hist["right"] - hist["left"]
    mass = (hist["density"] * widths).groupby([hist["family"], hist["position"], hist["quality"]]).sum()
    np.testing.assert_allclose(mass, 1.0, rtol=1e-6)  # each histogram is a density
    assert json.loads((report_dir / "report_config.json").read_text()) == json.loads(
        json.dumps(ReportConfig().__dict__))
    top = pd.read_csv(report_dir / "importance.csv")["feature"].iloc[0]
    assert html.escape(explain_feature(top)) in page and "Glossary" in page  # every name on the page explained
    domain = pd.read_csv(report_dir / "domain.csv")
    assert list(domain["verdict"]) == ["in_domain", "edge", "outside"]
    metrics = pd.read_csv(report_dir / "metrics.csv")
    assert domain["checkpoints"].sum() == metrics["n"].iloc[0]
    assert (metrics["covered_or_outside"] >= metrics["coverage"]).all()
    assert "Domain verdicts of the held-out checkpoints" in page


def test_report_of_a_given_predictor(report_zoo, tmp_path):
    feats, pred = tmp_path / "f.parquet", tmp_path / "pred"
    assert _cli("features", report_zoo, "-o", feats).returncode == 0
    assert _cli("fit", feats, "-o", pred, "--models", "linear").returncode == 0
    result = _cli("report", feats, "--predictor", pred, "--zoo", report_zoo, "-o", tmp_path / "r")
    assert result.returncode == 0, result.stderr
    page = (tmp_path / "r" / "index.html").read_text()
    assert "its own" in page and "held-out runs" in page
    held_out = json.loads((pred / "manifest.json").read_text())["info"]["test_runs"]
    assert pd.read_csv(tmp_path / "r" / "metrics.csv")["n"].iloc[0] == 3 * len(held_out)  # 3 checkpoints a run

    assert _cli("fit", feats, "-o", tmp_path / "all", "--test-size", "0", "--models", "linear").returncode == 0
    result = _cli("report", feats, "--predictor", tmp_path / "all", "-o", tmp_path / "r2")
    assert result.returncode == 1 and "training runs" in result.stderr and "Traceback" not in result.stderr

    assert _cli("features", report_zoo, "-o", tmp_path / "s.parquet", "--schema", "statnn").returncode == 0
    result = _cli("report", tmp_path / "s.parquet", "--predictor", pred, "-o", tmp_path / "r3")
    assert result.returncode == 1 and "re-extract with --schema transfer" in result.stderr


_CHECK = """<script>
window.__errors = [];
window.addEventListener("error", e => window.__errors.push(String(e.message || (e.target && e.target.tagName))), true);
window.addEventListener("load", () => {
  const images = [...document.images];
  document.body.setAttribute("data-check", JSON.stringify({
    images: images.length, broken: images.filter(i => !(i.complete && i.naturalWidth > 0)).length,
    errors: window.__errors, sections: document.querySelectorAll("h2").length,
    overflow: document.documentElement.scrollWidth > document.documentElement.clientWidth,
    unboxed: document.querySelectorAll("table").length - document.querySelectorAll(".scroll > table").length}));
});
</script>"""


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium must be installed in CI (.ci/run installs Debian's chromium)")
        pytest.skip("install chromium to render the report")
    return path


def _headless(chromium: str, profile, *args: str) -> subprocess.CompletedProcess:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}"]
    return subprocess.run([chromium, *flags, *args], capture_output=True, text=True, timeout=120)


def test_report_renders_in_headless_chromium(report_dir, tmp_path):
    chromium = _chromium()
    page = (report_dir / "index.html").read_text()
    checked = tmp_path / "check.html"
    checked.write_text(page.replace("<head>", "<head>" + _CHECK, 1))
    dom = _headless(chromium, tmp_path / "profile", "--virtual-time-budget=10000", "--dump-dom", checked.as_uri())
    found = re.search(r'data-check="([^"]*)"', dom.stdout)
    assert found, dom.stderr[-2000:]
    check = json.loads(html.unescape(found.group(1)))
    n_figures = len(list((report_dir / "figures").glob("*.png")))
    # wide tables scroll in their own boxes: the page itself never scrolls sideways
    assert check == {"images": n_figures, "broken": 0, "errors": [], "sections": 6, "overflow": False, "unboxed": 0}
    shot = tmp_path / "page.png"
    _headless(chromium, tmp_path / "profile2", "--window-size=1200,2400", f"--screenshot={shot}",
              (report_dir / "index.html").as_uri())
    from matplotlib.image import imread

    pixels = imread(shot)
    assert pixels.shape[:2] == (2400, 1200) and pixels.std() > 0.05  # text and figures, not a blank page


def test_similarity_of_an_agnostic_table_adds_the_learned_statistics_of_its_zoo(report_zoo):
    from perfpredict.features import zoo_features
    from perfpredict.report.build import ReportConfig, _similarity

    table = zoo_features(report_zoo, "agnostic")
    config = ReportConfig(permutations=50)
    assert set(_similarity(table, report_zoo, config)["features"]) == {"agnostic", "learned"}  # from the checkpoints
    assert set(_similarity(table, None, config)["features"]) == {"agnostic"}  # no checkpoints at hand
