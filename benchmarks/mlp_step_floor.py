"""How close the stacked MLP trainer's step is to the floor set by its matrix products.

One training step of an 8-member stacked MLP (the ``zoo_throughput.py`` MLP: 784-256-256-10,
batch 64, Adam and AdamW) is timed three ways, each on one worker process per core with one
thread each, all workers at once, as ``zoo generate`` runs them:

* trainer: perfpredict's step (batch gathering, forward and backward with autograd, the
  stacked optimizer);
* floor: only the step's batched matrix products, on tensors of the same shapes, and the same
  optimizer step on their results. No activation, loss, bias gradient, gathering or autograd:
  no implementation that uses these BLAS calls and this optimizer can do a step faster;
* products: the floor without the optimizer step.

All three are printed as GFLOP/s (the step's FLOPs, counted by ``FlopCounterMode``, summed over the
workers) and as a fraction of the all-threads sgemm peak measured just before, as
``zoo_throughput.py`` does. The three alternate ``--repeats`` times; medians count.

    python benchmarks/mlp_step_floor.py
"""

from __future__ import annotations

import argparse
import statistics
import time
from types import SimpleNamespace

import torch
from torch.utils.flop_counter import FlopCounterMode

from perfpredict.archs import build_model
from perfpredict.zoo.ensemble import _rows  # the trainer's own batch gathering
from perfpredict.zoo.executors import LocalExecutor, default_workers
from perfpredict.zoo.optim import StackedOptimizer
from perfpredict.zoo.stacked import SequentialEngine
from zoo_throughput import sgemm_peak

MEMBERS, BATCH, POOL = 8, 64, 20_000


def _setup() -> tuple[SequentialEngine, dict[str, torch.Tensor], StackedOptimizer]:
    model = build_model("mlp", (1, 28, 28), 10, activation="relu", depth=2, width=256)
    params = {k: torch.stack([v.detach().clone() for _ in range(MEMBERS)])
              for k, v in model.named_parameters()}
    specs = [SimpleNamespace(optimizer=("adam", "adamw")[i % 2], lr=1e-3, weight_decay=1e-4)
             for i in range(MEMBERS)]
    return SequentialEngine(model, MEMBERS), params, StackedOptimizer(specs, params)


def _trainer_step(engine: SequentialEngine, params: dict[str, torch.Tensor]):
    gen = torch.Generator().manual_seed(0)
    x_all = torch.randn(POOL, 1, 28, 28, generator=gen)
    idx = torch.randint(0, POOL, (MEMBERS, BATCH), generator=gen)
    y = torch.randint(0, 10, (MEMBERS, BATCH), generator=gen)
    w = torch.ones(MEMBERS, BATCH)

    def step() -> dict[str, torch.Tensor]:
        return engine.loss_and_grads(params, {}, _rows(x_all, idx), y, w)[0]
    return step


def _floor_step(params: dict[str, torch.Tensor]):
    names = [k for k in params if k.endswith("weight")]
    weights = [params[k] for k in names]
    inputs = [torch.randn(MEMBERS, w.shape[2], BATCH) for w in weights]  # (M, in, B)
    deltas = [torch.randn(MEMBERS, w.shape[1], BATCH) for w in weights]  # (M, out, B)

    def step() -> dict[str, torch.Tensor]:
        grads = {}
        for w, h in zip(weights, inputs):  # forward products
            torch.bmm(w, h)
        for i, (name, w, h, d) in enumerate(zip(names, weights, inputs, deltas)):
            grads[name] = torch.bmm(d, h.transpose(1, 2))  # weight gradient
            if i:
                torch.bmm(w.transpose(1, 2), d)  # gradient of the layer's input
        for k in params:  # biases: their gradients cost no product
            grads.setdefault(k, torch.zeros_like(params[k]))
        return grads
    return step


def _timed(task: tuple[str, int]) -> tuple[float, float]:
    """Run ``steps`` steps of ``mode`` in this worker: (FLOPs per step, seconds)."""
    mode, steps = task
    engine, params, opt = _setup()
    step = _trainer_step(engine, params) if mode == "trainer" else _floor_step(params)
    update = (lambda grads: None) if mode == "products" else opt.step
    with FlopCounterMode(display=False) as counter:
        update(step())
    for _ in range(10):
        update(step())
    start = time.perf_counter()
    for _ in range(steps):
        update(step())
    return counter.get_total_flops(), time.perf_counter() - start


def measure(mode: str, steps: int, workers: int) -> tuple[float, float]:
    """FLOPs per step, and GFLOP/s of ``workers`` processes running ``mode`` at once, summed."""
    results = list(LocalExecutor(workers, start_method="fork").map_unordered(_timed, [(mode, steps)] * workers))
    return results[0][0], sum(flops * steps / seconds for flops, seconds in results) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=300, help="timed steps per worker")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    workers = default_workers()
    rates: dict[str, list[float]] = {"products": [], "floor": [], "trainer": []}
    flops, peaks = {}, []
    for _ in range(args.repeats):
        peaks.append(sgemm_peak(1.0))
        for mode in rates:
            flops[mode], rate = measure(mode, args.steps, workers)
            rates[mode].append(rate)
    peak = statistics.median(peaks)
    print(f"{workers} workers x 1 thread; sgemm peak {peak:.1f} GFLOP/s "
          f"({'/'.join(f'{p:.1f}' for p in peaks)})")
    for mode, values in rates.items():
        rate = statistics.median(values)
        print(f"{mode:8s} {flops[mode] / 1e6:.0f} MFLOP/step {rate:6.1f} GFLOP/s  {100 * rate / peak:4.1f}% of peak  "
              f"({'/'.join(f'{v:.1f}' for v in values)})")
    print(f"trainer / floor: {statistics.median(rates['trainer']) / statistics.median(rates['floor']):.2f}")


if __name__ == "__main__":
    main()
