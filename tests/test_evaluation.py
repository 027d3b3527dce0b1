import numpy as np
import pandas as pd
import pytest

from perfpredict.errors import PerfPredictError
from perfpredict.evaluation import evaluate, iter_splits, regression_metrics, run_split
from perfpredict.features import zoo_features
from perfpredict.predictor.models import AccuracyPredictor


def test_metrics():
    m = regression_metrics([0.1, 0.5, 0.9], [0.1, 0.5, 0.9])
    assert m["r2"] == 1 and m["kendall_tau"] == pytest.approx(1) and m["mae_points"] == 0
    assert regression_metrics([0.1, 0.5], [0.2, 0.4])["mae_points"] == pytest.approx(10)
    assert regression_metrics([0.1, 0.5, 0.7, 0.9], [0.2, 0.1, 0.3, 0.4])["spearman_rho"] == pytest.approx(0.8)


def test_run_split_keeps_runs_together():
    frame = pd.DataFrame({"run_id": np.repeat(list("abcdefgh"), 5)})
    train, test = run_split(frame, 0.25, 0)
    assert set(frame.run_id[train]).isdisjoint(frame.run_id[test])
    assert len(train) + len(test) == len(frame) and len(set(frame.run_id[test])) == 2


def test_leave_one_family_out():
    frame = pd.DataFrame({"run_id": list("abcdef"), "family": ["mlp", "mlp", "cnn", "cnn", "vit", "vit"]})
    folds = list(iter_splits(frame, "family"))
    assert [f for f, _, _ in folds] == ["family=cnn", "family=mlp", "family=vit"]
    for _, train, test in folds:
        assert set(frame.family[train]).isdisjoint(frame.family[test])
    with pytest.raises(PerfPredictError, match="at least 2"):
        list(iter_splits(frame.assign(family="mlp"), "family"))


def test_evaluate_on_zoo(tiny_zoo):
    metrics = evaluate(zoo_features(tiny_zoo), "family")
    overall = metrics[metrics.subset == "all"]
    assert len(overall) == 6 and set(overall.model) == {"xgboost", "linear"}
    assert overall["n"].sum() == 2 * 27
    per_family = metrics[metrics.subset.str.startswith("family=")]
    assert (per_family.set_index(["fold", "model"])["n"] == overall.set_index(["fold", "model"])["n"]).all()
    assert metrics["spearman_rho"].notna().any() and metrics["coverage"].between(0, 1).all()


def test_repeated_evaluation_is_one_evaluation_per_seed_and_summarizes_them(tiny_zoo):
    from perfpredict.evaluation import evaluate_repeated, summarize

    table = zoo_features(tiny_zoo)
    rows = evaluate_repeated(table, 3, split="run", models=("linear",), random_state=5)
    assert sorted(rows["seed"].unique()) == [5, 6, 7]
    one = evaluate(table, "run", ("linear",), random_state=6)
    pd.testing.assert_frame_equal(rows[rows["seed"] == 6].drop(columns="seed").reset_index(drop=True), one)
    overall = rows[rows["subset"] == "all"]
    mean, spread = summarize(overall), summarize(overall, "std")
    assert len(mean) == len(spread) == 1 and "seed" not in mean
    assert mean["r2"].iloc[0] == pytest.approx(overall["r2"].mean())
    assert spread["mae_points"].iloc[0] == pytest.approx(overall["mae_points"].std())


def test_evaluate_fits_xgboost_with_the_threads_given(tiny_zoo, monkeypatch):
    import perfpredict.evaluation as evaluation

    threads, fit = [], evaluation.fit_calibrated

    def recording(*args, **kwargs):
        pred, calibration = fit(*args, **kwargs)
        threads.append(pred.boosters_[0].get_params()["n_jobs"])
        return pred, calibration

    monkeypatch.setattr(evaluation, "fit_calibrated", recording)
    evaluate(zoo_features(tiny_zoo), "family", ("xgboost",), tune=False, n_jobs=1)
    assert threads == [1, 1, 1]


def test_epoch_split_trains_on_final_and_tests_on_earlier_checkpoints():
    frame = pd.DataFrame({"run_id": np.repeat(list("abcdefgh"), 3), "epoch": np.tile([0, 1, 4], 8)})
    folds = list(iter_splits(frame, "epoch", test_size=0.25, random_state=0))
    assert len(folds) == 1
    _, train, test = folds[0]
    assert (frame.epoch[train] == 4).all() and len(train) == 6
    assert (frame.epoch[test] < 4).all() and len(test) == 4
    assert set(frame.run_id[train]).isdisjoint(frame.run_id[test])


