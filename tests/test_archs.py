import pytest
import torch

from perfpredict.archs import ARCHS, INITS, build_model, init_weights
from perfpredict.errors import UnknownNameError

SHAPES = [(1, 8, 8), (1, 28, 28), (3, 32, 32)]


@pytest.mark.parametrize("name", sorted(ARCHS))
@pytest.mark.parametrize("shape", SHAPES)
def test_builders_adapt_to_input(name, shape):
    kw = {"patch_size": 4} if name == "vit" else {}
    model = build_model(name, shape, 7, activation="elu", dropout=0.1, **kw)
    assert model(torch.randn(3, *shape)).shape == (3, 7)


def test_vit_is_torchvision_and_uses_activation():
    from torchvision.models import VisionTransformer

    model = build_model("vit", (1, 8, 8), 10, activation="tanh", patch_size=2)
    assert isinstance(model, VisionTransformer)
    assert not any(isinstance(m, torch.nn.GELU) for m in model.modules())
    assert any(isinstance(m, torch.nn.Tanh) for m in model.modules())


def test_unterthiner_cnn_defaults():
    model = build_model("cnn", (1, 28, 28), 10)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size, c.stride) for c in convs] == [(16, (3, 3), (2, 2))] * 3


@pytest.mark.parametrize("init", [i for i in INITS if i != "default"])
def test_init_changes_weights_and_zeroes_bias(init):
    model = build_model("mlp", (1, 8, 8), 10)
    before = model[1].weight.clone()
    init_weights(model, init, std=0.3)
    assert not torch.equal(before, model[1].weight)
    assert torch.count_nonzero(model[1].bias) == 0


def test_orthogonal_init_is_orthogonal():
    model = build_model("mlp", (1, 8, 8), 10, width=32)
    init_weights(model, "orthogonal")
    w = model[1].weight  # 32 x 64
    assert torch.allclose(w @ w.T, torch.eye(32), atol=1e-5)


def test_unknown_names():
    with pytest.raises(UnknownNameError, match="mlp"):
        build_model("densenet", (1, 8, 8), 10)
    with pytest.raises(UnknownNameError, match="relu"):
        build_model("mlp", (1, 8, 8), 10, activation="swishy")
