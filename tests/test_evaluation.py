import numpy as np
import pandas as pd
import pytest

from perfpredict.errors import PerfPredictError
from perfpredict.evaluation import evaluate, iter_splits, regression_metrics, run_split
from perfpredict.features import zoo_features


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
    assert metrics["spearman_rho"].notna().all()


def test_epoch_split_trains_on_final_and_tests_on_earlier_checkpoints():
    frame = pd.DataFrame({"run_id": np.repeat(list("abcdefgh"), 3), "epoch": np.tile([0, 1, 4], 8)})
    folds = list(iter_splits(frame, "epoch", test_size=0.25, random_state=0))
    assert len(folds) == 1
    _, train, test = folds[0]
    assert (frame.epoch[train] == 4).all() and len(train) == 6
    assert (frame.epoch[test] < 4).all() and len(test) == 4
    assert set(frame.run_id[train]).isdisjoint(frame.run_id[test])
