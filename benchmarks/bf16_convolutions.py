"""Where bf16 pays for stacked convolutional networks on this CPU.

1. One grouped channels-last convolution of 8 members at batch 64, forward pass and weight
   gradient, one thread, in fp32 and under bf16 autocast, for the layer shapes of the zoo's
   families (first layers have 1 input channel per member).
2. One whole training step (forward, backward, Adam) of 8 stacked LeNets, small CNNs and
   ResNet-8s on MNIST batches, as the zoo trains them, in both precisions.

Prints milliseconds and the ratio fp32 / bf16 (above 1: bf16 is faster).

    PERFPREDICT_DATA=../shared/data python benchmarks/bf16_convolutions.py
"""

from __future__ import annotations

import time

import torch
from torch.nn import functional as F

from perfpredict.data import load_dataset
from perfpredict.zoo import RunSpec
from perfpredict.zoo.ensemble import _Members, _rows
from perfpredict.zoo.optim import StackedOptimizer
from perfpredict.zoo.recipes import mixed_precision

# (input channels, output channels, kernel, image size) per member
SHAPES = [(1, 6, 5, 32), (6, 16, 5, 14), (1, 16, 3, 28), (16, 16, 3, 14), (1, 32, 3, 28),
          (32, 32, 3, 28), (16, 16, 3, 32), (32, 32, 3, 16), (64, 64, 3, 8)]


def step_ms(c_in: int, c_out: int, k: int, size: int, bf16: bool, members: int = 8, batch: int = 64,
            reps: int = 20) -> float:
    x = torch.randn(batch, members * c_in, size, size).contiguous(memory_format=torch.channels_last)
    w = torch.randn(members * c_out, c_in, k, k).contiguous(memory_format=torch.channels_last).requires_grad_()

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = F.conv2d(x, w, None, 1, k // 2, 1, members)
        out.float().sum().backward()

    for _ in range(3):
        step()
    start = time.perf_counter()
    for _ in range(reps):
        step()
    return (time.perf_counter() - start) / reps * 1e3


FAMILIES = {"lenet": {}, "cnn": {"depth": 3, "channels": 16}, "resnet": {"depth": 8, "width": 16}}


def training_step_ms(family: str, precision: str, steps: int = 20) -> float:
    """Milliseconds per stacked step of 8 members (Adam, batch 64) on MNIST."""
    data = load_dataset("mnist")
    specs = [RunSpec("mnist", family, FAMILIES[family], optimizer="adam", lr=1e-3, seed=i, epochs=1)
             for i in range(8)]
    members = _Members(specs, data, 3000, torch.device("cpu"))
    opt = StackedOptimizer(specs, members.params)
    idx, lab, w, _, _ = members.epoch_batches(64)

    def run(n: int) -> None:
        for s in range(n):
            sl = slice(s * 64, (s + 1) * 64)
            with mixed_precision(precision, torch.device("cpu")):
                grads, _ = members.engine.loss_and_grads(members.params, members.buffers,
                                                         _rows(data.x_train, idx[:, sl]), lab[:, sl], w[:, sl])
            opt.step(grads)

    run(3)
    start = time.perf_counter()
    run(steps)
    return (time.perf_counter() - start) / steps * 1e3


def main() -> None:
    torch.set_num_threads(1)
    print("| in | out | kernel | size | fp32 ms | bf16 ms | fp32 / bf16 |\n|---:|---:|---:|---:|---:|---:|---:|")
    for shape in SHAPES:
        fp32, bf16 = step_ms(*shape, bf16=False), step_ms(*shape, bf16=True)
        print(f"| {' | '.join(map(str, shape))} | {fp32:.2f} | {bf16:.2f} | {fp32 / bf16:.2f} |")
    print("\n| family | fp32 ms/step | bf16 ms/step | fp32 / bf16 |\n|---|---:|---:|---:|")
    for family in FAMILIES:
        fp32, bf16 = training_step_ms(family, "fp32"), training_step_ms(family, "bf16")
        print(f"| {family} | {fp32:.1f} | {bf16:.1f} | {fp32 / bf16:.2f} |")


if __name__ == "__main__":
    main()
