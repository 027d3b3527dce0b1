"""Feature extraction throughput, against the ``weightwatcher`` package, side by side.

For a zoo of small CNNs (Unterthiner's: 3 conv 3x3 stride 2, 16 channels, linear head) and
of MLPs (784-128-64-10), written as safetensors files, it measures checkpoints per second:

* load: reading the files (``perfpredict.checkpoints.load_checkpoint``);
* batched: ``WeightStatistics(schema).transform`` on loaded checkpoints, for each schema (and
  each earlier version still computed, such as ``transfer@1``);
* files: ``extract_features`` from the files (loading included), for each of them;
* one at a time: ``transform`` called once per checkpoint (no batching), ``agnostic``;
* eigvalsh floor: LAPACK's symmetric eigenvalue solver alone (``torch.linalg.eigvalsh``,
  float32 and float64) on the Gram matrices of every weight matrix of every checkpoint,
  formed beforehand and not timed: a bound on any method that needs the whole spectrum, as
  alpha does;
* weightwatcher: ``WeightWatcher(model).analyze()`` on the same checkpoints loaded into their
  ``nn.Module`` (default settings), which computes alpha, alpha_weighted, log_norm,
  log_spectral_norm, stable_rank and log_alpha_norm per layer: the metrics of perfpredict's
  ``spectral`` schema (which adds effective rank and condition number); ``agnostic`` computes
  these and everything else.

It then compares perfpredict's per-layer values with WeightWatcher's, layer by layer, where the
definitions match: linear layers with at least 20 eigenvalues. ``--json PATH`` writes every
figure. Needs ``pip install weightwatcher`` (the ``bench`` extra).

    python benchmarks/feature_throughput.py --json features.json
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
import warnings
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from safetensors.torch import save_file

from perfpredict.archs import build_model
from perfpredict.checkpoints import Checkpoint, load_checkpoint
from perfpredict.features import SCHEMAS, WeightStatistics, extract_features
from perfpredict.features.schema import EARLIER_SCHEMAS, schema_label
from perfpredict.features.spectral import ALPHA_MIN_EVALS

# name: (family, architecture options, checkpoints)
WORKLOADS = {
    "small_cnn": ("cnn", {}, 2000),
    "mlp": ("mlp", {"depth": 2, "width": 128, "widths": (128, 64)}, 500),
}
WW_MODELS = 40
SHARED = {"alpha": "alpha", "alpha_weighted": "alpha_weighted", "log_norm": "log_norm",
          "log_spectral_norm": "log_spectral_norm", "stable_rank": "stable_rank",
          "log_alpha_norm": "log_alpha_norm", "D": "alpha_ks"}


def _model(family: str, options: dict) -> torch.nn.Module:
    if family == "mlp":  # 784-128-64-10: hidden layers of decreasing width
        widths = options["widths"]
        dims = [28 * 28, *widths]
        layers: list[torch.nn.Module] = [torch.nn.Flatten()]
        for a, b in zip(dims, dims[1:]):
            layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
        return torch.nn.Sequential(*layers, torch.nn.Linear(dims[-1], 10))
    return build_model(family, (1, 28, 28), 10, **options)


def write_zoo(family: str, options: dict, n: int, folder: Path) -> list[Path]:
    """``n`` checkpoints of one architecture with differently seeded and scaled weights."""
    gen = torch.Generator().manual_seed(0)
    paths = []
    for i in range(n):
        torch.manual_seed(i)
        scale = float(torch.empty(1).uniform_(0.5, 2.0, generator=gen))
        sd = {k: (v * scale).contiguous() for k, v in _model(family, options).state_dict().items()}
        paths.append(folder / f"{family}_{i:05d}.safetensors")
        save_file(sd, paths[-1])
    return paths


def rate(fn: Callable[[], object], items: int, repeats: int = 3) -> float:
    """Items per second of the fastest of ``repeats`` calls (after one warm-up)."""
    fn()
    best = min(_timed(fn) for _ in range(repeats))
    return items / best


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def perfpredict_rates(paths: list[Path], ckpts: list[Checkpoint]) -> dict[str, float]:
    out = {"load": rate(lambda: [load_checkpoint(p) for p in paths], len(paths))}
    for schema in [*SCHEMAS, *(schema_label(*key) for key in EARLIER_SCHEMAS)]:  # transfer v2 beside v1
        ws = WeightStatistics(schema).fit(ckpts[:1])
        out[f"batched.{schema}"] = rate(lambda: ws.transform(ckpts), len(ckpts))
        out[f"files.{schema}"] = rate(lambda: extract_features(paths, schema), len(paths), repeats=1)
    ws = WeightStatistics().fit([])
    few = ckpts[:200]
    out["one_at_a_time.agnostic"] = rate(lambda: [ws.transform([c]) for c in few], len(few), repeats=1)
    return out


def eigvalsh_floor(ckpts: list[Checkpoint]) -> dict[str, float]:
    """Checkpoints per second of ``eigvalsh`` alone on every weight matrix's smaller Gram matrix."""
    by_shape: dict[tuple[int, ...], list[torch.Tensor]] = {}
    for ckpt in ckpts:
        for t in ckpt.tensors.values():
            if t.ndim >= 2:
                m = torch.from_numpy(t).reshape(t.shape[0], -1)
                by_shape.setdefault(tuple(m.shape), []).append(m)
    out = {}
    for dtype in (torch.float32, torch.float64):
        grams = []
        for mats in by_shape.values():
            m = torch.stack(mats).to(dtype)
            grams.append(m @ m.mT if m.shape[1] <= m.shape[2] else m.mT @ m)
        out[f"eigvalsh_floor.{str(dtype).removeprefix('torch.')}"] = rate(
            lambda: [torch.linalg.eigvalsh(g) for g in grams], len(ckpts))
    return out


