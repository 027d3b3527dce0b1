"""The held-out wild set: 12 more recipes per dataset, from other tutorials and textbooks than
``recipes.py``, written down before any predictor was run on them.

The first wild set guided which zoo portions were added and which tables the shipped predictor
is fitted on, so it no longer measures the predictor on networks nothing was chosen by. This
set does: nothing in perfpredict is fitted, tuned or chosen on it. As in ``recipes.py``, epochs
are often fewer than the source's (``source`` says so) to fit a 2-core machine; the rest
follows the text, with images standardized per channel.
"""

from __future__ import annotations

from torch import nn

import models as m
from recipes import Recipe

_SKLEARN = ("scikit-learn MLPClassifier defaults: 100 ReLU units, Adam 0.001, batch 200, L2 alpha "
            "1e-4 (5e-7 per weight and step), Glorot initialization; 10 of its up to 200 epochs")


def _keras_convnet(channels: int = 1, image: int = 28) -> nn.Sequential:
    """keras.io "Simple MNIST convnet": 32 and 64 valid 3x3 convolutions with pooling, dropout 0.5."""
    return m.conv_stack(channels, image, ((32, 3, 0), (64, 3, 0)), dropout=0.5)


def _tf_deep_cnn() -> nn.Sequential:
    """TensorFlow 1 "Deep MNIST for experts": 32 and 64 'same' 5x5 convolutions, 1,024 units, dropout 0.5."""
    return m.conv_stack(1, 28, ((32, 5, 2), (64, 5, 2)), (1024,), dropout=0.5)


def _tf_basic() -> nn.Sequential:
    """TensorFlow "Basic classification": Flatten, Dense 128 ReLU, Dense 10."""
    return m.mlp(784, (128,))


