"""Optimizers on stacked tensors: one update for a whole ensemble, hyperparameters per member.

Every parameter tensor has the members on its first axis. Each member has its own learning
rate, weight decay and momentum, and an ``active`` flag: inactive members (their epoch is
over, or they diverged) keep their weights and optimizer state unchanged, so each member
follows exactly the update ``torch.optim`` would give it alone.

Three kinds cover the five optimizers of :data:`~perfpredict.zoo.spec.OPTIMIZERS`:

* ``sgd``: SGD (momentum 0) and SGD with momentum 0.9 (torch's ``SGD``, no dampening);
* ``adam``: Adam (L2 weight decay added to the gradient) and AdamW (decoupled decay);
* ``rmsprop``: torch's ``RMSprop`` defaults (alpha 0.99, eps 1e-8).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .spec import OPTIMIZER_KIND, RunSpec

__all__ = ["StackedOptimizer"]

_BETAS = (0.9, 0.999)
_ADAM_EPS = 1e-8
_RMS_ALPHA, _RMS_EPS = 0.99, 1e-8

Params = dict[str, torch.Tensor]


@dataclass(frozen=True)
class _Hyper:
    """Per-member hyperparameters as ``(M,)`` tensors."""

    lr: torch.Tensor
    l2: torch.Tensor  # weight decay added to the gradient (SGD, Adam, RMSprop)
    decoupled: torch.Tensor  # weight decay applied to the weights (AdamW)
    momentum: torch.Tensor


def _hyper(specs: list[RunSpec], device: torch.device) -> _Hyper:
    def col(values: list[float]) -> torch.Tensor:
        return torch.tensor(values, dtype=torch.float32, device=device)

    adamw = [s.optimizer == "adamw" for s in specs]
    return _Hyper(
        lr=col([s.lr for s in specs]),
        l2=col([0.0 if w else s.weight_decay for s, w in zip(specs, adamw)]),
        decoupled=col([s.weight_decay if w else 0.0 for s, w in zip(specs, adamw)]),
        momentum=col([0.9 if s.optimizer == "momentum" else 0.0 for s in specs]),
    )


def _per_member(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Reshape an ``(M,)`` tensor to broadcast against ``like`` (members first)."""
    return v.view(-1, *([1] * (like.dim() - 1)))


class StackedOptimizer:
    """One optimizer kind applied to an ensemble's stacked parameters.

    Parameters
    ----------
    specs : list of RunSpec
        The members, in stacking order; their optimizers must share one kind.
    params : dict of str to Tensor
        Stacked parameters (members on axis 0); updated in place by :meth:`step`.
    """

    def __init__(self, specs: list[RunSpec], params: Params) -> None:
        kinds = {OPTIMIZER_KIND[s.optimizer] for s in specs}
        if len(kinds) != 1:
            raise ValueError(f"one ensemble needs one optimizer kind, got {sorted(kinds)}")
        self.kind = kinds.pop()
        device = next(iter(params.values())).device
        self.hyper = _hyper(specs, device)
        self.any_l2 = bool(self.hyper.l2.any())
        self.any_decoupled = bool(self.hyper.decoupled.any())
        self.steps = torch.zeros(len(specs), dtype=torch.float32, device=device)
        n_buffers = {"sgd": 1, "adam": 2, "rmsprop": 1}[self.kind]
        self.state = {k: [torch.zeros_like(p) for _ in range(n_buffers)] for k, p in params.items()}

    @torch.no_grad()
    def step(self, params: Params, grads: Params, active: torch.Tensor | None = None) -> None:
        """Update ``params`` in place; ``active`` (bool ``(M,)``) freezes the other members."""
        if active is not None:
            self.steps += active.float()
        else:
            self.steps += 1
        for name, p in params.items():
            old = (p.clone(), [s.clone() for s in self.state[name]]) if active is not None else None
            getattr(self, f"_{self.kind}")(p, grads[name], self.state[name])
            if old is not None:
                keep = ~_per_member(active, p)
                p.copy_(torch.where(keep, old[0], p))
                for s, s_old in zip(self.state[name], old[1]):
                    s.copy_(torch.where(keep, s_old, s))

    def _decay(self, p: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        """The gradient with L2 weight decay added, and decoupled decay applied to ``p``."""
        h = self.hyper
        if self.any_decoupled:
            p.mul_(1 - _per_member(h.lr * h.decoupled, p))
        return g + _per_member(h.l2, p) * p if self.any_l2 else g

    def _sgd(self, p: torch.Tensor, g: torch.Tensor, state: list[torch.Tensor]) -> None:
        h = self.hyper
        d = self._decay(p, g)
        buf = state[0]
        buf.mul_(_per_member(h.momentum, p)).add_(d)
        p.sub_(_per_member(h.lr, p) * buf)

    def _adam(self, p: torch.Tensor, g: torch.Tensor, state: list[torch.Tensor]) -> None:
        b1, b2 = _BETAS
        g = self._decay(p, g)
        m, v = state
        m.lerp_(g, 1 - b1)
        v.mul_(b2).addcmul_(g, g, value=1 - b2)
        t = self.steps.clamp(min=1)
        step_size = self.hyper.lr / (1 - b1 ** t)
        inv_bias2 = torch.rsqrt(1 - b2 ** t)
        denom = v.sqrt().mul_(_per_member(inv_bias2, p)).add_(_ADAM_EPS)
        p.addcdiv_(m * _per_member(step_size, p), denom, value=-1.0)

    def _rmsprop(self, p: torch.Tensor, g: torch.Tensor, state: list[torch.Tensor]) -> None:
        g = self._decay(p, g)
        sq = state[0]
        sq.mul_(_RMS_ALPHA).addcmul_(g, g, value=1 - _RMS_ALPHA)
        p.addcdiv_(g * _per_member(self.hyper.lr, p), sq.sqrt().add_(_RMS_EPS), value=-1.0)
