"""Whether consecutive layers fit each other (perfpredict.features.alignment), and schema versions."""

import numpy as np
import pandas as pd
import pytest
import torch

from perfpredict.archs import build_model
from perfpredict.errors import SchemaMismatchError, UnknownNameError
from perfpredict.features import WeightStatistics, get_schema, zoo_features
from perfpredict.features.schema import schema_label
from perfpredict.features.alignment import ALIGNMENT_STATS, alignment_stats, layer_alignment, pair_stats, value_rows
from perfpredict.features.roles import TensorRole, layer_roles
from perfpredict.workflows import fit_bundle


def test_an_aligned_pair_scores_one_whatever_its_scale_and_independent_layers_near_zero():
    gen = torch.Generator().manual_seed(0)
    scales = torch.linspace(0.2, 3.0, 16, dtype=torch.float64)
    writes = torch.linalg.qr(torch.randn(64, 16, generator=gen, dtype=torch.float64))[0].T  # orthonormal rows
    reads = torch.linalg.qr(torch.randn(32, 16, generator=gen, dtype=torch.float64))[0]  # orthonormal columns
    a, b = (scales[:, None] * writes)[None], (reads * scales)[None]
    gram, balance = pair_stats(a, b)
    assert gram.item() == pytest.approx(1.0) and balance.item() == pytest.approx(1.0)
    assert torch.allclose(torch.stack(pair_stats(3 * a, 0.5 * b)), torch.stack((gram, balance)))  # scale-free
    random_a, random_b = torch.randn(4, 64, 256, generator=gen), torch.randn(4, 64, 64, generator=gen)
    gram, balance = pair_stats(random_a, random_b)
    assert gram.abs().max() < 0.2 and balance.abs().max() < 0.5


def test_pairs_read_conv_channels_and_attention_values_and_skip_what_does_not_match():
    gen = torch.Generator().manual_seed(0)
    conv, dense = torch.randn(2, 16, 6, 5, 5, generator=gen), torch.randn(2, 120, 400, generator=gen)
    assert pair_stats(conv, dense) is not None and pair_stats(conv, dense[..., :399]) is None  # 16 x 25 inputs
    stats = layer_alignment([conv, dense, torch.randn(2, 10, 7, generator=gen)])  # the head does not read 120
    assert torch.isfinite(stats["gram.mean"]).all() and torch.isnan(stats["gram_head"]).all()
    assert torch.isnan(layer_alignment([dense])["balance.mean"]).all()  # no pair
    fused = torch.randn(2, 96, 32, generator=gen)  # queries, keys and values of width 32
    assert torch.equal(value_rows(fused, TensorRole("attention", "hidden")), fused[:, 64:])
    assert value_rows(dense, TensorRole("linear", "hidden")) is dense
    assert pair_stats(fused, torch.randn(2, 32, 32, generator=gen)) is None  # the output projection reads values


def _batch(models):
    states = [m.state_dict() for m in models]
    batch = {k: torch.stack([s[k] for s in states]) for k in states[0]}
    roles = layer_roles({k: v.shape for k, v in states[0].items()})
    return batch, roles


@pytest.mark.parametrize("family", ["mlp", "cnn", "lenet", "vit", "resnet"])
def test_every_family_has_pairs_and_untrained_layers_do_not_fit_each_other(family):
    torch.manual_seed(0)
    batch, roles = _batch([build_model(family, (1, 28, 28), 10) for _ in range(8)])
    stats = alignment_stats(batch, roles)
    assert set(stats) == set(ALIGNMENT_STATS)
    assert torch.isfinite(stats["gram.mean"]).all() and stats["gram.mean"].mean().abs() < 0.05  # initialization
    assert stats["balance.mean"].mean().abs() < 0.06
    broken = {k: v.clone() for k, v in batch.items()}
    first = next(k for k in broken if k in roles and roles[k].is_layer)
    broken[first][0].view(-1)[0] = float("inf")
    assert torch.isnan(alignment_stats(broken, roles)["gram.mean"][0]) and torch.isfinite(
        alignment_stats(broken, roles)["gram.mean"][1])


def test_schema_versions():
    current, earlier = get_schema("transfer"), get_schema("transfer", 1)
    assert (current.version, earlier.version) == (2, 1) and get_schema("transfer@1") is earlier
    assert get_schema("transfer@2") is current
    assert current.fixed_names == earlier.fixed_names + get_schema("alignment").fixed_names
    with pytest.raises(SchemaMismatchError, match="computes transfer v2 and v1, not v7"):
        get_schema("transfer@7")
    with pytest.raises(SchemaMismatchError, match="NAME@VERSION"):
        get_schema("transfer@one")
    with pytest.raises(UnknownNameError):
        get_schema("nope@1")
    assert (schema_label("transfer", 1), schema_label("transfer", 2)) == ("transfer@1", "transfer")
    assert len(WeightStatistics("transfer@1").fit([]).get_feature_names_out()) == len(earlier.fixed_names)


def test_transfer_v2_adds_alignment_to_v1_and_v1_bundles_still_predict(tiny_zoo):
    v1, v2, alignment = (zoo_features(tiny_zoo, s) for s in ("transfer@1", "transfer", "alignment"))
    assert (v1.schema, v1.schema_version, v2.schema_version) == ("transfer", 1, 2)
    pd.testing.assert_frame_equal(v2.frame[v1.feature_names], v1.frame[v1.feature_names])
    pd.testing.assert_frame_equal(v2.frame[alignment.feature_names], alignment.frame[alignment.feature_names])
    trained = alignment.frame[alignment.frame["epoch"] > 0]
    assert trained[alignment.feature_names].notna().all().all()
    assert trained[alignment.feature_names].abs().max().max() <= 1 + 1e-9
    bundle = fit_bundle(v1, ("linear",), test_size=0, random_state=0).bundle
    paths = [tiny_zoo / p for p in v1.frame["path"]]
    from_checkpoints = [r.accuracy for r in bundle.assess(paths, model="linear")]  # computes its own v1 features
    from_table = [r.accuracy for r in bundle.assess_table(v2, "linear")]  # the v1 columns of a v2 table
    np.testing.assert_allclose(from_table, from_checkpoints)
    newer = fit_bundle(v2, ("linear",), test_size=0, random_state=0).bundle
    with pytest.raises(SchemaMismatchError, match="re-extract with --schema transfer$"):
        newer.table_inputs(v1)


def test_the_report_explains_every_alignment_name():
    from perfpredict.report.taxonomy import describe_feature, explain_feature

    for name in get_schema("alignment").fixed_names:
        kind = describe_feature(name)
        assert kind.family == "learned structure" and kind.role in ("head", "pairs")
        assert "tensor" not in explain_feature(name) and explain_feature(name).endswith("(BatchNorm folded)")