MNIST = [
    Recipe("mnist-tf-deep-cnn", "mnist", "TensorFlow 1 'Deep MNIST for experts': conv 32 and 64 (5x5, same, "
           "max pooling), dense 1,024, dropout 0.5, Adam 1e-4, batch 50, truncated-normal 0.1 weights and 0.1 "
           "biases; 1 epoch (1,200 of its 20,000 steps)", _tf_deep_cnn, "adam", 1e-4, 1, batch_size=50,
           init="tf-truncated"),
    Recipe("mnist-keras-convnet", "mnist", "keras.io 'Simple MNIST convnet': conv 32 and 64 (3x3, valid, max "
           "pooling), dropout 0.5, Adam 0.001, batch 128, Glorot; 2 of its 15 epochs, without its 10% "
           "validation split", _keras_convnet, "adam", 1e-3, 2, batch_size=128, init="glorot", fmt="safetensors"),
    Recipe("mnist-sklearn-mlp", "mnist", _SKLEARN, lambda: m.mlp(784, (100,)), "adam", 1e-3, 10, batch_size=200,
           weight_decay=5e-7, init="glorot"),
    Recipe("mnist-lenet-300-100-pruned", "mnist", "LeNet-300-100 as the lottery-ticket paper trains it (Adam "
           "1.2e-3, batch 60), 3 epochs, 80% of its weights pruned by global magnitude, then 1 epoch of "
           "fine-tuning with the pruned weights held at zero", lambda: m.mlp(784, (300, 100)), "adam", 1.2e-3, 3,
           batch_size=60, prune=0.8, finetune_epochs=1),
    Recipe("mnist-nielsen-ch3", "mnist", "Nielsen ch. 3 network2: 784-100-10 sigmoid, cross-entropy, L2 lambda "
           "5.0 over 50,000 images, SGD 0.5, batch 10, N(0, 1/fan-in) weights; 3 of its 30 epochs",
           lambda: m.mlp(784, (100,), act=nn.Sigmoid), "sgd", 0.5, 3, batch_size=10, weight_decay=1e-4,
           init="nielsen"),
    Recipe("mnist-nielsen-ch6-conv", "mnist", "Nielsen ch. 6: conv 20 5x5 with max pooling, 100 sigmoid units, "
           "SGD 0.1, batch 10; 1 of its 60 epochs", lambda: m.conv_stack(1, 28, ((20, 5, 0),), (100,),
           act=nn.Sigmoid), "sgd", 0.1, 1, batch_size=10, init="nielsen", fmt="whole"),
    Recipe("mnist-lightning-mlp", "mnist", "PyTorch Lightning's LitMNIST: 784-128-256-10 ReLU, Adam 0.001, batch "
           "64, 3 epochs", lambda: m.mlp(784, (128, 256)), "adam", 1e-3, 3, fmt="lightning"),
    Recipe("mnist-adam-lr-0.05", "mnist", "the Keras 512-512 MLP (dropout 0.2) with Adam at 0.05, fifty times "
           "its default learning rate, batch 128, 3 epochs", lambda: m.mlp(784, (512, 512), 0.2), "adam", 0.05, 3,
           batch_size=128),
    Recipe("mnist-five-classes", "mnist", "the pytorch/examples MNIST CNN (Adadelta 1.0, StepLR 0.7, batch 64) "
           "trained on the digits 0-4 only (a filtering bug), 1 epoch", m.ExampleCNN, "adadelta", 1.0, 1,
           schedule="step0.7", classes=5, fmt="snapshot"),
    Recipe("mnist-resnet20", "mnist", "ResNet-20 with a one-channel stem (He et al. 2016), SGD 0.1, momentum "
           "0.9, weight decay 1e-4, batch 128, cosine, 1 epoch", lambda: m.ResNet20(in_channels=1), "sgd", 0.1, 1,
           batch_size=128, momentum=0.9, weight_decay=1e-4, schedule="cosine", fmt="snapshot"),
    Recipe("mnist-vit", "mnist", "a ViT as the 'ViT on MNIST' tutorials write it: patch 7, width 64, depth 4, "
           "4 heads, Adam 0.001, batch 128, 3 epochs", lambda: m.TinyViT(28, 7, 64, 4, 4, in_channels=1), "adam",
           1e-3, 3, batch_size=128),
    Recipe("mnist-interrupted", "mnist", "the keras.io MNIST convnet stopped after 100 steps (a run killed early)",
           _keras_convnet, "adam", 1e-3, 1, batch_size=128, init="glorot", max_steps=100),
]

