"""Zoo training throughput: a naive loop against perfpredict's trainer, side by side.

For each family, the same runs (one architecture, members that differ in optimizer, learning
rate, weight decay, initialization, label noise and seed) are trained twice on the same data:

* naive: one model at a time with ``torch.optim`` in this process, torch's default threads;
* perfpredict: the zoo generator's path, stacked ensembles on one worker process per core
  with one thread each, timed from the start of the worker pool. As in ``zoo generate``, the
  dataset is loaded in the calling process before the workers start (on Linux they are forked
  and share it; elsewhere each one imports torch and loads it, and that is timed too).

* perfpredict bf16: the same, with bf16 mixed precision (on hardware that has fast bf16;
  elsewhere it trains in fp32 and the ratio is about 1).

Naive and the fp32 trainer run in fp32. All evaluate the same checkpoints. The three
alternate ``--repeats`` times (this machine's speed drifts by tens of percent between minutes)
and each side's median time counts. Prints model-epochs per minute, the ratios, and the
achieved GFLOP/s of perfpredict's fp32 trainer as a fraction of the sgemm peak of the device
it trains on, measured just before each of its repeats, median.
``--json PATH`` writes ``{family: {naive, perfpredict, perfpredict_bf16, speedup, bf16_speedup,
peak_fraction, seconds, peak_gflops}}`` (``bf16_speedup``: fp32 trainer time / bf16 trainer
time).

    PERFPREDICT_DATA=../shared/data python benchmarks/zoo_throughput.py --json zoo.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from perfpredict.data import load_dataset
from perfpredict.zoo import SearchSpace, ZooSpec
from perfpredict.zoo.executors import default_workers
from perfpredict.zoo.generate import group_tasks, local_executor, train_group
from perfpredict.zoo.plan import run_flops
from perfpredict.zoo.train import train_run

# family: (architecture choices, training images, epochs)
WORKLOADS = {
    "mlp": (dict(mlp_depth=(2,), mlp_width=(256,), mlp_norm=("none",)), 20_000, 1),
    "cnn": (dict(cnn_depth=(3,), cnn_channels=(16,), cnn_kernel=(3,), cnn_downsample=("stride",),
                 cnn_norm=("none",), cnn_head=("gap",)), 12_000, 1),
    "lenet": (dict(lenet_width=(1,), lenet_pool=("max",)), 12_000, 1),
    "resnet": (dict(resnet_depth=(8,), resnet_width=(16,), resnet_shortcut=("A",)), 1_500, 1),
    "vit": (dict(vit_depth=(2,), vit_heads=(2,), vit_hidden=(32,), vit_patch=(7,)), 6_000, 1),
}


def sgemm_peak(seconds: float = 3.0, device: str = "cpu") -> float:
    """Sustained fp32 matmul GFLOP/s of ``device`` (on a CPU: all threads), from n x n products
    (n = 2048 on a CPU, 8192 on a GPU)."""
    dev = torch.device(device)
    n = 8192 if dev.type == "cuda" else 2048
    a, b = torch.randn(n, n, device=dev), torch.randn(n, n, device=dev)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    for _ in range(3):
        a @ b
    sync()
    reps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        sync()
        reps += 1
    return 2 * n**3 * reps / (time.perf_counter() - start) / 1e9


def zoo_spec(family: str, dataset: str, runs: int, eval_samples: int, precision: str = "fp32") -> ZooSpec:
    arch, train_samples, epochs = WORKLOADS[family]
    space = SearchSpace(activations=("relu",), optimizers=("adam", "adamw"), batch_size=(64,),
                        dropout=(0.0,), full_data=1.0, lr_ranges={}, lr_range=(1e-4, 1e-2),
                        schedules=("constant",), augment=("none",), **arch)
    return ZooSpec(name=f"bench-{family}", datasets=(dataset,), families=(family,),
                   runs_per_group=runs, epochs=epochs, seed=0, space=space,
                   max_train_samples=train_samples, max_eval_samples=eval_samples, precision=precision)


def flops(spec: ZooSpec, data) -> float:
    """FLOPs of training every run of ``spec`` once, checkpoint evaluations included."""
    return sum(run_flops(r, data, spec.max_train_samples, spec.max_eval_samples)[0] for r in spec.runs())


def naive(spec: ZooSpec, data, device: str) -> float:
    start = time.perf_counter()
    for run in spec.runs():
        train_run(run, data, lambda *a: None, device=device, max_train_samples=spec.max_train_samples,
                  max_eval_samples=spec.max_eval_samples)
    return time.perf_counter() - start


def perfpredict(spec: ZooSpec, data_root: str | None, device: str, workers: int) -> float:
    tasks = group_tasks(spec, spec.runs(), data_root, device)
    start = time.perf_counter()
    for _ in local_executor(workers, len(tasks), device).map_unordered(train_group, tasks):
        pass
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--families", default="mlp,cnn,lenet,resnet,vit")
    parser.add_argument("--runs", type=int, default=32,
                        help="runs per family (ensembles of 8, so that each worker trains several)")
    parser.add_argument("--eval-samples", type=int, default=1000)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--workers", type=int, default=None,
                        help="perfpredict worker processes (default: one per core; one on CUDA)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="alternating measurements per side; the medians count")
    parser.add_argument("--json", default=None, help="write the figures here")
    args = parser.parse_args()

    workers = args.workers or (1 if args.device == "cuda" else default_workers())
    print(f"sgemm peak: {sgemm_peak(device=args.device):.1f} GFLOP/s "
          f"({args.device}, {torch.get_num_threads()} CPU threads); "
          f"perfpredict: {workers} worker(s) x 1 thread, device {args.device}")
    data = load_dataset(args.dataset, args.data_root)
    results = {}
    for family in args.families.split(","):
        spec = zoo_spec(family, args.dataset, args.runs, args.eval_samples)
        bf16 = zoo_spec(family, args.dataset, args.runs, args.eval_samples, precision="bf16")
        model_epochs = sum(r.epochs for r in spec.runs())
        times: dict[str, list[float]] = {"naive": [], "ours": [], "ours_bf16": []}
        peaks = []
        for _ in range(args.repeats):
            times["naive"].append(naive(spec, data, args.device))
            peaks.append(sgemm_peak(1.0, args.device))
            times["ours"].append(perfpredict(spec, args.data_root, args.device, workers))
            times["ours_bf16"].append(perfpredict(bf16, args.data_root, args.device, workers))
        t_naive, t_ours, t_bf16, family_peak = (statistics.median(v) for v in (*times.values(), peaks))
        fraction = flops(spec, data) / t_ours / 1e9 / family_peak
        results[family] = {"naive": 60 * model_epochs / t_naive, "perfpredict": 60 * model_epochs / t_ours,
                           "perfpredict_bf16": 60 * model_epochs / t_bf16, "speedup": t_naive / t_ours,
                           "bf16_speedup": t_ours / t_bf16, "peak_fraction": fraction,
                           "seconds": times, "peak_gflops": peaks}
        r = results[family]
        print(f"{family}: {len(spec.runs())} runs x {spec.epochs} epochs x {spec.max_train_samples} images | "
              f"naive {r['naive']:.1f} model-epochs/min | perfpredict {r['perfpredict']:.1f} | "
              f"bf16 {r['perfpredict_bf16']:.1f} | speedup {r['speedup']:.2f}x | bf16 speedup "
              f"{r['bf16_speedup']:.2f}x | {100 * fraction:.0f}% of sgemm peak | seconds naive "
              f"{_list(times['naive'])}, perfpredict {_list(times['ours'])}, bf16 {_list(times['ours_bf16'])} "
              f"| sgemm peak {_list(peaks)} GFLOP/s", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


def _list(values: list[float]) -> str:
    return "/".join(f"{v:.1f}" for v in values)


if __name__ == "__main__":
    main()
