import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch
from sklearn.pipeline import make_pipeline
from xgboost import XGBRegressor

from perfpredict.archs import build_model
from perfpredict.checkpoints import as_checkpoint
from perfpredict.errors import SchemaMismatchError
from perfpredict.features import (SCHEMAS, WeightStatistics, concat_features, extract_features, load_features,
                                  save_features, zoo_features)
from perfpredict.features.roles import layer_roles
from perfpredict.features.table import expand_paths


def _sd(name, seed=0, **kw):
    torch.manual_seed(seed)
    extra = {"patch_size": 2} if name == "vit" else {}
    return build_model(name, (1, 8, 8), 10, **kw, **extra).state_dict()


def _shapes(sd):
    return {k: tuple(v.shape) for k, v in sd.items()}


def test_roles_of_a_vit():
    roles = layer_roles(_shapes(_sd("vit")))
    assert roles["conv_proj.weight"].kind == "conv" and roles["conv_proj.weight"].position == "first"
    assert roles["heads.head.weight"].position == "head" and roles["heads.head.weight"].kind == "linear"
    assert roles["class_token"].kind == "embedding" and not roles["class_token"].is_layer
    assert roles["encoder.pos_embedding"].kind == "embedding" and roles["encoder.ln.weight"].kind == "norm"
    attn = "encoder.layers.encoder_layer_0.self_attention."
    assert roles[attn + "in_proj_weight"].kind == "attention" and roles[attn + "in_proj_weight"].position == "hidden"
    assert roles[attn + "out_proj.weight"].kind == "attention" and roles[attn + "in_proj_bias"].kind == "bias"
    assert roles["encoder.layers.encoder_layer_0.mlp.0.weight"].kind == "linear"


def test_roles_of_other_peoples_layers():
    shapes = {"embed_tokens.weight": (100, 16), "layers.0.attn.q_proj.weight": (16, 16),
              "layers.0.norm.weight": (16,), "lm_head.weight": (100, 16), "logit_scale": ()}
    roles = layer_roles(shapes)
    assert roles["embed_tokens.weight"].kind == "embedding" and roles["embed_tokens.weight"].position == "first"
    assert roles["layers.0.attn.q_proj.weight"].kind == "attention"
    assert roles["lm_head.weight"].position == "head" and roles["logit_scale"].kind == "other"
    assert roles["layers.0.norm.weight"].kind == "norm"


@pytest.mark.parametrize("family", ["mlp", "cnn", "vit"])
def test_agnostic_has_one_fixed_length(family):
    ws = WeightStatistics("agnostic").set_output(transform="pandas").fit([])
    x = ws.transform([_sd(family)])
    assert x.shape == (1, len(SCHEMAS["agnostic"].fixed_names))
    for group in ("all", "first", "head", "global"):
        assert x.filter(regex=rf"^{group}\.(mean|std|q50)").notna().all(axis=None)
    assert x["network.n_layers"].iloc[0] == {"mlp": 3, "cnn": 4, "vit": 2 + 4 * 2}[family]
    assert x["attention.spectral_norm.mean"].notna().iloc[0] == (family == "vit")
    assert x["conv.node_in_gini.max"].notna().iloc[0] == (family in ("cnn", "vit"))


def test_agnostic_values_follow_their_definitions():
    sd = _sd("mlp", depth=2, width=32)
    x = WeightStatistics().set_output(transform="pandas").fit([]).transform([sd]).iloc[0]
    w = {k: v.double().numpy() for k, v in sd.items()}
    layers = ["1.weight", "3.weight", "5.weight"]
    pooled = np.concatenate([w[k].ravel() for k in layers])
    assert x["global.std"] == pytest.approx(pooled.std(), rel=1e-5)
    assert x["first.l2"] == pytest.approx(np.linalg.norm(w["1.weight"]), rel=1e-5)
    norms = [np.linalg.norm(w[k], 2) for k in layers]
    assert x["all.spectral_norm.max"] == pytest.approx(max(norms), rel=1e-6)
    assert x["all.spectral_norm.min"] == pytest.approx(min(norms), rel=1e-6)
    assert x["network.log_prod_spectral_norm"] == pytest.approx(np.log10(norms).sum(), rel=1e-6)
    assert x["bias.mean.mean"] == pytest.approx(np.mean([w[k].mean() for k in ("1.bias", "3.bias", "5.bias")]), rel=1e-5)
    assert x["network.log10_params"] == pytest.approx(np.log10(sum(v.size for v in w.values())))
    assert np.isnan(x["conv.std.mean"]) and x["network.n_conv"] == 0


def test_batched_equals_one_at_a_time():
    sds = [_sd("cnn", seed=s) for s in range(3)] + [_sd("mlp", seed=s) for s in range(2)] + [_sd("vit")]
    order = [0, 3, 1, 5, 4, 2]  # architectures interleaved
    for schema in SCHEMAS:
        ws = WeightStatistics(schema).fit([sds[i] for i in order])
        together = ws.transform([sds[i] for i in order])
        alone = np.vstack([ws.transform([sds[i]]) for i in order])
        np.testing.assert_allclose(together, alone, rtol=1e-6, equal_nan=True)