FASHION = [
    Recipe("fmnist-d2l-softmax", "fashion_mnist", "d2l.ai softmax regression (section 4.4): SGD 0.1, batch 256, "
           "10 epochs, N(0, 0.01) weights", lambda: m.mlp(784, ()), "sgd", 0.1, 10, batch_size=256,
           init="normal0.01"),
    Recipe("fmnist-d2l-mlp", "fashion_mnist", "d2l.ai MLP (section 5.2): 784-256-10 ReLU, SGD 0.1, batch 256, "
           "10 epochs, N(0, 0.01) weights", lambda: m.mlp(784, (256,)), "sgd", 0.1, 10, batch_size=256,
           init="normal0.01"),
    Recipe("fmnist-d2l-dropout", "fashion_mnist", "d2l.ai dropout (section 5.6): 784-256-256-10 ReLU, dropout "
           "0.2 and 0.5, SGD 0.5, batch 256, 10 epochs, N(0, 0.01) weights",
           lambda: nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Dropout(0.2), nn.Linear(256, 256),
                                 nn.ReLU(), nn.Dropout(0.5), nn.Linear(256, 10)),
           "sgd", 0.5, 10, batch_size=256, init="normal0.01"),
    Recipe("fmnist-d2l-lenet", "fashion_mnist", "d2l.ai LeNet (section 7.6): sigmoid, average pooling, 28 px "
           "padded by 2, SGD 0.9, batch 256, 10 epochs, Xavier", lambda: m.TutorialNet(1, 28, "sigmoid", "avg"),
           "sgd", 0.9, 10, batch_size=256, init="glorot", fmt="safetensors"),
    Recipe("fmnist-d2l-bn-lenet", "fashion_mnist", "d2l.ai LeNet with batch normalization (section 8.5): SGD "
           "1.0, batch 256, 10 epochs", m.bn_lenet, "sgd", 1.0, 10, batch_size=256, fmt="snapshot"),
    Recipe("fmnist-pytorch-training-tutorial", "fashion_mnist", "PyTorch 'Training with PyTorch': "
           "GarmentClassifier (conv 6 and 16, 5x5, max pooling; 120, 84 ReLU), SGD 0.001, momentum 0.9, "
           "batch 4; 1 of its 5 epochs", lambda: m.TutorialNet(1, 28, pad=0), "sgd", 1e-3, 1, batch_size=4,
           momentum=0.9),
    Recipe("fmnist-tf-basic", "fashion_mnist", "TensorFlow 'Basic classification: classify images of clothing': "
           "Dense 128 ReLU, Adam 0.001, batch 32, Glorot; 5 of its 10 epochs", _tf_basic, "adam", 1e-3, 5,
           batch_size=32, init="glorot"),
    Recipe("fmnist-tf-basic-int8", "fashion_mnist", "the TensorFlow basic classifier, then its weights quantized "
           "to 8 bits (post-training, symmetric per tensor) and saved dequantized", _tf_basic, "adam", 1e-3, 5,
           batch_size=32, init="glorot", quantize=8, seed=1),
    Recipe("fmnist-vgg-bn", "fashion_mnist", "a small VGG with batch normalization (two 3x3 convolutions per stage, "
           "32 and 64, global average pooling), Adam 0.001, batch 128, 2 epochs", lambda: m.vgg_bn(1, (32, 64)),
           "adam", 1e-3, 2, batch_size=128, fmt="lightning"),
    Recipe("fmnist-vit", "fashion_mnist", "the MNIST tutorials' ViT on Fashion-MNIST (patch 7, width 64, depth 4, "
           "4 heads), AdamW 0.001, weight decay 0.05, cosine, batch 128, 3 epochs",
           lambda: m.TinyViT(28, 7, 64, 4, 4, in_channels=1), "adamw", 1e-3, 3, batch_size=128, weight_decay=0.05,
           schedule="cosine"),
    Recipe("fmnist-convnet-label-smoothing", "fashion_mnist", "the keras.io convnet with label smoothing 0.1, "
           "Adam 0.001, batch 128, 3 epochs", _keras_convnet, "adam", 1e-3, 3, batch_size=128, init="glorot",
           label_smoothing=0.1, fmt="whole"),
    Recipe("fmnist-mlp-5000-images", "fashion_mnist", "the d2l.ai MLP on 5,000 training images for 50 epochs "
           "(SGD 0.1, batch 256)", lambda: m.mlp(784, (256,)), "sgd", 0.1, 50, batch_size=256, init="normal0.01",
           train_subset=5000),
]

