"""The shipped predictor: what it was trained on, and that it predicts right after install."""

import dataclasses
import json
import re
from pathlib import Path

import pandas as pd
import pytest
import torch
from safetensors.torch import save_file
from typer.testing import CliRunner

from perfpredict import load_pretrained
from perfpredict._io import sha256_file
from perfpredict.archs import build_model
from perfpredict.cli import app
from perfpredict.errors import BundleError
from perfpredict.evaluation import regression_metrics
from perfpredict.predictor.intervals import Calibration
from perfpredict.pretrained import pretrained_names, pretrained_path
from perfpredict.zoo import ZooSpec, generate_zoo

REPO = Path(__file__).parents[1]
runner = CliRunner()


@pytest.fixture(scope="module")
def bundle():
    return load_pretrained()


def test_shipped_predictor_is_zoo_v2_and_pickle_free(bundle):
    assert "reference" in pretrained_names()
    assert {p.suffix for p in pretrained_path().iterdir()} <= {".json", ".ubj", ".safetensors"}
    assert bundle.domain is not None
    assert bundle.domain.layer_kinds_ == ["attention", "batch_norm", "conv", "embedding", "linear", "norm", "residual"]
    assert bundle.schema == "transfer" and set(bundle.models) == {"xgboost", "linear"}
    assert bundle.models["xgboost"].link == "logit" and bundle.coverage == 0.9
    assert bundle.datasets == ["cifar10", "fashion_mnist", "mnist"]
    # trained on committed zoo v2 portions (v2-<dataset>-<family>, -top or -small), unchanged since
    tables = {f["file"]: f["sha256"] for f in bundle.info["features"]}
    assert all(re.fullmatch(r"data/zoos/v2-\w+-\w+/features-transfer\.parquet", f) for f in tables)
    for path, sha in tables.items():
        assert sha == sha256_file(REPO / path), f"{path} changed since the shipped predictor was fitted"
    rows = pd.concat([pd.read_parquet(REPO / path, columns=["dataset", "family"]) for path in tables])
    assert set(rows["dataset"]) == set(bundle.datasets) and set(rows["family"]) == set(bundle.info["families"])


def test_unknown_shipped_predictor_is_refused():
    with pytest.raises(BundleError, match="shipped: reference"):
        load_pretrained("resnet-imagenet")


def _random_mlp(path: Path, seed: int, shape=(1, 28, 28)) -> Path:
    torch.manual_seed(seed)
    save_file(build_model("mlp", shape, 10, depth=2, width=64).state_dict(), str(path))
    return path


def test_predict_uses_the_shipped_predictor_by_default(bundle, tmp_path):
    ckpt = _random_mlp(tmp_path / "model.safetensors", 0)
    result = runner.invoke(app, ["predict", str(ckpt), "--dataset", "mnist", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    (row,) = payload["predictions"]
    lo, hi = row["interval"]
    assert 0 <= lo <= row["predicted_accuracy"] <= hi <= 1 and payload["coverage"] == 0.9
    [expected] = bundle.assess([ckpt], dataset="mnist")
    assert row["predicted_accuracy"] == pytest.approx(expected.accuracy)
    assert row["verdict"] == expected.verdict and row["reasons"] == list(expected.reasons)
    own = bundle.info["intervals"]["halfwidth_by_stratum"]["xgboost"]["mnist/dense"]  # an MNIST MLP's
    X = bundle.checkpoint_inputs([ckpt], dataset="mnist")
    spread = own * Calibration(1.0, domain=bundle.domain).difficulty(X)[0]
    assert hi == pytest.approx(min(1.0, expected.accuracy + spread))
    assert lo == pytest.approx(max(0.0, expected.accuracy - spread))
    if len(bundle.datasets) > 1:
        unnamed = runner.invoke(app, ["predict", str(ckpt)])
        assert unnamed.exit_code == 1 and "--dataset" in str(unnamed.exception)


def test_shipped_predictor_on_new_mnist_runs(bundle, data_root, tmp_path):
    """8 MLP runs the predictor never saw, sampled from the zoo v2 MNIST MLP space with another
    seed (two structures, 1-2 epochs, widths up to 256: minutes on one core). Measured when the
    predictor was fitted: R² 0.986, τ 0.72, coverage 0.95 of the 90% intervals (20 checkpoints,
    none outside; with seed 7: 0.985, 0.68, 0.95). The bounds leave room for other platforms'
    rounding and for this small sample's τ."""
    v2 = ZooSpec.from_json(REPO / "data" / "specs" / "v2" / "v2-mnist-mlp.json")
    space = dataclasses.replace(v2.space, epochs_range=(1, 2), mlp_width=(64, 128, 256), mlp_depth=(1, 2))
    spec = dataclasses.replace(v2, name="fresh", seed=4321, runs_per_group=8, space=space, precision="fp32")
    index = generate_zoo(spec, tmp_path / "zoo", data_root=data_root, workers=0)
    index = index[index["status"] == "ok"]
    assert index["test_accuracy"].max() - index["test_accuracy"].min() > 0.5  # poor and good runs alike
    paths = [tmp_path / "zoo" / p for p in index["path"]]
    X = bundle.checkpoint_inputs(paths, dataset="mnist")
    scores = regression_metrics(index["test_accuracy"], bundle.predict(X), bundle.halfwidths("xgboost", X))
    assert scores["r2"] >= 0.9 and scores["kendall_tau"] >= 0.5 and scores["coverage"] >= 0.85, scores
    verdicts = [r.verdict for r in bundle.assess(paths, dataset="mnist")]
    assert verdicts.count("outside") <= 0.1 * len(verdicts), verdicts  # runs like its training runs


def test_shipped_predictor_knows_resnets_flags_cifar10_convnets_and_refuses_other_shapes(bundle, bn_resnet,
                                                                                         tmp_path):
    save_file(bn_resnet, str(tmp_path / "resnet.safetensors"))  # untrained: near chance
    torch.manual_seed(0)
    save_file(build_model("cnn", (3, 32, 32), 10).state_dict(), str(tmp_path / "cnn.safetensors"))
    wrong = _random_mlp(tmp_path / "cifar.safetensors", 0, (3, 32, 32))
    result = runner.invoke(app, ["predict", str(tmp_path / "resnet.safetensors"), str(wrong), "--dataset", "mnist",
                                 "--json"])
    assert result.exit_code == 1
    payload = json.loads(result.stdout)
    (resnet,) = payload["predictions"]  # MNIST ResNets are in its training zoo
    assert resnet["verdict"] != "outside" and resnet["predicted_accuracy"] < 0.2
    assert resnet["interval"][0] <= 0.1 <= resnet["interval"][1]
    assert "the first layer takes 3072 inputs; mnist images have 784 pixels" in payload["failed"][0]["error"]
    [cnn] = bundle.assess([tmp_path / "cnn.safetensors"], dataset="cifar10")  # its CIFAR-10 networks are MLPs
    assert cnn.verdict == "outside" and cnn.interval == (0.0, 1.0)
    assert any("no network of its kind (convolutions without attention) trained on cifar10" in r for r in cnn.reasons)