def test_per_tensor_schemas_learn_names():
    ws = WeightStatistics("statnn").fit([_sd("mlp")])
    names = list(ws.get_feature_names_out())
    assert names[:7] == ["1.weight.mean", "1.weight.var", "1.weight.q0", "1.weight.q25",
                         "1.weight.q50", "1.weight.q75", "1.weight.q100"]
    x = ws.transform([_sd("mlp"), _sd("cnn")])
    assert np.isfinite(x[0]).all() and np.isnan(x[1]).any()  # other architecture: missing
    per_layer = WeightStatistics("per_layer").fit([_sd("vit")]).get_feature_names_out()
    attn = "encoder.layers.encoder_layer_0.self_attention.in_proj_weight"
    assert {f"{attn}.q.alpha", f"{attn}.v.stable_rank", f"{attn}.node_in_gini", "network.n_attention"} <= set(per_layer)


def test_sklearn_pipeline_and_pandas_output():
    sds = [_sd("mlp", seed=s) for s in range(6)]
    ws = WeightStatistics().set_output(transform="pandas")
    frame = ws.fit_transform(sds)
    assert isinstance(frame, pd.DataFrame) and list(frame.columns)[0] == "all.mean.mean"
    model = make_pipeline(WeightStatistics(), XGBRegressor(n_estimators=5)).fit(sds, np.arange(6.0))
    assert model.predict(sds).shape == (6,)


def test_skipped_tensors_are_reported():
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Flatten(),
                                torch.nn.Linear(4, 2))
    ck = as_checkpoint(model.state_dict())
    assert set(ck.skipped) == {"1.running_mean", "1.running_var", "1.num_batches_tracked"}
    assert "buffer" in ck.skipped["1.running_var"]
    roles = layer_roles({k: v.shape for k, v in ck.tensors.items()})
    assert roles["1.weight"].kind == "norm" and roles["1.bias"].kind == "bias"


def test_zoo_features_and_table_round_trip(tiny_zoo, tmp_path):
    table = zoo_features(tiny_zoo)
    assert len(table.frame) == 27 and table.failures == [] and table.skipped == {}
    assert {"run_id", "test_accuracy", "config.lr"} <= set(table.frame.columns)
    save_features(table, tmp_path / "f.parquet")
    again = load_features(tmp_path / "f.parquet")
    assert (again.schema, again.schema_version, again.feature_names) == ("transfer", 2, table.feature_names)  # default
    pd.testing.assert_frame_equal(again.frame, table.frame)
    save_features(table, tmp_path / "f32.parquet", float32=True)
    single = load_features(tmp_path / "f32.parquet")
    stored = pq.read_schema(tmp_path / "f32.parquet")
    assert {str(stored.field(n).type) for n in table.feature_names} == {"float"}
    assert (single.X.dtypes == np.float64).all() and single.frame["run_id"].equals(table.frame["run_id"])
    np.testing.assert_allclose(single.X, table.X, rtol=1e-7, atol=1e-38)
    assert not np.array_equal(single.X.fillna(0), table.X.fillna(0))  # rounded, not the same numbers


def test_tables_of_several_zoos_combine(tiny_zoo):
    table = zoo_features(tiny_zoo, "per_layer")
    mlp = table.frame["family"] == "mlp"
    parts = [extract_features(table.frame.loc[rows, "path"].map(lambda p: tiny_zoo / p), "per_layer",
                              meta=table.frame.loc[rows, ["run_id", "family"]].reset_index(drop=True))
             for rows in (mlp, ~mlp)]
    only_others = [n for n in parts[1].feature_names if n not in parts[0].feature_names]
    assert only_others  # CNN and ViT tensors the MLPs lack
    both = concat_features(parts)
    assert both.feature_names == parts[0].feature_names + only_others
    assert len(both.frame) == 27 and both.frame.loc[:len(parts[0].frame) - 1, only_others].isna().all().all()
    original = table.frame.set_index("run_id", append=True)[table.feature_names].sort_index(axis=1)
    combined = both.frame.set_index("run_id", append=True)[both.feature_names].sort_index(axis=1)
    np.testing.assert_array_equal(np.sort(original.to_numpy(), axis=0), np.sort(combined.to_numpy(), axis=0))
    with pytest.raises(SchemaMismatchError, match="re-extract them with --schema per_layer"):
        concat_features([parts[0], zoo_features(tiny_zoo, "statnn")])


def test_bad_file_in_folder_is_reported_rest_processed(tiny_zoo, tmp_path):
    good = sorted((tiny_zoo / "runs").glob("*/epoch_002.safetensors"))[:2]
    folder = tmp_path / "ckpts"
    folder.mkdir()
    for i, g in enumerate(good):
        (folder / f"m{i}.safetensors").write_bytes(g.read_bytes())
    (folder / "broken.pt").write_text("not a checkpoint")
    table = extract_features(expand_paths([folder]))
    assert len(table.frame) == 2
    assert [s for s, _ in table.failures] == [str(folder / "broken.pt")]
    save_features(table, tmp_path / "f.parquet")
    assert load_features(tmp_path / "f.parquet").failures == table.failures


def test_files_are_read_in_blocks_with_the_same_result(tiny_zoo, monkeypatch):
    from perfpredict.features import table as table_module

    whole = zoo_features(tiny_zoo, "per_layer")
    monkeypatch.setattr(table_module, "BLOCK_BYTES", 1)  # one checkpoint per block
    blocked = zoo_features(tiny_zoo, "per_layer")
    assert blocked.feature_names == whole.feature_names
    pd.testing.assert_frame_equal(blocked.frame, whole.frame)
