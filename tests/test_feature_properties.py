"""Property-based tests of feature extraction: any state dict, and the network's symmetries."""

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from perfpredict.archs import build_model
from perfpredict.checkpoints import as_checkpoint
from perfpredict.features import SCHEMAS, WeightStatistics

NAMES = ["0.weight", "0.bias", "1.weight", "blocks.0.attn.in_proj_weight", "blocks.0.attn.in_proj_bias",
         "norm.weight", "cls_token", "embed.weight", "scale", "head.weight", "head.bias"]
DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int64, torch.bool]


@st.composite
def tensors(draw):
    shape = tuple(draw(st.lists(st.integers(0, 6), max_size=4)))
    if draw(st.booleans()) and len(shape) == 2:
        shape = (3 * shape[1], shape[1])  # a fused attention projection's shape
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    values = rng.normal(scale=draw(st.sampled_from([1e-4, 0.1, 10.0])), size=shape)
    if values.size and draw(st.booleans()):
        flat = values.reshape(-1)
        special = rng.random(flat.size) < draw(st.sampled_from([0.1, 1.0]))
        flat[special] = rng.choice([np.nan, np.inf, -np.inf], size=int(special.sum()))
    if draw(st.booleans()):
        values = np.zeros(shape) + draw(st.floats(-1, 1))  # constant tensors (zero spread)
    return torch.as_tensor(np.asarray(values)).to(draw(st.sampled_from(DTYPES)))


state_dicts = st.dictionaries(st.sampled_from(NAMES), tensors(), max_size=6)


@settings(max_examples=60, deadline=None)
@given(state_dicts)
def test_any_state_dict_gives_a_vector_without_crashing(sd):
    for schema in SCHEMAS:
        ws = WeightStatistics(schema).fit([sd])
        x = ws.transform([sd])
        assert x.shape == (1, len(ws.get_feature_names_out()))
        assert not np.isinf(x).any()  # missing values are NaN, never Inf
    kept = as_checkpoint(sd)
    layers = [w for n, w in kept.tensors.items() if w.ndim >= 2 and n.endswith("weight") and w.size]
    finite = np.concatenate([w.ravel() for w in layers] + [np.empty(0)]).astype(np.float64)
    finite = finite[np.isfinite(finite)]
    got = WeightStatistics().set_output(transform="pandas").fit([]).transform([sd])["global.mean"].iloc[0]
    if finite.size and np.abs(finite).max() < 1e30:
        assert np.isclose(got, finite.mean(), rtol=1e-4, atol=1e-6 * max(1.0, np.abs(finite).max()))
    else:
        assert np.isnan(got)


def _permute_units(sd, perms):
    """Permute the units (or channels) of every hidden layer of an ``mlp`` or ``cnn`` state dict."""
    out = dict(sd)
    linear = [k[:-len(".weight")] for k in sd if k.endswith(".weight")]
    for layer, nxt, perm in zip(linear, linear[1:], perms):
        out[f"{layer}.weight"] = out[f"{layer}.weight"][perm]
        out[f"{layer}.bias"] = out[f"{layer}.bias"][perm]
        out[f"{nxt}.weight"] = out[f"{nxt}.weight"][:, perm]
    return out


def _perms(n, count, seed):
    """``count`` permutations of ``n`` units, none of them the identity."""
    g = torch.Generator().manual_seed(seed)
    perms = [torch.randperm(n, generator=g) for _ in range(count)]
    return [p.roll(1) if torch.equal(p, torch.arange(n)) else p for p in perms]


def _agnostic(sd):
    return WeightStatistics().fit([]).transform([sd])


@settings(max_examples=15, deadline=None)
@given(depth=st.integers(1, 3), width=st.integers(2, 48), seed=st.integers(0, 10_000))
def test_agnostic_is_invariant_to_permuting_hidden_units(depth, width, seed):
    torch.manual_seed(seed)
    sd = build_model("mlp", (1, 6, 6), 10, depth=depth, width=width).state_dict()
    permuted = _permute_units(sd, _perms(width, depth, seed))
    assert not torch.equal(permuted["1.weight"], sd["1.weight"])
    np.testing.assert_allclose(_agnostic(permuted), _agnostic(sd), rtol=1e-6, atol=1e-9)


@settings(max_examples=10, deadline=None)
@given(depth=st.integers(1, 3), channels=st.integers(2, 16), kernel=st.sampled_from([3, 5]),
       seed=st.integers(0, 10_000))
def test_agnostic_is_invariant_to_permuting_cnn_channels(depth, channels, kernel, seed):
    torch.manual_seed(seed)
    sd = build_model("cnn", (1, 8, 8), 10, depth=depth, channels=channels, kernel_size=kernel).state_dict()
    # conv i's output channels feed conv i+1 (or, after pooling, the linear head) as inputs
    permuted = _permute_units(sd, _perms(channels, depth, seed))
    assert not torch.equal(permuted["0.weight"], sd["0.weight"])
    np.testing.assert_allclose(_agnostic(permuted), _agnostic(sd), rtol=1e-6, atol=1e-9)
