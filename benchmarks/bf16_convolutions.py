"""Where bf16 pays for a stacked (grouped, channels-last) convolution on this CPU.

Times the forward pass and the weight gradient of one grouped convolution of 8 members at
batch 64, one thread, in fp32 and under bf16 autocast, for the layer shapes of the zoo's
families (first layers have 1 input channel per group). Prints milliseconds and the ratio
fp32 / bf16 (above 1: bf16 is faster).

    python benchmarks/bf16_convolutions.py
"""

from __future__ import annotations

import time

import torch
from torch.nn import functional as F

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


def main() -> None:
    torch.set_num_threads(1)
    print("| in | out | kernel | size | fp32 ms | bf16 ms | fp32 / bf16 |\n|---:|---:|---:|---:|---:|---:|---:|")
    for shape in SHAPES:
        fp32, bf16 = step_ms(*shape, bf16=False), step_ms(*shape, bf16=True)
        print(f"| {' | '.join(map(str, shape))} | {fp32:.2f} | {bf16:.2f} | {fp32 / bf16:.2f} |")


if __name__ == "__main__":
    main()
