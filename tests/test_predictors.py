import json

import numpy as np
import pandas as pd
import pytest

from perfpredict.errors import BundleError, PerfPredictError, SchemaMismatchError
from perfpredict.predictor.bundles import PredictorBundle, load_bundle, save_bundle
from perfpredict.predictor.models import AccuracyPredictor


def _data(n=300, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 5)), columns=list("abcde"))
    y = 1 / (1 + np.exp(-(X["a"] - 0.5 * X["b"])))
    X.loc[::7, "c"] = np.nan
    return X, y.to_numpy()


@pytest.mark.parametrize("model", ["xgboost", "linear", "lasso", "logit_linear"])
@pytest.mark.parametrize("grouped", [False, True])
def test_predictors_learn(model, grouped):
    X, y = _data()
    Xt, yt = _data(seed=1)
    pred = AccuracyPredictor(model).fit(X, y, groups=np.arange(len(y)) // 6 if grouped else None)
    r2 = 1 - ((pred.predict(Xt) - yt) ** 2).sum() / ((yt - yt.mean()) ** 2).sum()
    assert r2 > 0.9
    assert pred.predict(Xt * 100).max() <= 1 and pred.predict(Xt * 100).min() >= 0


def test_linear_export_matches_sklearn_pipeline():
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = _data()
    pred = AccuracyPredictor("linear").fit(X, y)
    ref = make_pipeline(SimpleImputer(strategy="median"), StandardScaler(), Ridge(alpha=pred.linear_["alpha"])).fit(X, y)
    np.testing.assert_allclose(pred.predict(X), np.clip(ref.predict(X), 0, 1), atol=1e-10)


def test_logit_linear_recovers_a_logistic_law():
    X, y = _data()
    pred = AccuracyPredictor("logit_linear").fit(X, y)
    coef = dict(zip(X.columns, pred.linear_["coef"] / pred.linear_["scale"]))
    assert coef["a"] == pytest.approx(1, abs=0.02) and coef["b"] == pytest.approx(-0.5, abs=0.02)
    lasso = AccuracyPredictor("lasso").fit(X.assign(noise=np.random.default_rng(5).normal(size=len(y))), y)
    assert abs(lasso.linear_["coef"][-1]) < 1e-3  # an irrelevant feature is dropped


def test_xgboost_on_the_logit_fits_logits_and_predicts_accuracies(tmp_path):
    X, y = _data()
    Xt, yt = _data(seed=1)
    plain = AccuracyPredictor("xgboost", tune=False).fit(X, y)
    logit = AccuracyPredictor("xgboost", tune=False, link="logit").fit(X, y)
    raw = logit.boosters_[0].predict(logit.feature_matrix(Xt))
    assert raw.min() < -1 and raw.max() > 1  # the trees' outputs are logits, not accuracies
    np.testing.assert_allclose(logit.predict(Xt), 1 / (1 + np.exp(-raw)), rtol=1e-6)
    for pred in (plain, logit):
        assert 1 - ((pred.predict(Xt) - yt) ** 2).sum() / ((yt - yt.mean()) ** 2).sum() > 0.9
    save_bundle(PredictorBundle({"xgboost": logit}, "agnostic", 1, list(X.columns), {}), tmp_path / "b")
    np.testing.assert_array_equal(load_bundle(tmp_path / "b").predict(Xt), logit.predict(Xt))
    with pytest.raises(PerfPredictError, match="link"):
        AccuracyPredictor("xgboost", link="probit").fit(X, y)


def test_bundles_older_than_the_link_load_as_fitted_on_the_accuracy(tmp_path):
    X, y = _data()
    plain = AccuracyPredictor("xgboost", tune=False).fit(X, y)
    save_bundle(PredictorBundle({"xgboost": plain}, "agnostic", 1, list(X.columns), {}), tmp_path / "b")
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    del manifest["models"]["xgboost"]["params"]["link"]  # as written before the option existed
    (tmp_path / "b" / "manifest.json").write_text(json.dumps(manifest))
    np.testing.assert_array_equal(load_bundle(tmp_path / "b").predict(X), plain.predict(X))


def test_averaged_fits_average_logits_of_seeded_boosters_and_depend_less_on_the_seed():
    X, y = _data(n=120)
    y = np.clip(y + np.random.default_rng(3).normal(0, 0.08, len(y)), 0.01, 0.99)  # noisy: seeds matter
    Xt, _ = _data(seed=1)
    runs = np.arange(len(y)) // 4
    three = AccuracyPredictor("xgboost", tune=False, link="logit", n_fits=3, random_state=5).fit(X, y, runs)
    assert [b.get_params()["random_state"] for b in three.boosters_] == [5, 6, 7]
    raw = np.mean([b.predict(three.feature_matrix(Xt)) for b in three.boosters_], axis=0)
    np.testing.assert_allclose(three.predict(Xt), 1 / (1 + np.exp(-raw)), rtol=1e-6)
    one = AccuracyPredictor("xgboost", tune=False, link="logit", random_state=5).fit(X, y, runs)
    np.testing.assert_array_equal(one.boosters_[0].predict(one.feature_matrix(Xt)),
                                  three.boosters_[0].predict(three.feature_matrix(Xt)))  # fit 0 is the single fit

    def spread(n_fits):  # mean over test rows of the prediction's standard deviation across seeds
        preds = [AccuracyPredictor("xgboost", tune=False, link="logit", n_fits=n_fits, random_state=10 * s)
                 .fit(X, y, runs).predict(Xt) for s in range(4)]
        return np.std(preds, axis=0).mean()

    assert spread(4) < 0.7 * spread(1)
    with pytest.raises(ValueError, match="n_fits"):
        AccuracyPredictor("xgboost", n_fits=0).fit(X, y)


def test_averaged_fits_round_trip_every_file_checked(tmp_path):
    X, y = _data()
    pred = AccuracyPredictor("xgboost", tune=False, n_fits=3).fit(X, y)
    save_bundle(PredictorBundle({"xgboost": pred}, "agnostic", 1, list(X.columns), {}), tmp_path / "b")
    assert sorted(p.name for p in (tmp_path / "b").glob("*.ubj")) == ["xgboost.1.ubj", "xgboost.2.ubj", "xgboost.ubj"]
    again = load_bundle(tmp_path / "b")
    assert len(again.models["xgboost"].boosters_) == 3
    np.testing.assert_array_equal(again.predict(X), pred.predict(X))
    (tmp_path / "b" / "xgboost.2.ubj").write_bytes(b"altered")
    with pytest.raises(BundleError, match="xgboost.2.ubj was altered"):
        load_bundle(tmp_path / "b")


def test_format_2_bundles_still_load(tmp_path):
    X, y = _data()
    pred = AccuracyPredictor("xgboost", tune=False).fit(X, y)
    save_bundle(PredictorBundle({"xgboost": pred}, "agnostic", 1, list(X.columns), {}), tmp_path / "b")
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    entry = manifest["models"]["xgboost"]
    entry.update(entry.pop("files")[0])  # format 2: one file, named in the model's entry
    manifest["format_version"] = 2
    (tmp_path / "b" / "manifest.json").write_text(json.dumps(manifest))
    np.testing.assert_array_equal(load_bundle(tmp_path / "b").predict(X), pred.predict(X))
    manifest["format_version"] = 9
    (tmp_path / "b" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="reads version 2 or 3"):
        load_bundle(tmp_path / "b")


def _bundle():
    X, y = _data()
    models = {m: AccuracyPredictor(m).fit(X, y) for m in ("xgboost", "linear", "lasso", "logit_linear")}
    return PredictorBundle(models, "agnostic", 1, list(X.columns), {"note": "test"}), X


def test_bundle_round_trip_has_no_pickle(tmp_path):
    bundle, X = _bundle()
    save_bundle(bundle, tmp_path / "b")
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["lasso.json", "linear.json", "logit_linear.json",
                                                                  "manifest.json", "xgboost.ubj"]
    for p in (tmp_path / "b").iterdir():
        assert not p.read_bytes().startswith(b"\x80")  # no pickle protocol header
    again = load_bundle(tmp_path / "b")
    for m in ("xgboost", "linear", "lasso", "logit_linear"):
        np.testing.assert_array_equal(again.predict(X, m), bundle.predict(X, m))
    assert again.info == {"note": "test"} and again.feature_names == list("abcde")


def test_altered_bundle_is_refused(tmp_path):
    bundle, _ = _bundle()
    save_bundle(bundle, tmp_path / "b")
    coef = json.loads((tmp_path / "b" / "linear.json").read_text())
    coef["intercept"] += 1
    (tmp_path / "b" / "linear.json").write_text(json.dumps(coef))
    with pytest.raises(BundleError, match="altered"):
        load_bundle(tmp_path / "b")
    with pytest.raises(BundleError, match="no manifest"):
        load_bundle(tmp_path)


def test_schema_and_column_mismatch():
    bundle, X = _bundle()
    with pytest.raises(SchemaMismatchError, match="statnn"):
        bundle.check_features("statnn", 1)
    bundle.check_features("agnostic", 1)
    with pytest.raises(SchemaMismatchError, match="lack"):
        bundle.predict(X.drop(columns=["b"]))


def test_feature_matrix_puts_columns_in_fitting_order():
    X, y = _data()
    pred = AccuracyPredictor("linear").fit(X, y)
    shuffled = X[["e", "c", "a", "d", "b"]].assign(extra=1.0)
    np.testing.assert_array_equal(pred.feature_matrix(shuffled), X.to_numpy())
    np.testing.assert_array_equal(pred.predict(shuffled), pred.predict(X))
    with pytest.raises(SchemaMismatchError, match="expected 5 features"):
        pred.feature_matrix(X.to_numpy()[:, :4])


def test_xgboost_is_tuned_on_grouped_folds_with_early_stopping():
    from perfpredict.predictor.tuning import XGB_GRID

    X, y = _data(n=360)
    runs = np.arange(len(y)) // 10  # 36 runs of 10 checkpoints
    pred = AccuracyPredictor("xgboost", n_estimators=3000, learning_rate=0.1).fit(X, y, groups=runs)
    assert len(pred.cv_results_) == len(XGB_GRID)
    best = min(pred.cv_results_, key=lambda r: r["cv_rmse"])
    assert pred.best_params_["max_depth"] == best["max_depth"]
    assert 1 <= pred.best_params_["n_estimators"] < 3000  # stopped early
    assert pred.boosters_[0].get_booster().num_boosted_rounds() == pred.best_params_["n_estimators"]
    untuned = AccuracyPredictor("xgboost", n_estimators=3000, tune=False).fit(X, y, groups=runs)
    assert untuned.cv_results_ == [] and untuned.best_params_["n_estimators"] < 3000
    assert AccuracyPredictor("xgboost", n_estimators=50).fit(X, y).best_params_["n_estimators"] == 50


@pytest.mark.parametrize("tune", [True, False])
def test_fit_bundle_tunes_xgboost_unless_told_not_to(tune):
    from perfpredict.features import FeatureTable
    from perfpredict.predictor.tuning import XGB_GRID
    from perfpredict.workflows import fit_bundle

    X, y = _data(n=360)
    frame = X.assign(run_id=[f"r{i // 10}" for i in range(len(y))], test_accuracy=y)
    result = fit_bundle(FeatureTable(frame, "agnostic", 1, list(X.columns)), ("xgboost",), tune=tune)
    assert len(result.bundle.models["xgboost"].cv_results_) == (len(XGB_GRID) if tune else 0)
    assert result.bundle.info["tuned"] is tune and result.metrics["r2"].iloc[0] > 0.8


def test_bundle_intervals_are_per_stratum(tmp_path):
    from perfpredict.features import FeatureTable
    from perfpredict.workflows import fit_bundle

    X, y = _data(n=800)
    run = np.arange(len(y)) // 4
    dataset = np.where(run % 2 == 0, "cifar10", "mnist")
    y = np.clip(y + np.where(dataset == "mnist", 0.1, 0.01) * np.random.default_rng(2).normal(size=len(y)), 0, 1)
    frame = X.assign(run_id=run.astype(str), test_accuracy=y, dataset=dataset)
    fitted = fit_bundle(FeatureTable(frame, "agnostic", 1, list(X.columns)), ("linear",)).bundle
    save_bundle(fitted, tmp_path / "b")
    bundle = load_bundle(tmp_path / "b")
    own = bundle.info["intervals"]["halfwidth_by_stratum"]["linear"]
    assert set(own) == {"cifar10", "mnist"} and own["mnist"] > 3 * own["cifar10"]
    overall = bundle.info["intervals"]["halfwidth"]["linear"]
    assert own["cifar10"] < overall < own["mnist"] and bundle.halfwidths("linear") == overall
    X = bundle.table_inputs(FeatureTable(frame.iloc[[0, 4]], "agnostic", 1, list("abcde")))  # cifar10, mnist
    lo, hi = bundle.intervals(np.array([0.5, 0.5]), "linear", X)
    with pytest.raises(PerfPredictError, match=r"pass the inputs the predictions were made from"):
        bundle.intervals(np.array([0.5, 0.5]), "linear")
    assert hi - lo == pytest.approx([2 * own["cifar10"], 2 * own["mnist"]])


def test_predict_table_checks_the_schema(tiny_zoo):
    from perfpredict.features import zoo_features
    from perfpredict.workflows import fit_bundle

    table = zoo_features(tiny_zoo)
    bundle = fit_bundle(table, ("linear",)).bundle
    np.testing.assert_allclose(bundle.predict_table(table, "linear"), bundle.predict(table.X, "linear"))
    with pytest.raises(SchemaMismatchError, match="re-extract with --schema transfer"):
        bundle.predict_table(zoo_features(tiny_zoo, "statnn"), "linear")
