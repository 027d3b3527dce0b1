"""Ensemble trainer: runs of one architecture trained together as one stacked model.

The members' parameters are stacked on a leading axis; an engine from
:mod:`~perfpredict.zoo.stacked` computes all members' gradients in one pass, and a
:class:`~perfpredict.zoo.optim.StackedOptimizer` updates them.
Each member keeps its own seed (initialization, data subset, label noise, batch order),
learning rate, weight decay and momentum, so it follows the same trajectory as
:func:`~perfpredict.zoo.train.train_run` would give it alone, up to fp32 rounding (dropout
masks excepted: they come from one stream forked from the first member's seed).
"""

from __future__ import annotations

import contextlib
import copy
from typing import Any, Callable, Iterator, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from ..data import Dataset
from .optim import StackedOptimizer
from .recipes import apply_augment, draw_augment, epoch_steps, has_batch_norm, mixed_precision, resolve_precision
from .spec import OPTIMIZER_KIND, RunSpec
from .stacked import make_engine
from .train import (TRAIN_METRIC_SAMPLES, CheckpointMetrics, build_run_model, resolve_device, seeded,
                    training_indices)

__all__ = ["ensemble_key", "group_runs", "train_ensemble"]

Params = dict[str, torch.Tensor]
OnMemberCheckpoint = Callable[[int, int, dict[str, torch.Tensor], CheckpointMetrics], None]


def ensemble_key(spec: RunSpec) -> tuple[Any, ...]:
    """What runs must share to be trained in one ensemble (the model's structure and loop)."""
    return (spec.dataset, spec.family, tuple(spec.arch.items()), spec.activation, spec.dropout,
            spec.batch_size, spec.epochs, spec.checkpoint_epochs, OPTIMIZER_KIND[spec.optimizer],
            spec.augment, spec.precision)


def group_runs(specs: Sequence[RunSpec], max_size: int) -> list[list[RunSpec]]:
    """Split ``specs`` into ensembles of at most ``max_size`` runs that share :func:`ensemble_key`.

    Order is kept within each group; groups appear in order of their first run.
    """
    if max_size < 1:
        raise ValueError(f"max_size must be >= 1, not {max_size}")
    groups: dict[tuple[Any, ...], list[list[RunSpec]]] = {}
    order: list[list[RunSpec]] = []
    for spec in specs:
        chunks = groups.setdefault(ensemble_key(spec), [])
        if not chunks or len(chunks[-1]) == max_size:
            chunks.append([])
            order.append(chunks[-1])
        chunks[-1].append(spec)
    return order


def _build_member(spec: RunSpec, data: Dataset) -> nn.Module:
    with seeded(spec.seed, torch.device("cpu")):
        return build_run_model(spec, data)


class _Members:
    """Per-member training data (indices, labels, batch order) and the stacked state."""

    def __init__(self, specs: Sequence[RunSpec], data: Dataset, max_train: int | None,
                 dev: torch.device) -> None:
        self.specs, self.dev = list(specs), dev
        self.gens = [torch.Generator().manual_seed(s.seed) for s in specs]
        subsets = [training_indices(s, data, max_train, g) for s, g in zip(specs, self.gens)]
        self.indices = [i for i, _ in subsets]
        self.labels = [y for _, y in subsets]
        models = [_build_member(s, data) for s in specs]
        self.batch_norm = has_batch_norm(models[0])
        if self.batch_norm and len({len(i) for i in self.indices}) > 1:
            raise ValueError("members of a BatchNorm ensemble must train on equally many images "
                             "(the same data_fraction): their batches are normalized together")
        self.engine = make_engine(copy.deepcopy(models[0]).to("meta"), len(specs))
        states = [m.state_dict() for m in models]
        self.order = list(states[0])
        param_names = {n for n, _ in models[0].named_parameters()}
        stacked = {k: torch.stack([s[k] for s in states]).to(dev) for k in self.order}
        self.params = {k: v for k, v in stacked.items() if k in param_names}
        self.buffers = {k: v for k, v in stacked.items() if k not in param_names}

    def state(self, i: int) -> dict[str, torch.Tensor]:
        """Member ``i``'s state dict, on the CPU, in the model's own key order."""
        merged = {**self.params, **self.buffers}
        return {k: merged[k][i].detach().to("cpu", copy=True) for k in self.order}

    def epoch_batches(self, batch_size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[int],
                                                      torch.Tensor | None]:
        """This epoch's padded ``(M, S*B)`` indices, labels and weights, steps per member, and
        the ``(M, S*B, 3)`` augmentation draws (None without augmentation)."""
        orders = [torch.randperm(len(i), generator=g) for i, g in zip(self.indices, self.gens)]
        draws = [draw_augment(s.augment, len(i), g) for s, i, g in zip(self.specs, self.indices, self.gens)]
        steps = [epoch_steps(len(o), batch_size, self.batch_norm) for o in orders]
        width = max(steps) * batch_size
        batches = _padded([i[o] for i, o in zip(self.indices, orders)],
                          [y[o] for y, o in zip(self.labels, orders)], width, self.dev)
        if draws[0] is None:
            return (*batches, steps, None)
        padded = torch.zeros(len(draws), width, 3, dtype=torch.long)
        for i, d in enumerate(draws):
            padded[i, :len(d)] = d
        return (*batches, steps, padded.to(self.dev))

    def finite(self) -> torch.Tensor:
        """``(M,)`` bool: every weight of the member is finite."""
        ok = torch.ones(len(self.specs), dtype=torch.bool, device=self.dev)
        for p in self.params.values():
            ok &= torch.isfinite(p).flatten(1).all(1)
        return ok


