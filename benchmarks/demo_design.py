"""How the demo zoo was chosen: held-out quality of zoo designs on scikit-learn digits that
train in under a minute here, from the previous demo (the whole default space) to the demo's
(``perfpredict.workflows.DEMO_SPEC``: a fixed MLP and CNN, ReLU, four initializations, full
data, no label noise).

Each design is generated, featurized (``agnostic``) and fitted as ``perfpredict demo`` does
(``fit_bundle``, run split, tuned XGBoost and ridge); prints one markdown row per design and
seed: runs, training seconds, held-out R², Kendall τ and MAE of both models.

    python benchmarks/demo_design.py                     # every design, seed 0 (about 6 min)
    python benchmarks/demo_design.py --designs demo --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

from perfpredict.features import zoo_features
from perfpredict.workflows import DEMO_SPEC, fit_bundle
from perfpredict.zoo import SearchSpace, ZooSpec, generate_zoo

_PLAIN = dict(mlp_norm=("none",), cnn_norm=("none",), label_noise=(0.0,), data_fraction_range=(0.1, 1.0))
_NO_SIGMOID = dict(activations=("relu", "leaky_relu", "gelu", "elu", "tanh"), batch_size=(32, 64))
_FIXED = dict(mlp_depth=(2,), mlp_width=(64,), cnn_depth=(2,), cnn_channels=(16,), cnn_kernel=(3,), cnn_head=("gap",),
              activations=("relu", "tanh", "gelu"), batch_size=(32, 64))
_DEMO = dataclasses.asdict(DEMO_SPEC.space)

DESIGNS: dict[str, tuple[str, tuple[str, ...], int, int, dict]] = {
    # name: (what, families, runs per family, epochs, space)
    "previous": ("the previous demo: the whole default space", ("mlp", "cnn", "vit"), 16, 10, {}),
    "plain": ("no BatchNorm or label noise, data >= 10%", ("mlp", "cnn"), 24, 8, _PLAIN),
    "plain-vit": ("plain, with small ViTs, no sigmoid", ("mlp", "cnn", "vit"), 24, 16,
                  {**_PLAIN, **_NO_SIGMOID, "vit_hidden": (16, 32), "vit_depth": (1, 2)}),
    "plain-16ep": ("plain, no sigmoid, 16 epochs", ("mlp", "cnn"), 32, 16, {**_PLAIN, **_NO_SIGMOID}),
    "fixed-64": ("one MLP and one CNN architecture", ("mlp", "cnn"), 64, 16, {**_PLAIN, **_FIXED}),
    "fixed-128": ("the same, 128 runs each", ("mlp", "cnn"), 128, 16, {**_PLAIN, **_FIXED}),
    "fixed-relu": ("fixed, ReLU, four initializations", ("mlp", "cnn"), 128, 16,
                   {**_PLAIN, **_FIXED, "activations": ("relu",), "inits": _DEMO["inits"]}),
    "fixed-full": ("fixed, full data", ("mlp", "cnn"), 128, 16, {**_PLAIN, **_FIXED, "full_data": 1.0}),
    "demo": ("fixed, ReLU, four initializations, full data (DEMO_SPEC)", DEMO_SPEC.families,
             DEMO_SPEC.runs_per_group, DEMO_SPEC.epochs, _DEMO),
}


def measure(name: str, seed: int, folder: Path) -> dict:
    what, families, runs, epochs, space = DESIGNS[name]
    spec = ZooSpec(name=name, datasets=("digits",), families=families, runs_per_group=runs, epochs=epochs,
                   seed=seed, ensemble_size=8, space=SearchSpace(**space))
    if name == "demo":
        spec = dataclasses.replace(DEMO_SPEC, seed=seed)
    start = time.perf_counter()
    generate_zoo(spec, folder / f"{name}-{seed}")
    seconds = time.perf_counter() - start
    metrics = fit_bundle(zoo_features(folder / f"{name}-{seed}")).metrics.set_index("model")
    row = {"design": name, "what": what, "seed": seed, "runs": runs * len(families), "train s": round(seconds)}
    for model in ("xgboost", "linear"):
        m = metrics.loc[model]
        row |= {f"{model} R²": round(m["r2"], 3), f"{model} τ": round(m["kendall_tau"], 3),
                f"{model} MAE": round(m["mae_points"], 1)}
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--designs", nargs="+", default=list(DESIGNS), choices=list(DESIGNS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.designs:
            for seed in args.seeds:
                rows.append(measure(name, seed, Path(tmp)))
                print(rows[-1], flush=True)
    header = list(rows[0])
    print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(str(row[h]) for h in header) + " |")


if __name__ == "__main__":
    main()