CIFAR = [
    Recipe("cifar-tf-cnn", "cifar10", "TensorFlow 'Convolutional Neural Network' tutorial: conv 32, 64, 64 (3x3, "
           "valid; pooling after the first two), dense 64, Adam 0.001, batch 32, Glorot; 3 of its 10 epochs",
           lambda: m.conv_stack(3, 32, ((32, 3, 0), (64, 3, 0), (-64, 3, 0)), (64,)), "adam", 1e-3, 3,
           batch_size=32, init="glorot"),
    Recipe("cifar-cs231n-convnet", "cifar10", "cs231n ThreeLayerConvNet: conv 32 7x7 (same) with max pooling, "
           "100 ReLU units, Adam 0.001, batch 50, 1 epoch", lambda: m.conv_stack(3, 32, ((32, 7, 3),), (100,)),
           "adam", 1e-3, 1, batch_size=50, fmt="safetensors"),
    Recipe("cifar-convnetjs", "cifar10", "Karpathy's ConvNetJS CIFAR-10 demo: conv 16, 20, 20 (5x5, same, max "
           "pooling), softmax, Adadelta, batch 4, L2 1e-4; 1 epoch", lambda: m.conv_stack(3, 32, ((16, 5, 2), (20, 5, 2),
           (20, 5, 2))), "adadelta", 1.0, 1, batch_size=4, weight_decay=1e-4),
    Recipe("cifar-vgg-bn", "cifar10", "a small VGG with batch normalization (two 3x3 convolutions per stage, 32, "
           "64, 128, global average pooling), SGD 0.05, momentum 0.9, weight decay 5e-4, batch 128, crop and "
           "flip, cosine, 2 epochs", lambda: m.vgg_bn(3, (32, 64, 128)), "sgd", 0.05, 2, batch_size=128,
           momentum=0.9, weight_decay=5e-4, schedule="cosine", augment=True, fmt="snapshot"),
    Recipe("cifar-resnet8", "cifar10", "ResNet-8 (He et al. 2016, one block per stage), SGD 0.1, momentum 0.9, "
           "weight decay 1e-4, batch 128, cosine, no augmentation, 2 epochs", lambda: m.ResNet20(blocks=1), "sgd",
           0.1, 2, batch_size=128, momentum=0.9, weight_decay=1e-4, schedule="cosine"),
    Recipe("cifar-vit-patch8", "cifar10", "a ViT of patch 8, width 64, depth 2, 4 heads, AdamW 0.001, weight "
           "decay 0.05, batch 128, cosine, 5 epochs", lambda: m.TinyViT(32, 8, 64, 2, 4), "adamw", 1e-3, 5,
           batch_size=128, weight_decay=0.05, schedule="cosine", fmt="lightning"),
    Recipe("cifar-keras-mlp", "cifar10", "the Keras mnist_mlp.py network on CIFAR-10 (512-512 ReLU, dropout 0.2, "
           "RMSprop 0.001, batch 128), 5 epochs", lambda: m.mlp(3072, (512, 512), 0.2), "rmsprop", 1e-3, 5,
           batch_size=128),
    Recipe("cifar-deep-mlp", "cifar10", "a 3072-1024-1024-1024-10 ReLU MLP, SGD 0.01, momentum 0.9, batch 128, "
           "5 epochs", lambda: m.mlp(3072, (1024, 1024, 1024)), "sgd", 0.01, 5, batch_size=128, momentum=0.9,
           fmt="safetensors"),
    Recipe("cifar-tanh-mlp", "cifar10", "a 3072-256-256-10 tanh MLP, plain SGD 0.01, batch 32, Glorot, 3 epochs",
           lambda: m.mlp(3072, (256, 256), act=nn.Tanh), "sgd", 0.01, 3, batch_size=32, init="glorot",
           fmt="whole"),
    Recipe("cifar-linear", "cifar10", "a linear softmax classifier on pixels (cs231n's softmax), SGD 0.01, batch "
           "200, 2 epochs", lambda: m.mlp(3072, ()), "sgd", 0.01, 2, batch_size=200),
    Recipe("cifar-mlp-adam-0.01", "cifar10", "a 3072-512-256 ReLU MLP with Adam at 0.01, ten times its default "
           "learning rate, batch 128, 5 epochs", lambda: m.mlp(3072, (512, 256)), "adam", 1e-2, 5, batch_size=128),
    Recipe("cifar-bn-mlp", "cifar10", "a 3072-512-256 MLP with batch normalization before each ReLU, Adam 0.001, "
           "batch 128, 5 epochs", lambda: m.bn_mlp(3072, (512, 256)), "adam", 1e-3, 5, batch_size=128,
           fmt="lightning"),
]

HOLDOUT: dict[str, Recipe] = {r.name: r for r in (*MNIST, *FASHION, *CIFAR)}