def _quiet_weightwatcher():
    warnings.filterwarnings("ignore")
    import weightwatcher

    logging.getLogger("weightwatcher").setLevel(logging.ERROR)
    return weightwatcher


def weightwatcher_rate(family: str, options: dict, ckpts: list[Checkpoint]) -> tuple[float, list]:
    """Models per second of WeightWatcher's ``analyze`` and its per-layer details."""
    ww = _quiet_weightwatcher()
    models = []
    for ckpt in ckpts:
        model = _model(family, options)
        model.load_state_dict({k: torch.from_numpy(v) for k, v in ckpt.tensors.items()})
        models.append(model)
    details: list = []
    start = time.perf_counter()
    for model in models:
        details.append(ww.WeightWatcher(model=model).analyze())
    return len(models) / (time.perf_counter() - start), details


def agreement(ckpts: list[Checkpoint], details: list) -> dict[str, dict[str, float]]:
    """Largest relative difference per metric over linear layers with enough eigenvalues."""
    ws = WeightStatistics("per_layer").set_output(transform="pandas").fit(ckpts[:1])
    ours = ws.transform(ckpts)
    diffs: dict[str, list[float]] = {k: [] for k in SHARED}
    for row, frame in zip(ours.itertuples(index=False), details):
        mine = dict(zip(ours.columns, row))
        for layer in frame.itertuples():
            if str(layer.layer_type).lower() != "dense" or layer.num_evals < ALPHA_MIN_EVALS:
                continue
            for theirs, name in SHARED.items():
                a, b = mine[f"{layer.longname}.weight.{name}"], float(getattr(layer, theirs))
                diffs[theirs].append(abs(a - b) / max(abs(b), 1e-12))
    return {k: {"layers": len(v), "max_rel_diff": float(np.max(v)) if v else float("nan")}
            for k, v in diffs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", type=Path, help="Write the figures to this file.")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (family, options, n) in WORKLOADS.items():
            folder = Path(tmp) / name
            folder.mkdir()
            paths = write_zoo(family, options, n, folder)
            ckpts = [load_checkpoint(p) for p in paths]
            ours = perfpredict_rates(paths, ckpts) | eigvalsh_floor(ckpts)
            ww_rate, details = weightwatcher_rate(family, options, ckpts[:WW_MODELS])
            results[name] = {"checkpoints": n, "perfpredict": ours, "weightwatcher": ww_rate,
                             "speedup_vs_weightwatcher": {s: ours[s] / ww_rate for s in (
                                 "batched.spectral", "batched.agnostic", "eigvalsh_floor.float32",
                                 "eigvalsh_floor.float64")},
                             "agreement": agreement(ckpts[:WW_MODELS], details)}
            _print(name, results[name])
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


def _print(name: str, r: dict) -> None:
    print(f"\n{name}: {r['checkpoints']} checkpoints (checkpoints/s, torch threads {torch.get_num_threads()})")
    for key, value in r["perfpredict"].items():
        print(f"  {key:<26} {value:10.0f}")
    print(f"  {'weightwatcher.analyze':<26} {r['weightwatcher']:10.1f}")
    for key, ratio in r["speedup_vs_weightwatcher"].items():
        print(f"  {key} / weightwatcher: {ratio:.0f}x")
    for metric, a in r["agreement"].items():
        print(f"  agreement {metric:<18} layers {a['layers']:4d}  max relative difference {a['max_rel_diff']:.2e}")


if __name__ == "__main__":
    main()