def test_conformal_halfwidth_and_coverage():
    from perfpredict.predictor.intervals import conformal_halfwidth, fit_calibrated

    assert conformal_halfwidth(np.arange(1, 10) / 100, 0.9) == pytest.approx(0.09)  # ceil(10 * .9) = 9th
    assert conformal_halfwidth([0.1, 0.2], 0.9) == 1.0  # too few errors: the whole range
    # Runs weigh equally, whatever their number of checkpoints: 20 one-checkpoint runs and one
    # run of 20 checkpoints, all 0.9 off. Per checkpoint, that run is half the mass.
    errors, runs = np.r_[np.arange(1, 21) / 100, np.full(20, 0.9)], np.r_[np.arange(20), np.full(20, 20)]
    assert conformal_halfwidth(errors, 0.9) == pytest.approx(0.9)  # the 37th of 40 checkpoints
    assert conformal_halfwidth(errors, 0.9, runs) == pytest.approx(0.20)  # 20 of 22 shares reach 0.9
    many = np.linspace(0.01, 0.5, 50)  # five runs of ten: 5 / 6 of the mass at most, never 0.9
    assert conformal_halfwidth(many, 0.9) < 0.5 and conformal_halfwidth(many, 0.9, np.repeat(range(5), 10)) == 1.0
    rng = np.random.default_rng(0)
    n_runs, per_run = 400, 4
    X = pd.DataFrame({"a": rng.normal(size=n_runs * per_run)})
    y = np.clip(0.5 + 0.1 * X["a"].to_numpy() + rng.normal(scale=0.05, size=len(X)), 0, 1)
    runs = np.repeat(np.arange(n_runs), per_run)
    train, test = runs < 300, runs >= 300
    pred, calibration = fit_calibrated("linear", X[train], y[train], runs[train], coverage=0.9)
    halfwidth = calibration.halfwidth
    assert 0.05 < halfwidth < 0.15 and calibration.by_stratum == {}  # about 1.645 noise standard deviations
    m = regression_metrics(y[test], pred.predict(X[test]), halfwidth)
    assert 0.85 <= m["coverage"] <= 0.95 and m["width_points"] == pytest.approx(200 * halfwidth, rel=0.05)


def test_refit_predicts_with_every_run_and_keeps_the_calibration():
    from perfpredict.predictor.intervals import fit_calibrated

    rng = np.random.default_rng(2)
    runs = np.repeat(np.arange(60), 3)
    X = pd.DataFrame({"a": rng.normal(size=len(runs)), "b": rng.normal(size=len(runs))})
    y = np.clip(0.5 + 0.1 * X["a"].to_numpy() + rng.normal(scale=0.05, size=len(X)), 0, 1)
    settings = dict(tune=False, link="logit", n_fits=2, n_jobs=1, random_state=3)
    first, calibrated = fit_calibrated("xgboost", X, y, runs, **settings)
    again, recalibrated = fit_calibrated("xgboost", X, y, runs, refit=True, **settings)
    every_run = AccuracyPredictor("xgboost", tune=False, link="logit", n_fits=2, n_jobs=1, random_state=3)
    np.testing.assert_array_equal(again.predict(X), every_run.fit(X, y, runs).predict(X))
    assert not np.array_equal(again.predict(X), first.predict(X))  # the first fit lacked the calibration runs
    assert recalibrated.halfwidth == calibrated.halfwidth and recalibrated.by_stratum == calibrated.by_stratum


def test_cross_conformal_calibrates_on_every_run_and_fits_on_all_of_them():
    """With folds, every training run calibrates: the half-width hardly depends on the seed
    (a split's depends on which fifth of the runs calibrates), coverage stays nominal and the
    predictor returned is fitted on every run."""
    from perfpredict.predictor.intervals import fit_calibrated

    rng = np.random.default_rng(4)
    runs = np.repeat(np.arange(300), 3)
    X = pd.DataFrame({"a": rng.normal(size=len(runs))})
    y = np.clip(0.5 + 0.05 * rng.normal(size=len(runs)), 0, 1)
    train, test = runs < 200, runs >= 200
    widths = {1: [], 5: []}
    for seed in range(6):
        for folds in widths:
            pred, cal = fit_calibrated("constant", X[train], y[train], runs[train], calibration_folds=folds,
                                       random_state=seed)
            widths[folds].append(cal.halfwidth)
    assert np.std(widths[5]) < 0.4 * np.std(widths[1]), widths
    assert pred.predict(X[:1])[0] == pytest.approx(y[train].mean())  # fitted on every run
    assert cal.domain is not None and 0.85 <= regression_metrics(y[test], pred.predict(X[test]),
                                                                 cal.halfwidths(X[test]))["coverage"] <= 0.95
    _, none = fit_calibrated("constant", X[runs < 4], y[runs < 4], runs[runs < 4], calibration_folds=5)
    assert np.isnan(none.halfwidth)  # 4 runs cannot fill 5 folds