def _padded(indices: list[torch.Tensor], labels: list[torch.Tensor], width: int,
            dev: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    m = len(indices)
    idx = torch.zeros(m, width, dtype=torch.long)
    lab = torch.zeros(m, width, dtype=torch.long)
    w = torch.zeros(m, width)
    for i, (ix, y) in enumerate(zip(indices, labels)):
        n = min(len(ix), width)
        idx[i, :n], lab[i, :n], w[i, :n] = ix[:n], y[:n], 1.0
    return idx.to(dev), lab.to(dev), w.to(dev)


def _rows(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """``x[idx]`` for an ``(M, B)`` index: ``index_select`` gathers twice as fast as indexing."""
    return x.index_select(0, idx.reshape(-1)).view(*idx.shape, *x.shape[1:])


@torch.no_grad()
def _evaluate(members: _Members, x_all: torch.Tensor, idx: torch.Tensor, y: torch.Tensor,
              w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-member mean loss and accuracy over padded ``(M, N)`` index/label/weight tensors."""
    chunk = members.engine.eval_chunk
    loss = torch.zeros(len(members.specs), device=members.dev)
    correct = torch.zeros_like(loss)
    for start in range(0, idx.shape[1], chunk):
        sl = slice(start, start + chunk)
        logits = members.engine.logits(members.params, members.buffers, _rows(x_all, idx[:, sl]),
                                       training=False)
        ce = F.cross_entropy(logits.flatten(0, 1), y[:, sl].flatten(), reduction="none")
        loss += (ce.view_as(w[:, sl]) * w[:, sl]).sum(1)
        correct += ((logits.argmax(-1) == y[:, sl]).float() * w[:, sl]).sum(1)
    count = w.sum(1).clamp(min=1.0)
    return loss / count, correct / count


@contextlib.contextmanager
def _math_attention() -> Iterator[None]:
    """Fused attention kernels have no batching rule under ``vmap``: use the math backend."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with sdpa_kernel(SDPBackend.MATH):
            yield
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)


def train_ensemble(
    specs: Sequence[RunSpec],
    data: Dataset,
    on_checkpoint: OnMemberCheckpoint,
    *,
    device: str | torch.device = "auto",
    max_train_samples: int | None = None,
    max_eval_samples: int | None = None,
) -> list[str]:
    """Train ``specs`` (one :func:`ensemble_key`) together; checkpoints go to ``on_checkpoint``.

    Parameters
    ----------
    specs : sequence of RunSpec
        The members; they must share :func:`ensemble_key` (see :func:`group_runs`).
    data : Dataset
        Loaded dataset matching the runs' ``dataset``.
    on_checkpoint : callable
        Called as ``on_checkpoint(member, epoch, state_dict, metrics)`` at each scheduled
        epoch of each member, and at the epoch where a member diverged (after which it stops).
    device : str or torch.device
        ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ...
    max_train_samples, max_eval_samples : int, optional
        Caps on the training pool and on the evaluation split.

    Returns
    -------
    list of str
        ``"ok"`` or ``"diverged"`` per member, in the order of ``specs``.
    """
    specs = list(specs)
    if not specs:
        return []
    keys = {ensemble_key(s) for s in specs}
    if len(keys) != 1:
        raise ValueError("train_ensemble needs runs that share one ensemble_key; use group_runs")
    dev = resolve_device(device)
    with seeded(specs[0].seed, dev), _math_attention():
        return _Loop(specs, data, on_checkpoint, dev, max_train_samples, max_eval_samples).run()


class _Loop:
    """The epoch loop of :func:`train_ensemble` (one instance per call)."""

    def __init__(self, specs: list[RunSpec], data: Dataset, on_checkpoint: OnMemberCheckpoint,
                 dev: torch.device, max_train: int | None, max_eval: int | None) -> None:
        self.spec0, self.on_checkpoint, self.dev = specs[0], on_checkpoint, dev
        self.precision = resolve_precision(self.spec0.precision, dev)
        self.members = _Members(specs, data, max_train, dev)
        self.opt = StackedOptimizer(specs, self.members.params)
        self.x_train = data.x_train.to(dev)
        self.x_eval = data.x_eval[:max_eval].to(dev)
        self.alive = [True] * len(specs)
        m, n_tr = self.members, TRAIN_METRIC_SAMPLES
        # what every checkpoint is measured on: fixed for the whole run
        self.train_metric_batch = _padded([i[:n_tr] for i in m.indices], [y[:n_tr] for y in m.labels],
                                          min(n_tr, max(len(i) for i in m.indices)), dev)
        n_ev, k = len(self.x_eval), len(specs)
        self.eval_batch = (torch.arange(n_ev, device=dev).expand(k, n_ev),
                           data.y_eval[:max_eval].to(dev).expand(k, n_ev),
                           torch.ones(k, n_ev, device=dev))

    def run(self) -> list[str]:
        schedule = set(self.spec0.checkpoint_epochs)
        if 0 in schedule:
            self._checkpoint(0, list(range(len(self.alive))), "ok")
        for epoch in range(1, self.spec0.epochs + 1):
            self.opt.start_epoch(epoch - 1)
            losses = self._train_epoch()
            finite = (torch.isfinite(losses) & self.members.finite()).tolist()
            diverged = [i for i, ok in enumerate(finite) if self.alive[i] and not ok]
            if diverged:
                self._checkpoint(epoch, diverged, "diverged")
                self._retire(diverged)
            if epoch in schedule:
                self._checkpoint(epoch, [i for i, a in enumerate(self.alive) if a], "ok")
            if not any(self.alive):
                break
        return ["ok" if a else "diverged" for a in self.alive]

    def _train_epoch(self) -> torch.Tensor:
        m = self.members
        bs = self.spec0.batch_size
        idx, lab, w, steps, draws = m.epoch_batches(bs)
        alive = torch.tensor(self.alive, device=self.dev)
        member_steps = torch.tensor(steps, device=self.dev)
        total = torch.zeros(len(self.alive), device=self.dev)
        full = min(steps) if all(self.alive) else 0  # from here on, some member sits out
        longest = max(len(i) for i in m.indices)
        for s in range(max(steps)):
            # the last batch ends with the longest member's data: no all-padding rows, which
            # BatchNorm would count in its batch statistics
            sl = slice(s * bs, min((s + 1) * bs, longest))
            x = _rows(self.x_train, idx[:, sl])
            if draws is not None:
                x = apply_augment(x, draws[:, sl])
            with mixed_precision(self.precision, self.dev):
                grads, loss = m.engine.loss_and_grads(m.params, m.buffers, x, lab[:, sl], w[:, sl])
            self.opt.step(grads, alive & (member_steps > s) if s >= full else None)
            total += loss.detach()
        return total

    def _checkpoint(self, epoch: int, members: list[int], status: str) -> None:
        m = self.members
        tr_loss, tr_acc = _evaluate(m, self.x_train, *self.train_metric_batch)
        ev_loss, ev_acc = _evaluate(m, self.x_eval, *self.eval_batch)
        cols = [t.tolist() for t in (tr_loss, tr_acc, ev_loss, ev_acc)]
        for i in members:
            metrics = CheckpointMetrics(epoch, *(c[i] for c in cols), status)
            self.on_checkpoint(i, epoch, m.state(i), metrics)

    def _retire(self, members: list[int]) -> None:
        """Stop diverged members: they are masked out of every later update."""
        for i in members:
            self.alive[i] = False
            for p in self.members.params.values():
                p[i] = 0.0
