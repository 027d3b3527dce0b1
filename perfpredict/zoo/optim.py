"""Optimizers for stacked ensembles: one ``torch.optim`` optimizer per member, over views.

Every parameter tensor has the members on its first axis. Member ``i`` gets the optimizer its
run names (:func:`~perfpredict.zoo.train.make_optimizer`, with its own learning rate, weight
decay and momentum) over the views ``p[i]`` of the stacked tensors, so it follows exactly the
update rule it would follow alone. Where torch has a fused kernel for the optimizer (SGD,
Adam, AdamW), it is used: one pass over memory per tensor instead of one per arithmetic
operation, which is most of a small model's step time on a CPU. Inactive members (their epoch
is over, or they diverged) are not stepped, so their weights and state stay as they are.
"""

from __future__ import annotations

import torch

from .spec import RunSpec
from .train import make_optimizer

__all__ = ["StackedOptimizer"]

Params = dict[str, torch.Tensor]


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
        self.names = list(params)
        self.views = [[params[k][i] for k in self.names] for i in range(len(specs))]
        self.optimizers = [make_optimizer(s, v, fused=True) for s, v in zip(specs, self.views)]

    @torch.no_grad()
    def step(self, grads: Params, active: torch.Tensor | None = None) -> None:
        """Update the parameters in place; ``active`` (bool ``(M,)``) freezes the other members."""
        members = range(len(self.views)) if active is None else active.nonzero().flatten().tolist()
        for i in members:
            for view, name in zip(self.views[i], self.names):
                view.grad = grads[name][i]
            self.optimizers[i].step()
