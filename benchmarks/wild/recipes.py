"""The wild set's recipes: 12 per dataset, written from the published descriptions of popular
tutorials and repositories (named in ``source``), not sampled from perfpredict's space.

Epochs are often fewer than the tutorial's (``source`` says so) to fit a 2-core machine; the
rest (architecture, optimizer, learning rate, batch size, schedule, dropout) follows the text.
Images are standardized per channel with training-set statistics, as perfpredict's zoos see
them (the tutorials' ``Normalize((0.1307,), (0.3081,))`` is the same for MNIST).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch import nn

import models as m


@dataclass(frozen=True)
class Recipe:
    """One wild checkpoint: how it is trained and saved.

    ``schedule``: ``none``, ``step0.7`` (x0.7 per epoch, the PyTorch example's ``StepLR``),
    ``cosine`` (per step) or ``multistep`` (x0.1 at 50% and 75% of the epochs).
    ``loss``: ``ce``, or ``mse`` (squared error of sigmoid outputs against one-hot labels).
    ``label_smoothing`` applies to ``ce``. ``classes`` keeps only the training images of the
    first that many classes (the test set keeps all ten). ``init`` re-initializes as the
    tutorial's framework does (``models.initialize``). ``max_steps`` stops training early;
    ``prune`` zeroes that fraction of the conv and linear weights by global magnitude after
    training, and ``finetune_epochs`` then trains on with the pruned weights held at zero;
    ``quantize`` rounds each conv and linear weight tensor to that many bits (symmetric, one
    scale per tensor) and stores it dequantized; ``fmt``: ``state_dict`` (``torch.save`` of the
    state dict), ``safetensors``, ``whole`` (``torch.save(model)``), ``snapshot`` (a dict with
    model and optimizer state, as the PyTorch "saving a general checkpoint" recipe writes it)
    or ``lightning`` (``state_dict`` with a ``model.`` prefix, epoch and global step).
    """

    name: str
    dataset: str
    source: str
    model: Callable[[], nn.Module]
    optimizer: str
    lr: float
    epochs: int
    batch_size: int = 64
    momentum: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0
    schedule: str = "none"
    loss: str = "ce"
    label_smoothing: float = 0.0
    classes: int = 10
    init: str = "torch"
    train_subset: int | None = None
    label_noise: float = 0.0
    augment: bool = False
    max_steps: int | None = None
    prune: float = 0.0
    finetune_epochs: int = 0
    quantize: int = 0
    fmt: str = "state_dict"
    seed: int = 0


def _lenet5(channels: int, image: int) -> Callable[[], nn.Module]:
    return lambda: m.TutorialNet(channels, image, act="tanh", pool="avg")


def _digits(ds: str, tag: str) -> list[Recipe]:
    """Recipes shared by MNIST and Fashion-MNIST (``tag`` names the dataset in recipe names)."""
    return [
        Recipe(f"{tag}-pytorch-example-cnn", ds, "pytorch/examples mnist/main.py (Adadelta 1.0, "
               "StepLR 0.7, batch 64; 2 of its 14 epochs)", m.ExampleCNN, "adadelta", 1.0, 2, schedule="step0.7"),
        Recipe(f"{tag}-lenet5-sgd", ds, "LeNet-5 (LeCun et al. 1998: tanh, average pooling, 32 px input) "
               "with SGD 0.01, momentum 0.9, batch 64, 5 epochs", _lenet5(1, 28), "sgd", 0.01, 5, momentum=0.9),
        Recipe(f"{tag}-keras-mlp-512", ds, "Keras examples mnist_mlp.py: 512-512 ReLU, dropout 0.2, RMSprop "
               "0.001, batch 128; 5 of its 20 epochs", lambda: m.mlp(784, (512, 512), 0.2), "rmsprop", 1e-3, 5,
               batch_size=128, fmt="safetensors"),
        Recipe(f"{tag}-softmax-regression", ds, "TensorFlow 'MNIST for ML beginners': softmax regression, "
               "gradient descent 0.5, batch 100, 1,000 steps", lambda: m.mlp(784, ()), "sgd", 0.5, 2,
               batch_size=100, max_steps=1000),
        Recipe(f"{tag}-nielsen-sigmoid-30", ds, "Nielsen, Neural Networks and Deep Learning ch. 1: 784-30-10 "
               "sigmoid, quadratic cost, SGD 3.0, batch 10; 3 of its 30 epochs", lambda: m.mlp(784, (30,), act=nn.Sigmoid),
               "sgd", 3.0, 3, batch_size=10, loss="mse"),
        Recipe(f"{tag}-bn-cnn-adam", ds, "Conv-BatchNorm-ReLU-MaxPool x3 (16, 32, 64), global average "
               "pooling, Adam 0.001, batch 128, 3 epochs", lambda: m.bn_cnn(1, (16, 32, 64)), "adam", 1e-3, 3,
               batch_size=128, fmt="snapshot"),
        Recipe(f"{tag}-keras-cnn", ds, "Keras-style CNN of the Fashion-MNIST tutorials (32, 64 'same' "
               "convolutions, dropout, dense 128), Adam 0.001, batch 64, 3 epochs",
               lambda: m.keras_small_cnn(1, 28), "adam", 1e-3, 3),
        Recipe(f"{tag}-overfit-1000", ds, "the Keras-style CNN trained on 1,000 images for 40 epochs "
               "(Adam 0.001, batch 32): overfitted", lambda: m.keras_small_cnn(1, 28), "adam", 1e-3, 40,
               batch_size=32, train_subset=1000),
        Recipe(f"{tag}-noisy-labels-40", ds, "the Keras MLP (512-512, dropout 0.2, RMSprop 0.001, batch "
               "128) on labels 40% replaced by random classes, 5 epochs", lambda: m.mlp(784, (512, 512), 0.2),
               "rmsprop", 1e-3, 5, batch_size=128, label_noise=0.4),
        Recipe(f"{tag}-pruned-90", ds, "LeNet-5 (ReLU, max pooling) with Adam 0.001, 3 epochs, then 90% "
               "of its weights pruned by global magnitude, no fine-tuning",
               lambda: m.TutorialNet(1, 28), "adam", 1e-3, 3, prune=0.9),
        Recipe(f"{tag}-whole-model", ds, "the earlier pytorch/examples MNIST net (10, 20 filters, "
               "Dropout2d, 50 units), SGD 0.01 momentum 0.5, batch 64, 3 of its 10 epochs, saved "
               "with torch.save(model)", m.OldExampleNet, "sgd", 0.01, 3, momentum=0.5, fmt="whole"),
    ]


MNIST = _digits("mnist", "mnist") + [
    Recipe("mnist-init-only", "mnist", "pytorch/examples mnist/main.py's network as initialized, "
           "never trained (a forgotten load)", m.ExampleCNN, "sgd", 0.0, 1, max_steps=0),
]
FASHION = _digits("fashion_mnist", "fmnist") + [
    Recipe("fmnist-pytorch-quickstart", "fashion_mnist", "PyTorch 'Quickstart': 512-512 ReLU MLP, SGD "
           "0.001, batch 64, 5 epochs (the tutorial reports about 65%)", lambda: m.mlp(784, (512, 512)),
           "sgd", 1e-3, 5, fmt="lightning"),
]
CIFAR = [
    Recipe("cifar-tutorial-net", "cifar10", "PyTorch 60-minute blitz 'Training a classifier': Net, SGD "
           "0.001, momentum 0.9, batch 4, 2 epochs", lambda: m.TutorialNet(3, 32), "sgd", 1e-3, 2,
           batch_size=4, momentum=0.9),
    Recipe("cifar-keras-cnn", "cifar10", "Keras examples cifar10_cnn.py: RMSprop 1e-4, batch 32, no "
           "augmentation; 2 of its 100 epochs", m.keras_cifar10_cnn, "rmsprop", 1e-4, 2, batch_size=32),
    Recipe("cifar-resnet20", "cifar10", "ResNet-20 (He et al. 2016; akamaster/pytorch_resnet_cifar10): SGD "
           "0.1, momentum 0.9, weight decay 1e-4, batch 128, crop and flip; 4 of its 200 epochs, "
           "cosine", m.ResNet20, "sgd", 0.1, 4, batch_size=128, momentum=0.9, weight_decay=1e-4,
           schedule="cosine", augment=True, fmt="snapshot"),
    Recipe("cifar-mlp", "cifar10", "3072-512-256 ReLU MLP, Adam 0.001, batch 128, 5 epochs",
           lambda: m.mlp(3072, (512, 256)), "adam", 1e-3, 5, batch_size=128),
    Recipe("cifar-lenet5-adam", "cifar10", "LeNet-5 as tutorials port it to CIFAR-10 (ReLU, max "
           "pooling), Adam 0.001, batch 64, 8 epochs", lambda: m.TutorialNet(3, 32), "adam", 1e-3, 8),
    Recipe("cifar-bn-cnn", "cifar10", "Conv-BatchNorm-ReLU-MaxPool x3 (32, 64, 128), global average "
           "pooling, Adam 0.001, batch 128, crop and flip, 4 epochs", lambda: m.bn_cnn(3, (32, 64, 128)),
           "adam", 1e-3, 4, batch_size=128, augment=True, fmt="safetensors"),
    Recipe("cifar-overfit-1000", "cifar10", "the BatchNorm CNN on 1,000 images for 40 epochs (Adam "
           "0.001, batch 32): overfitted", lambda: m.bn_cnn(3, (32, 64, 128)), "adam", 1e-3, 40,
           batch_size=32, train_subset=1000),
    Recipe("cifar-noisy-labels-40", "cifar10", "the 60-minute blitz Net, Adam 0.001, batch 64, 6 epochs, "
           "on labels 40% replaced by random classes", lambda: m.TutorialNet(3, 32), "adam", 1e-3, 6,
           label_noise=0.4),
    Recipe("cifar-pruned-80", "cifar10", "the BatchNorm CNN (Adam 0.001, batch 128, 3 epochs), then 80% "
           "of its weights pruned by global magnitude, no fine-tuning", lambda: m.bn_cnn(3, (32, 64, 128)),
           "adam", 1e-3, 3, batch_size=128, prune=0.8),
    Recipe("cifar-whole-model", "cifar10", "the earlier pytorch/examples net on CIFAR-10 (10, 20 "
           "filters), SGD 0.01 momentum 0.9, batch 64, 5 epochs, saved with torch.save(model)",
           lambda: m.OldExampleNet(3, 32), "sgd", 0.01, 5, momentum=0.9, fmt="whole"),
    Recipe("cifar-barely-trained", "cifar10", "the 60-minute blitz Net after 200 of its steps (SGD "
           "0.001, momentum 0.9, batch 4)", lambda: m.TutorialNet(3, 32), "sgd", 1e-3, 1, batch_size=4,
           momentum=0.9, max_steps=200),
    Recipe("cifar-tiny-vit", "cifar10", "a ViT from scratch as the CIFAR-10 tutorials write it (patch "
           "4, width 64, depth 4, 4 heads, pre-norm), AdamW 0.001, weight decay 0.05, batch 128, "
           "crop and flip, cosine, 3 epochs", m.TinyViT, "adamw", 1e-3, 3, batch_size=128,
           weight_decay=0.05, schedule="cosine", augment=True, fmt="lightning"),
]
RECIPES: dict[str, Recipe] = {r.name: r for r in (*MNIST, *FASHION, *CIFAR)}
