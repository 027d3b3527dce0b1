import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats as sps
from sklearn.pipeline import make_pipeline
from xgboost import XGBRegressor

from perfpredict.archs import build_model
from perfpredict.features import (SCHEMAS, WeightStatistics, extract_features, load_features,
                                  save_features, zoo_features)
from perfpredict.features.roles import layer_roles
from perfpredict.features.stats import distribution_stats, gini, node_strength, spectral_stats


def test_distribution_stats_match_scipy():
    x = np.random.default_rng(0).standard_t(5, size=5000)
    s = distribution_stats(x)
    assert s["skew"] == pytest.approx(sps.skew(x), rel=1e-9)
    assert s["kurtosis"] == pytest.approx(sps.kurtosis(x), rel=1e-9)
    assert s["q50"] == pytest.approx(np.median(x)) and s["std"] == pytest.approx(x.std())
    assert np.isnan(distribution_stats(np.array([np.nan]))["mean"])


def test_spectral_and_node_strength():
    w = np.diag([3.0, 1.0, 1.0])
    s = spectral_stats(w)
    assert s["spectral_norm"] == pytest.approx(3) and s["stable_rank"] == pytest.approx(11 / 9)
    conv = np.ones((4, 2, 3, 3))
    ins, outs = node_strength(conv)
    assert ins.tolist() == [18.0] * 4 and outs.tolist() == [36.0] * 2
    assert gini(np.ones(10)) == pytest.approx(0) and gini(np.r_[np.zeros(99), 1.0]) > 0.98


def _sd(name, **kw):
    shape = {"mlp": (1, 8, 8), "cnn": (1, 8, 8), "vit": (1, 8, 8)}[name]
    extra = {"patch_size": 2} if name == "vit" else {}
    return build_model(name, shape, 10, **kw, **extra).state_dict()


def test_roles():
    roles = layer_roles({k: v.numpy() for k, v in _sd("vit").items()})
    assert roles["conv_proj.weight"] == "first" and roles["heads.head.weight"] == "head"
    assert roles["class_token"] == "embedding" and roles["encoder.ln.weight"] == "norm"
    assert roles["encoder.layers.encoder_layer_0.self_attention.in_proj_weight"] == "hidden"


@pytest.mark.parametrize("family", ["mlp", "cnn", "vit"])
def test_agnostic_has_one_fixed_length(family):
    ws = WeightStatistics().fit([])
    x = ws.transform([_sd(family)])
    assert x.shape == (1, len(SCHEMAS["agnostic"].fixed_names))
    assert np.isfinite(x[0, :12]).all()  # the "all" group exists in every architecture


def test_agnostic_is_invariant_to_hidden_unit_permutation():
    sd = _sd("mlp", depth=2, width=16)
    perm = torch.randperm(16, generator=torch.Generator().manual_seed(0))
    p = dict(sd)
    p["1.weight"], p["1.bias"] = sd["1.weight"][perm], sd["1.bias"][perm]
    p["3.weight"] = sd["3.weight"][:, perm]
    ws = WeightStatistics().fit([])
    np.testing.assert_allclose(ws.transform([sd]), ws.transform([p]), rtol=1e-9, atol=1e-12)


def test_per_tensor_schemas_learn_names():
    ws = WeightStatistics("statnn").fit([_sd("mlp")])
    names = list(ws.get_feature_names_out())
    assert names[:7] == ["1.weight.mean", "1.weight.var", "1.weight.q0", "1.weight.q25",
                         "1.weight.q50", "1.weight.q75", "1.weight.q100"]
    x = ws.transform([_sd("mlp"), _sd("cnn")])
    assert np.isfinite(x[0]).all() and np.isnan(x[1]).any()  # other architecture: missing


def test_sklearn_pipeline_and_pandas_output():
    sds = [_sd("mlp") for _ in range(6)]
    ws = WeightStatistics().set_output(transform="pandas")
    frame = ws.fit_transform(sds)
    assert isinstance(frame, pd.DataFrame) and list(frame.columns)[0] == "all.mean"
    model = make_pipeline(WeightStatistics(), XGBRegressor(n_estimators=5)).fit(sds, np.arange(6.0))
    assert model.predict(sds).shape == (6,)


def test_zoo_features_and_table_round_trip(tiny_zoo, tmp_path):
    table = zoo_features(tiny_zoo)
    assert len(table.frame) == 27 and table.failures == []
    assert {"run_id", "test_accuracy", "config.lr"} <= set(table.frame.columns)
    save_features(table, tmp_path / "f.parquet")
    again = load_features(tmp_path / "f.parquet")
    assert (again.schema, again.schema_version, again.feature_names) == ("agnostic", 1, table.feature_names)
    pd.testing.assert_frame_equal(again.frame, table.frame)


def test_bad_file_in_folder_is_reported_rest_processed(tiny_zoo, tmp_path):
    good = sorted((tiny_zoo / "runs").glob("*/epoch_002.safetensors"))[:2]
    folder = tmp_path / "ckpts"
    folder.mkdir()
    for i, g in enumerate(good):
        (folder / f"m{i}.safetensors").write_bytes(g.read_bytes())
    (folder / "broken.pt").write_text("not a checkpoint")
    from perfpredict.features.table import expand_paths

    table = extract_features(expand_paths([folder]))
    assert len(table.frame) == 2
    assert [s for s, _ in table.failures] == [str(folder / "broken.pt")]
