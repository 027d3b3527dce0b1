"""Domain of applicability: structural refusals, unseen layer kinds, distances, verdicts, and
intervals that widen away from the training zoo."""

import json

import numpy as np
import pandas as pd
import pytest
from safetensors.torch import save_file
from typer.testing import CliRunner

from perfpredict.archs import ARCHS, build_model
from perfpredict.checkpoints import as_checkpoint
from perfpredict.cli import app
from perfpredict.data import DATASET_SHAPES
from perfpredict.errors import BundleError, CheckpointError, DomainError, PerfPredictError, SchemaMismatchError
from perfpredict.evaluation import evaluate, regression_metrics
from perfpredict.features import FeatureTable, extract_features, zoo_features
from perfpredict.features.structure import checkpoint_structure, structure_problems, table_layer_kinds
from perfpredict.predictor.bundles import load_bundle, save_bundle
from perfpredict.predictor.domain import DomainModel
from perfpredict.predictor.intervals import fit_calibrated
from perfpredict.predictor.models import add_dataset_indicators
from perfpredict.workflows import fit_bundle

runner = CliRunner()


def _arch_config(name, shape):
    return {"patch_size": 2} if name == "vit" and shape[1] == 8 else {}


@pytest.mark.parametrize("name", sorted(ARCHS))
@pytest.mark.parametrize("dataset", sorted(DATASET_SHAPES))
def test_registry_networks_fit_their_dataset_and_no_other_shape(name, dataset):
    shape, classes = DATASET_SHAPES[dataset]
    structure = checkpoint_structure(as_checkpoint(build_model(name, shape, classes, **_arch_config(name, shape))
                                                   .state_dict()))
    assert structure.num_classes == classes
    for other, (other_shape, other_classes) in DATASET_SHAPES.items():
        problems = structure_problems(structure, other, other_shape, other_classes)
        # convolutional networks fit any image size of their channels: global pooling (cnn,
        # resnet), or LeNet's padding to 32 px, which gives every small image one FC input size
        same_input = other_shape == shape or (name in ("cnn", "lenet", "resnet") and other_shape[0] == shape[0])
        assert (problems == []) == same_input, (other, problems)


def test_structure_problems_say_what_was_found_and_expected():
    mlp = checkpoint_structure(as_checkpoint(build_model("mlp", (1, 8, 8), 10).state_dict()))
    assert structure_problems(mlp, "mnist", (1, 28, 28), 10) == [
        "the first layer takes 64 inputs; mnist images have 784 pixels (1x28x28)"]
    vit = checkpoint_structure(as_checkpoint(build_model("vit", (3, 32, 32), 100).state_dict()))
    problems = " | ".join(structure_problems(vit, "mnist", (1, 28, 28), 10))
    assert "takes 3 channels; mnist images have 1" in problems
    assert "fixes 32x32 images; mnist images are 28x28" in problems and "100 outputs; mnist has 10" in problems


def test_layer_kinds_of_batchnorm_resnets_attention_and_plain_networks(bn_resnet):
    assert checkpoint_structure(as_checkpoint(bn_resnet)).layer_kinds == ("conv", "linear", "batch_norm",
                                                                              "residual")
    vit = checkpoint_structure(as_checkpoint(build_model("vit", (1, 28, 28), 10).state_dict()))
    assert {"attention", "norm"} <= set(vit.layer_kinds) and vit.image_size == 28
    assert checkpoint_structure(as_checkpoint(build_model("cnn", (1, 28, 28), 10).state_dict())).layer_kinds == (
        "conv", "linear")


@pytest.fixture(scope="module")
def tiny_bundle(tiny_zoo):
    return fit_bundle(zoo_features(tiny_zoo), ("xgboost", "linear"), test_size=0.25, tune=False).bundle


def test_digits_predictor_refuses_an_mnist_checkpoint(tiny_bundle, tmp_path):
    mnist_mlp = build_model("mlp", (1, 28, 28), 10).state_dict()
    with pytest.raises(DomainError, match=r"takes 784 inputs; digits images have 64 pixels"):
        tiny_bundle.assess([mnist_mlp])
    with pytest.raises(DomainError, match="784 inputs"):
        tiny_bundle.predict_checkpoints([mnist_mlp])
    save_bundle(tiny_bundle, tmp_path / "b")
    save_file(mnist_mlp, str(tmp_path / "mnist.safetensors"))
    save_file(build_model("mlp", (1, 8, 8), 10).state_dict(), str(tmp_path / "digits.safetensors"))
    result = runner.invoke(app, ["predict", str(tmp_path / "mnist.safetensors"), str(tmp_path / "digits.safetensors"),
                                 "--predictor", str(tmp_path / "b"), "--json"])
    assert result.exit_code == 1  # the refused file is reported, the other one predicted
    payload = json.loads(result.stdout)
    assert [p["checkpoint"] for p in payload["predictions"]] == [str(tmp_path / "digits.safetensors")]
    assert "784 inputs" in payload["failed"][0]["error"]


