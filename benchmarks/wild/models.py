"""The wild set's networks, in plain PyTorch as their tutorials write them.

Nothing here comes from perfpredict's model registry: the tensor names, layer orders and
initializations are those of the published code (for example ``nn.Sequential`` indices,
``nn.TransformerEncoderLayer``'s fused ``in_proj_weight``), so that the predictor sees them as
it would see a user's checkpoint.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class ExampleCNN(nn.Module):
    """``pytorch/examples`` ``mnist/main.py``: two 3x3 convolutions, max pooling, dropout."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv2(F.relu(self.conv1(x)))), 2)
        x = self.dropout1(x).flatten(1)
        return self.fc2(self.dropout2(F.relu(self.fc1(x))))


class OldExampleNet(nn.Module):
    """The earlier ``pytorch/examples`` MNIST net: 10 and 20 5x5 filters, ``Dropout2d``, 50 units."""

    def __init__(self, in_channels: int = 1, image: int = 28) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 10, kernel_size=5)
        self.conv2 = nn.Conv2d(10, 20, kernel_size=5)
        self.conv2_drop = nn.Dropout2d()
        side = ((image - 4) // 2 - 4) // 2
        self.fc1 = nn.Linear(20 * side * side, 50)
        self.fc2 = nn.Linear(50, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(F.max_pool2d(self.conv1(x), 2))
        x = F.relu(F.max_pool2d(self.conv2_drop(self.conv2(x)), 2))
        x = F.dropout(F.relu(self.fc1(x.flatten(1))), training=self.training)
        return self.fc2(x)


class TutorialNet(nn.Module):
    """The CIFAR-10 ``Net`` of PyTorch's 60-minute blitz (and, on 28 px images, LeNet-5 with
    ReLU and max pooling as most tutorials write it)."""

    def __init__(self, in_channels: int = 3, image: int = 32, act: str = "relu", pool: str = "max",
                 pad: int | None = None) -> None:
        super().__init__()
        pad = (2 if image == 28 else 0) if pad is None else pad  # LeNet-5 pads MNIST to 32 px
        side = ((image + 2 * pad - 4) // 2 - 4) // 2
        self.conv1 = nn.Conv2d(in_channels, 6, 5, padding=pad)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * side * side, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)
        self.act = {"tanh": torch.tanh, "sigmoid": torch.sigmoid, "relu": F.relu}[act]
        self.pool = F.avg_pool2d if pool == "avg" else F.max_pool2d

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.act(self.conv1(x)), 2)
        x = self.pool(self.act(self.conv2(x)), 2)
        x = self.act(self.fc2(self.act(self.fc1(x.flatten(1)))))
        return self.fc3(x)


def mlp(inputs: int, hidden: tuple[int, ...], dropout: float = 0.0, act: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    """``Flatten`` then ``Linear``/activation(/``Dropout``) blocks, as Keras and the quickstarts stack them."""
    layers: list[nn.Module] = [nn.Flatten()]
    for width in hidden:
        layers += [nn.Linear(inputs, width), act()] + ([nn.Dropout(dropout)] if dropout else [])
        inputs = width
    return nn.Sequential(*layers, nn.Linear(inputs, 10))


def keras_small_cnn(in_channels: int, image: int) -> nn.Sequential:
    """The Keras-style CNN of many Fashion-MNIST tutorials: two 3x3 'same' convolutions (32, 64)
    each with max pooling and dropout 0.25, a 128-unit dense layer with dropout 0.5."""
    side = image // 4
    return nn.Sequential(
        nn.Conv2d(in_channels, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.25),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.25),
        nn.Flatten(), nn.Linear(64 * side * side, 128), nn.ReLU(), nn.Dropout(0.5), nn.Linear(128, 10))


def keras_cifar10_cnn() -> nn.Sequential:
    """Keras's ``cifar10_cnn.py``: per stage a 'same' and a 'valid' 3x3 convolution (32, then
    64), max pooling and dropout 0.25; a 512-unit dense layer with dropout 0.5."""
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.25),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.Conv2d(64, 64, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.25),
        nn.Flatten(), nn.Linear(64 * 6 * 6, 512), nn.ReLU(), nn.Dropout(0.5), nn.Linear(512, 10))


def bn_cnn(in_channels: int, widths: tuple[int, ...]) -> nn.Sequential:
    """Conv-BatchNorm-ReLU-MaxPool stages, global average pooling, one linear layer."""
    layers: list[nn.Module] = []
    c = in_channels
    for w in widths:
        layers += [nn.Conv2d(c, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(), nn.MaxPool2d(2)]
        c = w
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, 10))


