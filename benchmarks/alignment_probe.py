"""Do consecutive layers learn to fit each other? Inter-layer statistics, probed beside ``transfer``.

Two scale-free statistics of each pair of consecutive layers ``A`` then ``B`` (BatchNorm-folded
weights, ``perfpredict.features.learned.effective_layers``), for the channels (or units) that
``A`` writes and ``B`` reads (a dense layer after a convolution reads ``channels x positions``
inputs, channel-major as PyTorch flattens):

- ``gram``: cosine between ``A``'s output Gram matrix (channels x channels) and ``B``'s input
  Gram matrix, each less its mean diagonal (its isotropic part). Near 0 at initialization
  (independent weights); positive when ``B`` reads most from the directions that ``A`` writes
  most.
- ``balance``: correlation over the channels of ``A``'s incoming and ``B``'s outgoing squared
  norms. Gradient descent on ReLU networks keeps each unit's difference of the two constant
  (Du, Hu and Lee 2018), so as units grow from their initial size the two become correlated.

Each is averaged over the pairs (``.mean``), its smallest (``.min``), and taken at the pair
before the head (``_head``). A fused attention projection (queries, keys and values stacked)
takes part through its value rows, which the output projection reads. Pairs whose sizes do not
match are skipped; a network without a pair gets NaN. The residual stream of ResNets and ViTs
is paired in order too: a layer that writes to it, then the next layer that reads it.

Takes zoo folders with their checkpoints and the committed ``transfer`` table of the same
portion (``data/zoos/<zoo name>/features-transfer.parquet``, or the zoo's own). Prints the
Spearman ρ of each statistic with test accuracy per family (all and trained checkpoints)
beside the best single ``transfer`` feature, then held-out Kendall τ and R² of XGBoost
(settings as ``transfer.py``) on ``transfer`` and ``learned``, with and without the probe's
statistics: run split over ``--seeds`` seeds, and leave one family out with several families.

    python benchmarks/alignment_probe.py ZOO [ZOO ...] [--seeds 5] [--json rows.json]
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Mapping

import pandas as pd
import torch

from perfpredict.checkpoints import load_checkpoint
from perfpredict.evaluation import evaluate
from perfpredict.features import FeatureTable, concat_features, load_features
from perfpredict.features.batching import feature_matrix
from perfpredict.features.learned import effective_layers
from perfpredict.features.roles import TensorRole
from perfpredict.features.schema import Schema

STATS = ("gram.mean", "gram.min", "gram_head", "balance.mean", "balance.min", "balance_head")
DATA = Path(__file__).resolve().parents[1] / "data" / "zoos"


def _read_blocks(b: torch.Tensor, channels: int) -> torch.Tensor | None:
    """``B``'s weights ``(n, out, ...)`` grouped by the input channel: ``(n, out, channels, rest)``."""
    n, out = b.shape[:2]
    fan_in = math.prod(b.shape[2:])
    if b.ndim == 3 and fan_in % channels == 0:
        return b.reshape(n, out, channels, fan_in // channels)
    if b.ndim > 3 and b.shape[2] == channels:
        return b.flatten(3)
    return None


def _anisotropic(gram: torch.Tensor) -> torch.Tensor:
    eye = torch.eye(gram.shape[-1], dtype=gram.dtype)
    return gram - gram.diagonal(dim1=1, dim2=2).mean(dim=1)[:, None, None] * eye


def _cosine(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    x, y = x.flatten(1), y.flatten(1)
    return (x * y).sum(dim=1) / (x.norm(dim=1) * y.norm(dim=1)).clamp_min(1e-300)


def pair_stats(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
    """``(gram, balance)`` of layer ``a`` (shape ``(n, channels, ...)``) followed by ``b``,
    one value per checkpoint, or None when ``b`` does not read ``a``'s channels."""
    a, b = a.to(torch.float64), b.to(torch.float64)
    blocks = _read_blocks(b, a.shape[1])
    if blocks is None:
        return None
    writes = a.flatten(2)
    gram = _cosine(_anisotropic(writes @ writes.transpose(1, 2)),
                   _anisotropic(torch.einsum("nocp,nodp->ncd", blocks, blocks)))
    incoming, outgoing = writes.pow(2).sum(dim=2), blocks.pow(2).sum(dim=(1, 3))
    balance = _cosine(incoming - incoming.mean(dim=1, keepdim=True), outgoing - outgoing.mean(dim=1, keepdim=True))
    return gram, balance


def alignment_stats(layers: list[torch.Tensor]) -> dict[str, torch.Tensor]:
    """:data:`STATS` of a batch of networks, from their layer weights in order (at least one)."""
    n = layers[0].shape[0]
    pairs = [pair_stats(a, b) for a, b in zip(layers, layers[1:])]
    found = [p for p in pairs if p is not None]
    if not found:
        return {k: torch.full((n,), math.nan, dtype=torch.float64) for k in STATS}
    gram, balance = (torch.stack(v, dim=1) for v in zip(*found))
    head = pairs[-1] or (torch.full((n,), math.nan, dtype=torch.float64),) * 2
    return {"gram.mean": gram.mean(dim=1), "gram.min": gram.amin(dim=1), "gram_head": head[0],
            "balance.mean": balance.mean(dim=1), "balance.min": balance.amin(dim=1), "balance_head": head[1]}


def value_rows(weight: torch.Tensor, role: TensorRole) -> torch.Tensor:
    """The value rows of a fused attention projection (``(n, 3h, h)``: queries, keys, values,
    as PyTorch's ``MultiheadAttention`` stacks them); any other layer as it is."""
    h = weight.shape[-1]
    if role.kind == "attention" and weight.ndim == 3 and weight.shape[1] == 3 * h:
        return weight[:, 2 * h:]
    return weight


def _probe(batch: Mapping[str, torch.Tensor], roles: Mapping[str, TensorRole]) -> dict[str, torch.Tensor]:
    layers = [value_rows(w, roles[name]) for name, w in effective_layers(batch, roles).items()]
    return alignment_stats(layers) if layers else {}


PROBE = Schema("alignment_probe", 0, STATS, _probe, uses_buffers=True)
"""The statistics as a schema, extracted batched (and BatchNorm-folded) as any other."""


def probe_table(zoo: Path) -> FeatureTable:
    """The portion's ``transfer`` table with the probe's statistics as extra frame columns."""
    own = zoo / "features-transfer.parquet"
    table = load_features(own if own.exists() else DATA / zoo.name / "features-transfer.parquet")
    index = pd.read_parquet(zoo / "index.parquet").dropna(subset=["path"])
    index = index[index["status"] == "ok"]
    values = feature_matrix(PROBE, [load_checkpoint(zoo / p) for p in index["path"]], STATS)
    stats = pd.DataFrame(values, columns=list(STATS)).assign(run_id=index["run_id"].to_numpy(),
                                                             epoch=index["epoch"].to_numpy())
    frame = table.frame.merge(stats, on=["run_id", "epoch"], how="inner", validate="one_to_one")
    return FeatureTable(frame.reset_index(drop=True), table.schema, table.schema_version, table.feature_names)


def feature_sets(table: FeatureTable) -> dict[str, FeatureTable]:
    """``transfer`` and ``learned``, each with and without the probe's statistics."""
    learned = [c for c in table.feature_names if c.startswith("learned.")]
    names = {"transfer": table.feature_names, "learned": learned,
             "transfer+probe": [*table.feature_names, *STATS], "learned+probe": [*learned, *STATS]}
    return {k: FeatureTable(table.frame, k, table.schema_version, v) for k, v in names.items()}


def _spearman(part: pd.DataFrame, columns: list[str]) -> pd.Series:
    """Spearman ρ of each column with test accuracy (Pearson of ranks; NaN for constant columns)."""
    ranks = part[columns].rank()
    varies = ranks.columns[ranks.std() > 0]
    return ranks[varies].corrwith(part["test_accuracy"].rank()).reindex(columns)


def correlations(table: FeatureTable) -> pd.DataFrame:
    """Spearman ρ with accuracy per family, over all and over trained checkpoints (epoch 1 on):
    each statistic, and the best ``transfer`` feature."""
    rows = []
    for family, group in table.frame.groupby("family"):
        for checkpoints, part in (("all", group), ("trained", group[group["epoch"] >= 1])):
            rho = _spearman(part, [*table.feature_names, *STATS])
            best = rho[table.feature_names].abs().idxmax()
            rows.append({"family": family, "checkpoints": checkpoints, "n": len(part),
                         **rho[list(STATS)].round(3).to_dict(), "best transfer feature": best,
                         "its rho": round(float(rho[best]), 3)})
    return pd.DataFrame(rows)


def scores(table: FeatureTable, split: str, seed: int) -> pd.DataFrame:
    """XGBoost's held-out τ and R² on each feature set (whole held-out side)."""
    sets = feature_sets(table)
    rows = evaluate(sets["transfer"], split, ("xgboost",), extra_features={k: v for k, v in sets.items()
                                                                          if k != "transfer"},
                    tune=False, link="logit", random_state=seed)
    return rows[rows["subset"] == "all"][["fold", "features", "kendall_tau", "r2"]].assign(split=split, seed=seed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("zoos", nargs="+", type=Path)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    table = concat_features([probe_table(z) for z in args.zoos])
    print(correlations(table).to_string(index=False))
    parts = [scores(table, "run", s) for s in range(args.seeds)]
    if table.frame["family"].nunique() > 1:
        parts.append(scores(table, "family", 0))
    rows = pd.concat(parts, ignore_index=True)
    print("\nheld-out Kendall τ / R² (run split: mean over seeds)")
    print(rows.groupby(["split", "fold", "features"])[["kendall_tau", "r2"]].mean().unstack("features")
          .round(3).to_string())
    if args.json:
        args.json.write_text(json.dumps(rows.to_dict(orient="records"), indent=1))


if __name__ == "__main__":
    main()