def test_predict_checkpoints_lists_every_unusable_checkpoint_or_predicts_the_others(tiny_bundle, tmp_path):
    good = build_model("mlp", (1, 8, 8), 10).state_dict()
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    items = [good, tmp_path / "missing.pt", build_model("mlp", (1, 28, 28), 10).state_dict(), empty, good]
    with pytest.raises(CheckpointError, match=r"3 of 5 checkpoints cannot be used") as caught:
        tiny_bundle.predict_checkpoints(items, "linear")
    message = str(caught.value)
    assert f"({tmp_path / 'missing.pt'} does not exist; checkpoint #2: <memory> cannot be a network of digits" in message
    assert "empty.pt is empty" in message
    assert "read_checkpoints" in message and "errors='nan'" in message
    with pytest.raises(CheckpointError, match=r"3 of 5 checkpoints cannot be used"):
        tiny_bundle.assess(items)
    predicted = tiny_bundle.predict_checkpoints(items, "linear", errors="nan")
    assert np.isnan(predicted[1:4]).all() and predicted[0] == pytest.approx(predicted[4])
    assert predicted[0] == pytest.approx(tiny_bundle.predict_checkpoints([good], "linear")[0])
    usable, failed = tiny_bundle.read_checkpoints(items)
    assert len(usable) == 2 and list(failed) == [str(tmp_path / "missing.pt"), "checkpoint #2", str(empty)]
    with pytest.raises(KeyError, match="choose one of: nan, raise"):
        tiny_bundle.predict_checkpoints(items, errors="skip")


def test_batchnorm_resnet_is_outside_with_its_unseen_layer_kinds(tiny_bundle, bn_resnet, tmp_path):
    [result] = tiny_bundle.assess([bn_resnet])
    assert result.verdict == "outside"
    assert "layer kinds the training zoo never had: batch_norm, residual" in result.reasons
    assert result.interval == (0.0, 1.0)  # nothing in the training zoo bounds its error
    assert result.left_out["bn.running_mean"].startswith("BatchNorm running statistic")
    save_bundle(tiny_bundle, tmp_path / "b")
    save_file(bn_resnet, str(tmp_path / "resnet.safetensors"))
    table = runner.invoke(app, ["predict", str(tmp_path / "resnet.safetensors"), "--predictor", str(tmp_path / "b")])
    assert table.exit_code == 0 and "outside" in table.stdout
    # 14: the running variances are folded into the weights, the running means are left out
    assert "resnet.safetensors: 14 tensors (BatchNorm running statistic" in " ".join(table.stderr.split())
    assert ("of 1 checkpoints, 1 outside the predictor's training networks (layer kinds the training zoo never "
            "had: batch_norm, residual)") in " ".join(table.stderr.split())


def test_a_pruned_network_is_outside_with_its_sparse_layers(tiny_bundle):
    mlp = build_model("mlp", (1, 8, 8), 10).state_dict()
    assert "sparse" not in checkpoint_structure(as_checkpoint(mlp)).layer_kinds
    first = next(name for name in mlp if name.endswith("weight"))
    mlp[first] = mlp[first] * (mlp[first].abs() > mlp[first].abs().quantile(0.2))  # 20% pruned by magnitude
    assert "sparse" in checkpoint_structure(as_checkpoint(mlp)).layer_kinds
    zero_head = dict(mlp, **{first: mlp[first] * 0})  # zero-initialized, as torchvision's ViT head: not pruned
    assert "sparse" not in checkpoint_structure(as_checkpoint(zero_head)).layer_kinds
    [result] = tiny_bundle.assess([mlp])
    assert result.verdict == "outside" and result.interval == (0.0, 1.0)
    assert "layer kinds the training zoo never had: sparse (a layer with 10% or more" in result.reasons[0]