class _Block(nn.Module):
    """ResNet basic block with the parameter-free shortcut of He et al. (option A)."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.pad = c_out - c_in
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        short = x[:, :, ::self.stride, ::self.stride] if self.stride > 1 else x
        if self.pad:
            short = F.pad(short, (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))
        return F.relu(out + short)


class ResNet20(nn.Module):
    """ResNet-20 for CIFAR-10 (He et al. 2016, section 4.2), as ``akamaster/pytorch_resnet_cifar10``
    writes it (``blocks=1``: ResNet-8)."""

    def __init__(self, blocks: int = 3, in_channels: int = 3) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        stages, c = [], 16
        for i, w in enumerate((16, 32, 64)):
            stages.append(nn.Sequential(*[_Block(c if j == 0 else w, w, 2 if i and j == 0 else 1) for j in range(blocks)]))
            c = w
        self.layer1, self.layer2, self.layer3 = stages
        self.linear = nn.Linear(64, 10)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer3(self.layer2(self.layer1(F.relu(self.bn1(self.conv1(x))))))
        return self.linear(F.adaptive_avg_pool2d(x, 1).flatten(1))


class TinyViT(nn.Module):
    """A small ViT as the "ViT from scratch on CIFAR-10" tutorials write it: a strided
    convolution as patch embedding, a class token, learned positions, ``nn.TransformerEncoder``."""

    def __init__(self, image: int = 32, patch: int = 4, dim: int = 64, depth: int = 4, heads: int = 4,
                 in_channels: int = 3) -> None:
        super().__init__()
        self.patch_embed = nn.Conv2d(in_channels, dim, patch, patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.randn(1, (image // patch) ** 2 + 1, dim) * 0.02)
        layer = nn.TransformerEncoderLayer(dim, heads, 2 * dim, dropout=0.1, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(len(x), -1, -1), x], 1) + self.pos_embed
        return self.head(self.norm(self.encoder(x))[:, 0])


def conv_stack(in_channels: int, image: int, convs: tuple[tuple[int, int, int], ...], hidden: tuple[int, ...] = (),
               dropout: float = 0.0, act: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    """Convolutions, each ``(filters, kernel, padding)`` followed by the activation and 2x2 max
    pooling (a negative ``filters`` marks a convolution without pooling), then dense layers: the
    small CNNs of the TensorFlow, Keras, Nielsen, cs231n and ConvNetJS texts."""
    layers: list[nn.Module] = []
    c, side = in_channels, image
    for filters, kernel, pad in convs:
        pool = filters > 0
        layers += [nn.Conv2d(c, abs(filters), kernel, padding=pad), act()] + ([nn.MaxPool2d(2)] if pool else [])
        c, side = abs(filters), (side + 2 * pad - kernel + 1) // (2 if pool else 1)
    layers.append(nn.Flatten())
    inputs = c * side * side
    for width in hidden:
        layers += [nn.Linear(inputs, width), act()] + ([nn.Dropout(dropout)] if dropout else [])
        inputs = width
    if dropout and not hidden:
        layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers, nn.Linear(inputs, 10))


def vgg_bn(in_channels: int, widths: tuple[int, ...]) -> nn.Sequential:
    """VGG-style stages of two 3x3 Conv-BatchNorm-ReLU and max pooling, global average pooling."""
    layers: list[nn.Module] = []
    c = in_channels
    for w in widths:
        for _ in range(2):
            layers += [nn.Conv2d(c, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU()]
            c = w
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, 10))


def bn_lenet() -> nn.Sequential:
    """d2l.ai's LeNet with batch normalization (section 8.5): sigmoid, average pooling, 28 px."""
    return nn.Sequential(
        nn.Conv2d(1, 6, 5), nn.BatchNorm2d(6), nn.Sigmoid(), nn.AvgPool2d(2),
        nn.Conv2d(6, 16, 5), nn.BatchNorm2d(16), nn.Sigmoid(), nn.AvgPool2d(2), nn.Flatten(),
        nn.Linear(256, 120), nn.BatchNorm1d(120), nn.Sigmoid(),
        nn.Linear(120, 84), nn.BatchNorm1d(84), nn.Sigmoid(), nn.Linear(84, 10))


def bn_mlp(inputs: int, hidden: tuple[int, ...]) -> nn.Sequential:
    """Linear-BatchNorm-ReLU blocks."""
    layers: list[nn.Module] = [nn.Flatten()]
    for width in hidden:
        layers += [nn.Linear(inputs, width), nn.BatchNorm1d(width), nn.ReLU()]
        inputs = width
    return nn.Sequential(*layers, nn.Linear(inputs, 10))


_INIT = {
    "glorot": (nn.init.xavier_uniform_, nn.init.zeros_),
    "normal0.01": (lambda w: nn.init.normal_(w, std=0.01), nn.init.zeros_),
    "nielsen": (lambda w: nn.init.normal_(w, std=w[0].numel() ** -0.5), nn.init.normal_),
    "tf-truncated": (lambda w: nn.init.trunc_normal_(w, std=0.1, a=-0.2, b=0.2), lambda b: nn.init.constant_(b, 0.1)),
}
"""Per scheme of :func:`initialize`: how it sets a conv or linear layer's weight and bias."""


@torch.no_grad()
def initialize(model: nn.Module, scheme: str) -> nn.Module:
    """Re-initialize the conv and linear layers as a tutorial's framework does: ``glorot``
    (Keras, scikit-learn, d2l's ``xavier``: Glorot uniform, zero biases), ``normal0.01``
    (d2l's MLPs), ``nielsen`` (N(0, 1/fan-in) weights, N(0, 1) biases), ``tf-truncated``
    (TensorFlow 1's tutorials: truncated normal 0.1, biases 0.1); ``torch`` keeps PyTorch's."""
    if scheme == "torch":
        return model
    if scheme not in _INIT:
        raise ValueError(f"unknown initialization {scheme!r}: one of torch, {', '.join(_INIT)}")
    weight, bias = _INIT[scheme]
    for mod in model.modules():
        if isinstance(mod, (nn.Conv2d, nn.Linear)):
            weight(mod.weight)
            if mod.bias is not None:
                bias(mod.bias)
    return model
