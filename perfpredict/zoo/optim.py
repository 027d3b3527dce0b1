"""Optimizers for stacked ensembles: each member's own update, on views of the stacked tensors.

Every parameter tensor has the members on its first axis. Member ``i`` is updated through the
views ``p[i]`` with its own learning rate, weight decay and momentum, by the update rule of the
``torch.optim`` optimizer its run names, and its learning-rate schedule
(:func:`~perfpredict.zoo.recipes.lr_factor`), so it follows the trajectory it would follow alone.

SGD (plain, with momentum, Nesterov), Adam and AdamW call the fused kernels that ``torch.optim`` uses with
``fused=True`` (``torch._fused_sgd_``, ``_fused_adam_``, ``_fused_adamw_``): one pass over
memory per tensor instead of one per arithmetic operation, which is most of a small model's
step time on a CPU. They are called directly: ``torch.optim.Optimizer`` costs ~0.2 ms of
Python per member and step and imports ``torch._dynamo`` (~2 s) in every worker process.
``tests/test_ensemble.py`` checks every kind against ``torch.optim`` on a solo model.
RMSprop has no fused kernel and runs torch's single-tensor update. Inactive members (their
epoch is over, or they diverged) are not stepped: their weights and state stay as they are.
"""

from __future__ import annotations

from typing import Callable

import torch

from .recipes import lr_factor
from .spec import RunSpec

__all__ = ["StackedOptimizer"]

Params = dict[str, torch.Tensor]
Tensors = list[torch.Tensor]

_ADAM = {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "amsgrad": False, "maximize": False}
_RMS_ALPHA, _RMS_EPS = 0.99, 1e-8
_STATE_BUFFERS = {"sgd": 0, "momentum": 1, "nesterov": 1, "adam": 2, "adamw": 2, "rmsprop": 1}


def _sgd(spec: RunSpec, lr: float, p: Tensors, g: Tensors, state: list[Tensors], step: torch.Tensor) -> None:
    # momentum buffers start at zero, so the first step's 0.9 * 0 + g equals torch's clone of g
    momentum = spec.optimizer != "sgd"
    torch._fused_sgd_(p, g, state[0] if momentum else [], weight_decay=spec.weight_decay,
                      momentum=0.9 if momentum else 0.0, lr=lr, dampening=0.0,
                      nesterov=spec.optimizer == "nesterov", maximize=False, is_first_step=False)


def _adam(spec: RunSpec, lr: float, p: Tensors, g: Tensors, state: list[Tensors], step: torch.Tensor) -> None:
    kernel = torch._fused_adamw_ if spec.optimizer == "adamw" else torch._fused_adam_
    kernel(p, g, state[0], state[1], [], [step] * len(p), lr=lr, weight_decay=spec.weight_decay, **_ADAM)


def _rmsprop(spec: RunSpec, lr: float, p: Tensors, g: Tensors, state: list[Tensors], step: torch.Tensor) -> None:
    for param, grad, square_avg in zip(p, g, state[0]):
        if spec.weight_decay:
            grad = grad.add(param, alpha=spec.weight_decay)
        square_avg.mul_(_RMS_ALPHA).addcmul_(grad, grad, value=1 - _RMS_ALPHA)
        param.addcdiv_(grad, square_avg.sqrt().add_(_RMS_EPS), value=-lr)


_UPDATES: dict[str, Callable[..., None]] = {"sgd": _sgd, "momentum": _sgd, "nesterov": _sgd,
                                            "adam": _adam, "adamw": _adam, "rmsprop": _rmsprop}


class StackedOptimizer:
    """The members' optimizers applied to an ensemble's stacked parameters.

    Parameters
    ----------
    specs : list of RunSpec
        The members, in stacking order.
    params : dict of str to Tensor
        Stacked parameters (members on axis 0); updated in place by :meth:`step`.
    """

    def __init__(self, specs: list[RunSpec], params: Params) -> None:
        self.specs, self.names = list(specs), list(params)
        self.views = [[params[k][i] for k in self.names] for i in range(len(specs))]
        self.state = [[[torch.zeros_like(v) for v in views] for _ in range(_STATE_BUFFERS[s.optimizer])]
                      for s, views in zip(specs, self.views)]
        device = next(iter(params.values())).device
        self.steps = [torch.zeros((), device=device) for _ in specs]
        self.lrs = [s.lr for s in specs]

    def start_epoch(self, epoch: int) -> None:
        """Set each member's learning rate for ``epoch`` (0-based) by its schedule."""
        self.lrs = [s.lr * lr_factor(s.schedule, epoch, s.epochs) for s in self.specs]

    @torch.no_grad()
    def step(self, grads: Params, active: torch.Tensor | None = None) -> None:
        """Update the parameters in place; ``active`` (bool ``(M,)``) freezes the other members."""
        members = range(len(self.specs)) if active is None else active.nonzero().flatten().tolist()
        for i in members:
            spec = self.specs[i]
            self.steps[i] += 1
            _UPDATES[spec.optimizer](spec, self.lrs[i], self.views[i], [grads[k][i] for k in self.names],
                                     self.state[i], self.steps[i])