def test_layer_counts_beyond_the_training_networks_of_the_kind_are_outside(tiny_bundle):
    from torch import nn

    cnn_with_dense_hidden = nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 6 * 6, 32),
                                          nn.ReLU(), nn.Linear(32, 10))
    [result] = tiny_bundle.assess([cnn_with_dense_hidden.state_dict()])
    assert result.verdict == "outside"
    assert "2 dense layers; the training zoo's networks of its kind have 1" in result.reasons
    assert tiny_bundle.domain.size_ranges_["conv"]["network.n_linear"] == (1.0, 1.0)


def test_a_predictor_fitted_without_a_family_flags_that_family(tiny_zoo):
    table = zoo_features(tiny_zoo)
    seen = type(table)(table.frame[table.frame["family"] != "vit"].reset_index(drop=True), table.schema,
                       table.schema_version, table.feature_names)
    bundle = fit_bundle(seen, ("linear",), test_size=0, tune=False).bundle
    vits = [tiny_zoo / p for p in table.frame.loc[table.frame["family"] == "vit", "path"]]
    results = bundle.assess(vits, model="linear")
    assert {r.verdict for r in results} == {"outside"}
    assert all(any("attention" in why for why in r.reasons) for r in results)
    folds = evaluate(table, "family", ("linear",), tune=False)
    vit = folds[(folds["fold"] == "family=vit") & (folds["subset"] == "all")].iloc[0]
    assert vit["outside"] == 1 and vit["covered_or_outside"] == 1


def _gaussian_rows(rng, n, shift=0.0):
    X = pd.DataFrame(rng.normal(size=(n, 12)) + shift, columns=[f"all.l2.{i}" for i in range(12)])
    X["network.n_conv"], X["network.n_attention"] = 0.0, 0.0
    return X


def test_distance_percentiles_and_verdicts_of_shifted_rows():
    rng = np.random.default_rng(0)
    domain = DomainModel(n_components=4).fit(_gaussian_rows(rng, 600), calibration=_gaussian_rows(rng, 400))
    assert 1.0 <= np.median(domain.calibration_distances_) <= 1.5  # the larger of two distances of median 1
    found = domain.assess(_gaussian_rows(rng, 2000))
    verdicts, pct, reasons = found.verdicts, found.percentiles, found.reasons
    assert 0.9 <= np.mean(verdicts == "in_domain") <= 0.97 and np.mean(verdicts == "outside") <= 0.03
    assert np.mean(pct <= 50) == pytest.approx(0.5, abs=0.05)
    far = domain.assess(_gaussian_rows(rng, 50, shift=6.0))
    far_verdicts, far_pct, far_reasons = far.verdicts, far.percentiles, far.reasons
    assert not far.structural.any()  # outside by distance alone
    assert set(far_verdicts) == {"outside"} and far_pct.min() == 100
    assert any(r.startswith("features out of the training range: all norms (12)") for r in far_reasons[0])
    assert all(not why for v, why in zip(verdicts, reasons) if v == "in_domain")


def _low_rank_rows(rng, latent):
    """Rows on a 2-d plane of a 12-d feature space, with a little noise off it."""
    weights = np.random.default_rng(99).normal(size=(2, 12))
    X = pd.DataFrame(latent @ weights + 0.05 * rng.normal(size=(len(latent), 12)),
                     columns=[f"all.l2.{i}" for i in range(12)])
    X["network.n_conv"], X["network.n_attention"] = 0.0, 0.0
    return X


def test_rows_in_the_training_plane_but_far_from_every_training_row_are_flagged():
    """The residual off the principal subspace misses them; the nearest-neighbour part does not."""
    rng = np.random.default_rng(2)
    domain = DomainModel(n_components=2).fit(_low_rank_rows(rng, rng.normal(size=(600, 2))),
                                             calibration=_low_rank_rows(rng, rng.normal(size=(400, 2))))
    far = _low_rank_rows(rng, np.tile([6.0, 0.0], (20, 1)))
    residual, knn = domain.distance_parts(far)
    assert np.median(residual) < 2 and knn.min() > 3, (residual, knn)
    assert set(domain.assess(far).verdicts) == {"outside"}


def _two_dataset_rows(rng, n, centre_a, centre_b):
    """Low-rank rows, half of dataset ``a`` around ``centre_a`` and half of ``b`` around ``centre_b``."""
    latent = np.r_[centre_a + 0.5 * rng.normal(size=(n, 2)), centre_b + 0.5 * rng.normal(size=(n, 2))]
    return add_dataset_indicators(_low_rank_rows(rng, latent), pd.Series(["a"] * n + ["b"] * n), ["a", "b"])


