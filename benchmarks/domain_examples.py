"""The shipped predictor on networks trained as people train them, unlike its reference zoos.

Trains, with plain torch.optim on all of MNIST (one epoch each, seeded), a CNN like the
PyTorch MNIST example (conv-pool-conv-pool, a dense hidden layer), LeNet-5 with average
pooling, a 512-512 MLP with dropout, and a small BatchNorm ResNet; measures each one's accuracy
on the official test set, then asks the shipped predictor for its accuracy, interval and
domain verdict. The shipped predictor's zoo v2 portions hold MLPs and LeNets like the first
three; the verdicts should flag the architectures they do not hold.

    PERFPREDICT_DATA=../shared/data python benchmarks/domain_examples.py [--out DIR] [--predictor DIR]

About 9 minutes on 2 cores (the ResNet takes most); with ``--out``, the checkpoints are kept,
and a later run with the same folder measures them again instead of retraining.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from perfpredict import load_bundle, load_pretrained
from perfpredict.data import load_dataset


class _Block(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


def resnet() -> nn.Module:
    """A ResNet-8-like network: a stem and 3 basic blocks of 16, 32 and 64 channels."""
    return nn.Sequential(nn.Conv2d(1, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
                         _Block(16, 16, 1), _Block(16, 32, 2), _Block(32, 64, 2),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))


NETWORKS = {
    "pytorch-example-cnn": (lambda: nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 5 * 5, 128), nn.ReLU(), nn.Dropout(0.25), nn.Linear(128, 10)),
        lambda p: torch.optim.Adam(p, 1e-3)),
    "lenet5": (lambda: nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.Tanh(), nn.AvgPool2d(2), nn.Conv2d(6, 16, 5), nn.Tanh(), nn.AvgPool2d(2),
        nn.Flatten(), nn.Linear(16 * 5 * 5, 120), nn.Tanh(), nn.Linear(120, 84), nn.Tanh(), nn.Linear(84, 10)),
        lambda p: torch.optim.SGD(p, 0.05, momentum=0.9)),
    "mlp-512-512": (lambda: nn.Sequential(
        nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Dropout(0.2), nn.Linear(512, 512), nn.ReLU(),
        nn.Dropout(0.2), nn.Linear(512, 10)),
        lambda p: torch.optim.RMSprop(p, 1e-3)),
    "bn-resnet": (resnet, lambda p: torch.optim.SGD(p, 0.05, momentum=0.9, weight_decay=5e-4)),
}


def train(name: str, data, seed: int = 0, batch: int = 128) -> nn.Module:
    """One epoch of ``name`` on all training images."""
    build, optimizer = NETWORKS[name]
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = build()
        opt = optimizer(model.parameters())
        model.train()
        for idx in torch.randperm(len(data.x_train), generator=gen).split(batch):
            opt.zero_grad()
            nn.functional.cross_entropy(model(data.x_train[idx]), data.y_train[idx]).backward()
            opt.step()
    return model


def test_accuracy(model: nn.Module, data) -> float:
    """Accuracy of ``model`` on the dataset's test images."""
    model.eval()
    with torch.no_grad():
        correct = sum((model(x).argmax(1) == y).sum().item()
                      for x, y in zip(data.x_eval.split(1000), data.y_eval.split(1000)))
    return correct / len(data.y_eval)


def trained(name: str, path: Path, data) -> nn.Module:
    """``name`` trained, or read from ``path`` when an earlier run kept it there."""
    if path.exists():
        model = NETWORKS[name][0]()
        model.load_state_dict(load_file(str(path)))
        return model
    model = train(name, data)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return model


def measured(out: Path) -> tuple[list[Path], dict[str, float]]:
    """Each network's checkpoint in ``out`` (trained unless an earlier run kept it there) and
    its test accuracy on MNIST."""
    data = load_dataset("mnist")
    out.mkdir(parents=True, exist_ok=True)
    actual, paths = {}, []
    for name in NETWORKS:
        start = time.perf_counter()
        paths.append(out / f"{name}.safetensors")
        actual[name] = test_accuracy(trained(name, paths[-1], data), data)
        print(f"{name}: test accuracy {actual[name]:.4f} ({time.perf_counter() - start:.0f} s)")
    return paths, actual


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="Keep the checkpoints in this folder (and reuse those already there).")
    parser.add_argument("--predictor", type=Path, help="A predictor bundle folder (default: the shipped predictor).")
    args = parser.parse_args()
    torch.set_num_threads(2)
    paths, actual = measured(args.out or Path(tempfile.mkdtemp()))
    bundle = load_bundle(args.predictor) if args.predictor else load_pretrained()
    print("\n| network | test accuracy | predicted | 90% interval | covered | verdict | reasons |")
    print("|---|---|---|---|---|---|---|")
    for name, r in zip(NETWORKS, bundle.assess(paths, dataset="mnist")):
        lo, hi = r.interval
        print(f"| {name} | {actual[name]:.3f} | {r.accuracy:.3f} | {lo:.3f} - {hi:.3f} | "
              f"{'yes' if lo <= actual[name] <= hi else 'no'} | {r.verdict} | {'; '.join(r.reasons)} |")


if __name__ == "__main__":
    main()