def test_interval_strata_from_dataset_indicators_and_layer_counts():
    from perfpredict.predictor.intervals import interval_strata

    X = pd.DataFrame({"network.n_attention": [0, 2, 0, 0], "network.n_conv": [0, 1, 3, 0],
                      "dataset=cifar10": [1.0, 0, 0, 1], "dataset=mnist": [0.0, 1, 1, 0]})
    assert list(interval_strata(X)) == ["cifar10/dense", "mnist/attention", "mnist/conv", "cifar10/dense"]
    assert list(interval_strata(X.iloc[:, :2])) == ["dense", "attention", "conv", "dense"]
    assert list(interval_strata(X[["dataset=mnist"]])) == ["mnist"] * 4
    assert list(interval_strata(pd.DataFrame({"a": [1.0, 2.0]}))) == ["all", "all"]


def test_deep_convolutional_networks_are_a_stratum_within_conv():
    from perfpredict.predictor.intervals import Calibration, stratum_keys

    X = pd.DataFrame({"network.n_attention": [0, 0, 0, 2], "network.n_conv": [3, 9, 0, 9],
                      "dataset=mnist": [1.0, 1, 1, 1]})
    assert list(stratum_keys(X)) == ["mnist/conv", "mnist/conv/deep", "mnist/dense", "mnist/attention"]
    calibrated = Calibration(0.3, {"mnist/conv": 0.1, "mnist/conv/deep": 0.2})
    np.testing.assert_allclose(calibrated.halfwidths(X), [0.1, 0.2, 0.3, 0.3])
    before = Calibration(0.3, {"mnist/conv": 0.1})  # calibrated without deep strata (or too few runs)
    np.testing.assert_allclose(before.halfwidths(X), [0.1, 0.1, 0.3, 0.3])
    assert len(stratum_keys(X.iloc[:0])) == 0 and len(calibrated.halfwidths(X.iloc[:0])) == 0


def test_deep_convolutional_networks_get_their_own_halfwidth_given_enough_runs():
    """Errors of deep convolutional networks three times those of shallow ones: the ``conv``
    half-width pools both, the deep networks' own covers them."""
    from perfpredict.predictor.intervals import fit_calibrated

    rng = np.random.default_rng(2)
    n_runs, per_run = 600, 3
    runs = np.repeat(np.arange(n_runs), per_run)
    deep, dense = runs % 3 == 0, runs % 3 == 1
    X = pd.DataFrame({"a": rng.normal(size=len(runs)), "network.n_attention": 0.0,
                      "network.n_conv": np.where(deep, 9.0, np.where(dense, 0.0, 2.0))})
    y = np.clip(0.5 + 0.1 * X["a"].to_numpy() + np.where(deep, 0.09, 0.03) * rng.normal(size=len(runs)), 0, 1)
    train, test = runs < 450, runs >= 450
    pred, cal = fit_calibrated("linear", X[train], y[train], runs[train], coverage=0.9)
    assert set(cal.by_stratum) == {"conv", "conv/deep", "dense"}
    predicted, own = pred.predict(X[test]), cal.halfwidths(X[test])
    t, p = y[test][deep[test]], predicted[deep[test]]
    pooled = regression_metrics(t, p, cal.by_stratum["conv"])["coverage"]
    mine = regression_metrics(t, p, own[deep[test]])["coverage"]
    assert 0.84 <= mine <= 0.96 and pooled < 0.85, (pooled, mine)
    few = runs[train] < 30  # 10 runs of each kind: 2 calibration runs, too few for a stratum
    _, thin = fit_calibrated("linear", X[train][few], y[train][few], runs[train][few], coverage=0.9)
    assert "conv/deep" not in thin.by_stratum