def test_neighbours_are_taken_on_the_rows_dataset():
    """A network of dataset ``b`` that looks like the training networks of ``a`` only is far
    from the training zoo for ``b``; older saved models, without the reference rows' datasets,
    measure against all rows."""
    rng = np.random.default_rng(3)
    a, b = np.array([-3.0, 0.0]), np.array([3.0, 0.0])
    fit_rows, calibration = _two_dataset_rows(rng, 300, a, b), _two_dataset_rows(rng, 200, a, b)
    like_a = _two_dataset_rows(rng, 10, a, a)  # ten rows of a, ten of b, all where a's networks are
    within = DomainModel(n_components=2).fit(fit_rows, calibration=calibration)
    pooled = DomainModel(n_components=2, within_dataset=False).fit(fit_rows, calibration=calibration)
    assert set(within.reference_datasets_) == {"a", "b"}
    verdicts = within.assess(like_a).verdicts
    assert "outside" not in verdicts[:10] and set(verdicts[10:]) == {"outside"}
    assert "outside" not in pooled.assess(like_a).verdicts
    arrays, info = within.to_saved()
    np.testing.assert_allclose(DomainModel.from_saved(arrays, info).distance(like_a), within.distance(like_a))
    del info["reference_datasets"]
    older = DomainModel.from_saved(arrays, info)
    assert "outside" not in older.assess(like_a).verdicts


def test_intervals_widen_with_distance_and_keep_their_coverage():
    rng = np.random.default_rng(1)
    X = _gaussian_rows(rng, 1500)
    y = 1 / (1 + np.exp(-X["all.l2.0"].to_numpy())) + rng.normal(0, 0.03, len(X))
    runs = np.arange(len(X)) // 3
    pred, calibration = fit_calibrated("linear", X, y, runs, calibration_size=0.3)
    Xt = _gaussian_rows(rng, 1000)
    yt = 1 / (1 + np.exp(-Xt["all.l2.0"].to_numpy())) + rng.normal(0, 0.03, len(Xt))
    widths = calibration.halfwidths(Xt)
    assert regression_metrics(yt, pred.predict(Xt), widths)["coverage"] == pytest.approx(0.9, abs=0.03)
    assert np.mean(widths == widths.min()) >= 0.85  # typical rows keep the plain half-width
    far = calibration.halfwidths(_gaussian_rows(rng, 20, shift=4.0))
    assert far.min() > 4 * widths.min()


def test_domain_model_round_trips_through_the_bundle(tiny_bundle, tiny_zoo, tmp_path):
    save_bundle(tiny_bundle, tmp_path / "b")
    assert (tmp_path / "b" / "domain.safetensors").exists()
    loaded = load_bundle(tmp_path / "b")
    X = tiny_bundle.table_inputs(zoo_features(tiny_zoo))
    np.testing.assert_array_equal(loaded.domain.distance(X), tiny_bundle.domain.distance(X))
    np.testing.assert_array_equal(loaded.halfwidths("xgboost", X), tiny_bundle.halfwidths("xgboost", X))
    assert loaded.domain.layer_kinds_ == ["attention", "conv", "embedding", "linear", "norm"]
    assert loaded.domain.size_ranges_ == tiny_bundle.domain.size_ranges_
    (tmp_path / "b" / "domain.safetensors").write_bytes(b"0" * 64)
    with pytest.raises(BundleError, match="altered"):
        load_bundle(tmp_path / "b")


def test_layer_kinds_are_recorded_in_feature_tables_and_inferred_for_old_ones(tiny_zoo):
    table = zoo_features(tiny_zoo)
    frame = table.frame
    assert table.shape == (len(frame), 943) and "943 transfer v2 features" in repr(table)  # the default schema
    recorded = table_layer_kinds(frame)
    assert {frozenset(k) for k in recorded} == {frozenset({"linear"}), frozenset({"conv", "linear"}),
                                                frozenset({"conv", "linear", "attention", "norm", "embedding"})}
    assert table_layer_kinds(frame.drop(columns="layer_kinds")) == recorded  # from the network.n_* counts


def test_a_predictor_without_calibration_runs_says_its_verdicts_are_unknown(tiny_zoo):
    bundle = fit_bundle(zoo_features(tiny_zoo), ("linear",), test_size=0, calibration_size=0).bundle
    assert bundle.domain is None
    [result] = bundle.assess([build_model("mlp", (1, 8, 8), 10).state_dict()], model="linear")
    assert result.verdict == "unknown" and result.interval is None and result.domain_percentile is None
    assert result.reasons == ("the predictor was fitted without calibration runs",)


