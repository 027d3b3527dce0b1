"""Scale-free statistics of learned structure (perfpredict.features.learned)."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from perfpredict.archs import build_model
from perfpredict.features import WeightStatistics
from perfpredict.features.learned import LEARNED_STATS, filter_smoothness, head_geometry, init_scale, learned_stats
from perfpredict.features.roles import layer_roles


def _simplex(classes: int, features: int, gen: torch.Generator) -> torch.Tensor:
    """Class vectors of a regular simplex (equal norms, pairwise cosines -1/(C-1)) in ``features`` dims."""
    basis, _ = torch.linalg.qr(torch.randn(features, classes, generator=gen, dtype=torch.float64))
    eye = torch.eye(classes, dtype=torch.float64)
    return (eye - eye.mean(dim=0)) @ basis.T


def test_a_simplex_head_has_zero_spread_whatever_its_scale_and_common_component():
    gen = torch.Generator().manual_seed(0)
    w = _simplex(10, 32, gen)
    common = torch.randn(32, generator=gen, dtype=torch.float64)
    heads = torch.stack([w, 7.5 * w, w + common])
    out = head_geometry(heads, torch.zeros(3, 10))
    for k in ("head_norm_cv", "head_cos_gap", "head_cos_std", "head_bias_spread"):
        np.testing.assert_allclose(out[k].numpy(), 0, atol=1e-12)
    assert out["head_common"][0] == pytest.approx(0, abs=1e-12)
    assert out["head_common"][2] == pytest.approx(common.norm() / w.norm(dim=1).mean())


def test_head_statistics_do_not_change_with_the_head_scale():
    gen = torch.Generator().manual_seed(1)
    w, b = torch.randn(1, 10, 64, generator=gen), torch.randn(1, 10, generator=gen)
    a, scaled = head_geometry(w, b), head_geometry(3 * w, 3 * b)
    for k in a:
        assert a[k].item() == pytest.approx(scaled[k].item(), rel=1e-6)  # float32 inputs
    assert a["head_cos_std"].item() > 0.05 and a["head_norm_cv"].item() > 0.01  # random: no simplex


def test_smoothness_is_one_for_noise_and_low_for_smooth_filters():
    gen = torch.Generator().manual_seed(2)
    noise = torch.randn(200, 1, 28, 28, generator=gen)
    uniform = torch.rand(200, 3, 5, 5, generator=gen)
    assert filter_smoothness(noise).mean().item() == pytest.approx(1, abs=0.02)
    assert filter_smoothness(uniform).mean().item() == pytest.approx(1, abs=0.05)
    grid = torch.linspace(-1, 1, 28)
    blob = torch.exp(-(grid[:, None] ** 2 + grid[None] ** 2) * 4)[None, None]
    assert filter_smoothness(blob).item() < 0.2
    assert filter_smoothness(5 * noise[:3]).allclose(filter_smoothness(noise[:3]))  # scale-free


def test_init_scale_is_fixed_by_the_default_initialization_whatever_the_width():
    torch.manual_seed(0)
    for fan_in, out in [(64, 32), (784, 1024), (16 * 9, 32)]:
        w = nn.Linear(fan_in, out).weight.detach()[None]
        assert init_scale(w).item() == pytest.approx(1 / math.sqrt(3), rel=0.05)
    conv = nn.Conv2d(16, 32, 3).weight.detach()[None]
    assert init_scale(conv).item() == pytest.approx(1 / math.sqrt(3), rel=0.05)


@pytest.mark.parametrize("family,shape", [("mlp", (1, 28, 28)), ("cnn", (3, 32, 32)), ("lenet", (1, 28, 28)),
                                          ("vit", (3, 32, 32)), ("resnet", (3, 32, 32))])
def test_every_family_gets_every_statistic(family, shape):
    torch.manual_seed(0)
    config = {"patch_size": 4} if family == "vit" else {}
    sd = build_model(family, shape, 10, **config).state_dict()
    batch = {k: v[None].double() for k, v in sd.items() if v.is_floating_point() and "running" not in k}
    roles = layer_roles({k: v.shape[1:] for k, v in batch.items()})
    out = learned_stats(batch, roles)
    assert set(out) == set(LEARNED_STATS)
    missing = [k for k, v in out.items() if not torch.isfinite(v).all()]
    # torchvision zero-initializes the ViT head: no geometry until it trains
    assert missing == ([k for k in LEARNED_STATS if k.startswith("head_")] if family == "vit" else []), missing
    assert out["first_smoothness"].item() == pytest.approx(1, abs=0.15)  # untrained filters are noise


def test_statistics_that_do_not_exist_are_nan():
    sd = {"weight": torch.randn(1, 10, 50)}  # one dense layer, fan-in not an image: no head, no filter
    out = learned_stats(sd, layer_roles({"weight": (10, 50)}))
    assert all(torch.isnan(out[k]).all() for k in ("head_cos_std", "first_smoothness", "scale_head"))
    assert torch.isfinite(out["scale_first"]).all()
    bad = {"0.weight": torch.randn(2, 16, 64), "1.weight": torch.randn(2, 10, 16)}
    bad["1.weight"][1, 0, 0] = float("nan")
    out = learned_stats(bad, layer_roles({k: v.shape[1:] for k, v in bad.items()}))
    assert torch.isfinite(out["head_cos_std"][0]) and torch.isnan(out["head_cos_std"][1])


def test_learned_schema_through_the_transformer():
    torch.manual_seed(0)
    ckpts = [build_model("mlp", (1, 8, 8), 10).state_dict() for _ in range(3)]
    X = WeightStatistics(schema="learned").fit_transform(ckpts)
    assert X.shape == (3, len(LEARNED_STATS))


def test_batchnorm_networks_are_compared_by_their_effective_weights(bn_resnet):
    """A BatchNorm network computes the same function when a layer before a BatchNorm is
    scaled by c and the running variance by c²: folding makes its statistics the same too."""
    from perfpredict.checkpoints import as_checkpoint
    from perfpredict.features.batching import feature_matrix
    from perfpredict.features.schema import get_schema

    scaled = dict(bn_resnet)
    for conv, bn in [("conv", "bn"), ("layer1.conv1", "layer1.bn1"), ("layer2.shortcut.0", "layer2.shortcut.1")]:
        scaled[f"{conv}.weight"] = 3.0 * bn_resnet[f"{conv}.weight"]
        scaled[f"{bn}.running_var"] = 9.0 * bn_resnet[f"{bn}.running_var"] + 8 * 1e-5  # (c² var + c² eps) - eps
    ckpts = [as_checkpoint(sd) for sd in (bn_resnet, scaled)]
    assert "bn.running_var" in ckpts[0].buffers and "bn.running_var" in ckpts[0].skipped
    schema = get_schema("learned")
    a, b = feature_matrix(schema, ckpts, list(schema.fixed_names))
    np.testing.assert_allclose(a, b, rtol=1e-5)
    raw = [as_checkpoint({k: v for k, v in sd.items() if "running" not in k}) for sd in (bn_resnet, scaled)]
    a_raw, b_raw = feature_matrix(schema, raw, list(schema.fixed_names))  # without statistics: not folded
    scale = list(schema.fixed_names).index("learned.scale.max")
    assert not np.isclose(a_raw[scale], b_raw[scale])


def test_the_report_explains_every_learned_name():
    from perfpredict.features.schema import get_schema
    from perfpredict.report.taxonomy import describe_feature, explain_feature

    for name in get_schema("learned").fixed_names:
        kind = describe_feature(name)
        assert kind.family == "learned structure" and kind.role in ("head", "first", "all")
        assert "tensor" not in explain_feature(name) and explain_feature(name).endswith("(BatchNorm folded)")


@pytest.mark.parametrize("version, parts", [(2, ("agnostic", "learned", "alignment")), (1, ("agnostic", "learned"))])
def test_the_transfer_schema_is_its_parts_together(bn_resnet, version, parts):
    from perfpredict.checkpoints import as_checkpoint
    from perfpredict.features.batching import feature_matrix
    from perfpredict.features.schema import get_schema

    torch.manual_seed(0)
    ckpts = [as_checkpoint(bn_resnet), as_checkpoint(build_model("mlp", (1, 8, 8), 10).state_dict())]
    schemas = [get_schema(name) for name in parts]
    transfer = get_schema("transfer", version)
    assert list(transfer.fixed_names) == [n for s in schemas for n in s.fixed_names]
    expected = np.hstack([feature_matrix(s, ckpts, list(s.fixed_names)) for s in schemas])
    np.testing.assert_array_equal(feature_matrix(transfer, ckpts, list(transfer.fixed_names)), expected)


def test_a_transfer_table_holds_the_agnostic_and_learned_tables(tmp_path):
    import pandas as pd
    from safetensors.torch import save_file

    from perfpredict.errors import SchemaMismatchError
    from perfpredict.features import extract_features

    torch.manual_seed(0)
    paths = []
    for i, family in enumerate(("mlp", "cnn")):
        paths.append(tmp_path / f"{family}.safetensors")
        save_file(build_model(family, (1, 8, 8), 10).state_dict(), str(paths[-1]))
    meta = pd.DataFrame({"path": [str(p) for p in paths], "test_accuracy": [0.5, 0.7]})
    both = extract_features(paths, "transfer", meta=meta)
    for schema in ("agnostic", "learned"):
        alone, part = extract_features(paths, schema, meta=meta), both.select(schema)
        assert (part.schema, part.schema_version, part.feature_names) == (alone.schema, alone.schema_version,
                                                                          alone.feature_names)
        pd.testing.assert_frame_equal(part.frame, alone.frame)
    with pytest.raises(SchemaMismatchError, match="--schema statnn"):
        both.select("statnn")
    with pytest.raises(SchemaMismatchError, match="does not hold the learned"):
        both.select("agnostic").select("learned")


def test_schemas_that_fold_batchnorm_do_not_call_its_running_variances_left_out(bn_resnet):
    from perfpredict.features.batching import left_out
    from perfpredict.features.schema import get_schema
    from perfpredict.features.transformer import to_checkpoint

    ckpt = to_checkpoint(bn_resnet)
    plain, folding = left_out(get_schema("agnostic"), ckpt), left_out(get_schema("transfer"), ckpt)
    variances = {k for k in plain if k.endswith("running_var")}
    assert "bn.running_var" in variances and set(plain) - set(folding) == variances
    assert "bn.running_mean" in folding and "bn.num_batches_tracked" in folding  # read by no schema