def test_intervals_are_calibrated_per_stratum():
    """Errors four times larger on one dataset: one half-width for both under-covers it and
    over-covers the other; a half-width per dataset covers each at the nominal level."""
    from perfpredict.predictor.intervals import fit_calibrated

    rng = np.random.default_rng(1)
    n_runs, per_run = 800, 4
    runs = np.repeat(np.arange(n_runs), per_run)
    hard = (runs % 2).astype(float)
    X = pd.DataFrame({"a": rng.normal(size=len(runs)), "dataset=easy": 1 - hard, "dataset=hard": hard})
    y = np.clip(0.5 + 0.1 * X["a"].to_numpy() + np.where(hard, 0.08, 0.02) * rng.normal(size=len(runs)), 0, 1)
    train, test = runs < 600, runs >= 600
    pred, cal = fit_calibrated("linear", X[train], y[train], runs[train], coverage=0.9)
    assert set(cal.by_stratum) == {"easy", "hard"} and cal.by_stratum["hard"] > 3 * cal.by_stratum["easy"]
    predicted, own = pred.predict(X[test]), cal.halfwidths(X[test])
    for value in (0, 1):
        part = hard[test] == value
        pooled = regression_metrics(y[test][part], predicted[part], cal.halfwidth)["coverage"]
        mine = regression_metrics(y[test][part], predicted[part], own[part])["coverage"]
        assert 0.85 <= mine <= 0.95 and abs(pooled - 0.9) > 0.05, (value, pooled, mine)


def test_dataset_is_an_input_of_several_dataset_predictors(tiny_zoo):
    from perfpredict.errors import PerfPredictError
    from perfpredict.workflows import fit_bundle

    table = zoo_features(tiny_zoo)
    frame = table.frame.copy()
    frame["dataset"] = np.where(frame["family"] == "mlp", "digits_copy", "digits")  # same shapes, two names
    two = type(table)(frame, table.schema, table.schema_version, table.feature_names)
    bundle = fit_bundle(two, ("linear",)).bundle
    assert bundle.needs_dataset and bundle.feature_names[-2:] == ["dataset=digits", "dataset=digits_copy"]
    ckpt = next((tiny_zoo / "runs").glob("*/epoch_001.safetensors"))
    with pytest.raises(PerfPredictError, match="--dataset"):
        bundle.predict_checkpoints([ckpt], "linear")
    with pytest.raises(PerfPredictError, match="cifar10"):
        bundle.predict_checkpoints([ckpt], "linear", dataset="cifar10")
    a, b = (bundle.checkpoint_inputs([ckpt], dataset=d) for d in ("digits", "digits_copy"))
    assert list(a.iloc[0, -2:]) == [1, 0] and list(b.iloc[0, -2:]) == [0, 1]  # what the models see
    pd.testing.assert_frame_equal(a.iloc[:, :-2], b.iloc[:, :-2])
    assert not fit_bundle(table, ("linear",)).bundle.needs_dataset


def test_baseline_inputs(tiny_zoo):
    from perfpredict.baselines import GLOBAL7, baseline_inputs, hyperparameter_inputs
    from perfpredict.errors import SchemaMismatchError

    table = zoo_features(tiny_zoo)
    hyper = hyperparameter_inputs(table.frame)
    assert "epoch" in hyper and "config.lr" in hyper and any(c.startswith("config.activation_") for c in hyper)
    assert hyper.dtypes.eq(float).all() and len(hyper) == len(table.frame)
    statnn = zoo_features(tiny_zoo, "statnn")
    shuffled = type(statnn)(statnn.frame.sample(frac=1, random_state=0), "statnn", 1, statnn.feature_names)
    inputs = baseline_inputs(table, {"statnn": shuffled})
    assert list(inputs) == ["statnn", "global7", "spectral", "hyperparameters"]
    assert list(baseline_inputs(table, {"statnn": shuffled}, in_table=False)) == ["statnn"]
    assert list(inputs["global7"].columns) == list(GLOBAL7)
    np.testing.assert_array_equal(inputs["statnn"].to_numpy(), statnn.X.to_numpy())  # matched by run and epoch
    partial = type(statnn)(statnn.frame.iloc[:5], "statnn", 1, statnn.feature_names)
    with pytest.raises(SchemaMismatchError, match="lacks some checkpoints"):
        baseline_inputs(table, {"statnn": partial})