def test_a_feature_table_is_assessed_as_its_checkpoints(tiny_bundle, tiny_zoo, bn_resnet, tmp_path):
    save_file(bn_resnet, str(tmp_path / "resnet.safetensors"))
    files = [*sorted((tiny_zoo / "runs").glob("*/epoch_002.safetensors"))[:2], tmp_path / "resnet.safetensors"]
    direct = tiny_bundle.assess(files)
    table = extract_features(files, "transfer")  # the bundle's schema
    from_table = tiny_bundle.assess_table(table)
    assert [r.checkpoint for r in from_table] == [str(f) for f in files]
    for a, b in zip(direct, from_table):
        assert b.accuracy == pytest.approx(a.accuracy, abs=1e-6) and b.interval == pytest.approx(a.interval, abs=1e-6)
        assert (b.verdict, b.reasons) == (a.verdict, a.reasons)
    assert from_table[-1].verdict == "outside"
    mnist = FeatureTable(table.frame.assign(dataset="mnist"), table.schema, table.schema_version, table.feature_names)
    with pytest.raises(PerfPredictError, match="trained on digits only, not 'mnist'"):
        tiny_bundle.assess_table(mnist)
    with pytest.raises(SchemaMismatchError, match="does not hold the transfer features; extract them with"):
        tiny_bundle.assess_table(extract_features(files, "learned"))
    agnostic = fit_bundle(zoo_features(tiny_zoo, "agnostic"), ("linear",), test_size=0, tune=False).bundle
    np.testing.assert_allclose([r.accuracy for r in agnostic.assess_table(table, model="linear")],  # a schema
                               [r.accuracy for r in agnostic.assess(files, model="linear")], atol=1e-6)  # it holds


def test_a_kind_of_network_seen_only_on_another_dataset_is_outside(tiny_zoo, tmp_path):
    """The MLPs are trained on "digits_copy" only: an MLP on "digits" is outside, with the reason."""
    table = zoo_features(tiny_zoo)
    frame = table.frame.assign(dataset=np.where(table.frame["family"] == "mlp", "digits_copy", "digits"))
    bundle = fit_bundle(FeatureTable(frame, table.schema, table.schema_version, table.feature_names),
                        ("linear",), test_size=0, tune=False).bundle
    assert bundle.domain.kind_datasets_ == {"attention": ["digits"], "conv": ["digits"], "dense": ["digits_copy"]}
    mlp, cnn = (frame.loc[frame["family"] == f, "path"].iloc[0] for f in ("mlp", "cnn"))
    [mlp_there] = bundle.assess([tiny_zoo / mlp], model="linear", dataset="digits")
    assert mlp_there.verdict == "outside" and mlp_there.interval == (0.0, 1.0)  # nothing calibrated it
    assert ("no network of its kind (dense layers only) trained on digits in the training zoo, only on digits_copy"
            in mlp_there.reasons)
    [mlp_home], [cnn_away] = (bundle.assess([tiny_zoo / p], model="linear", dataset=d)
                              for p, d in ((mlp, "digits_copy"), (cnn, "digits_copy")))
    assert not any("trained on" in why for why in mlp_home.reasons)
    assert "only on digits" in " ".join(cnn_away.reasons) and cnn_away.verdict == "outside"
    assert set(bundle.domain.size_ranges_) == {"digits/attention", "digits/conv", "digits_copy/dense"}
    from torch import nn

    cnn_with_dense_hidden = nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 6 * 6, 32),
                                          nn.ReLU(), nn.Linear(32, 10))
    [wide] = bundle.assess([cnn_with_dense_hidden.state_dict()], model="linear", dataset="digits")
    assert "2 dense layers; the training zoo's networks of its kind on digits have 1" in wide.reasons
    save_bundle(bundle, tmp_path / "b")
    assert load_bundle(tmp_path / "b").domain.kind_datasets_ == bundle.domain.kind_datasets_
    arrays, info = bundle.domain.to_saved()
    del info["kind_datasets"]  # a bundle saved before the check: the check is off
    older = DomainModel.from_saved(arrays, info)
    X = bundle.checkpoint_inputs([tiny_zoo / mlp], dataset="digits")
    assert not older.assess(X).structural.any()
