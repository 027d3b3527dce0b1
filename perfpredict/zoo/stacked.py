"""Forward and backward passes of M stacked copies of one model (members on axis 0).

Two engines, picked per model by :func:`make_engine`:

* :class:`SequentialEngine` for ``nn.Sequential`` stacks of linear, conv, BatchNorm, pooling,
  activation, dropout and flatten layers and residual blocks (our ``mlp``, ``cnn``, ``lenet``
  and ``resnet``): linear layers become one batched matmul, conv layers one grouped
  convolution in channels-last layout, and plain autograd computes all members' gradients in
  one backward pass. This is the fast path on CPUs.
* :class:`VmapEngine` for any other model (our ``vit``): ``torch.func.vmap`` over
  ``grad_and_value`` of a functional call.

Both take inputs ``x`` of shape ``(M, B, C, H, W)``, labels and sample weights ``(M, B)``
(weight 0 pads a member's short last batch), and return per-member mean losses ``(M,)``.
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn
from torch.func import functional_call, grad_and_value, vmap
from torch.nn import functional as F

from ..archs.resnet import BasicBlock, PadShortcut

__all__ = ["SequentialEngine", "VmapEngine", "make_engine"]

Params = dict[str, torch.Tensor]
_BF16_MIN_CHANNELS = 4
_ELEMENTWISE = (nn.ReLU, nn.LeakyReLU, nn.GELU, nn.ELU, nn.Tanh, nn.Sigmoid, nn.MaxPool2d,
                nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.Identity)
_LEAVES = (nn.Linear, nn.Conv2d, nn.BatchNorm1d, nn.BatchNorm2d, nn.Flatten, nn.Dropout, PadShortcut,
           *_ELEMENTWISE)


def _weighted_mean(ce: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return (ce * w).sum(-1) / w.sum(-1).clamp(min=1.0)


def _member_losses(logits: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    ce = F.cross_entropy(logits.flatten(0, -2), y.flatten(), reduction="none")
    return _weighted_mean(ce.view_as(w), w)


def _stackable(module: nn.Module) -> bool:
    if isinstance(module, (nn.Sequential, BasicBlock)):
        return all(_stackable(m) for m in module.children())
    return isinstance(module, _LEAVES)


class SequentialEngine:
    """Stacked ``nn.Sequential`` of supported layers, trained with one autograd pass.

    Activations flow in one of two layouts: ``(M, B, features)`` through linear layers, and
    ``(B, M*C, H, W)`` channels-last (``grouped``) through convolutions, where a grouped
    convolution, pooling and BatchNorm over ``M*C`` channels act on each member separately.
    BatchNorm uses each member's batch statistics in training and updates its running
    statistics in place (the buffers, members on axis 0); evaluation uses them.
    """

    def __init__(self, model: nn.Sequential, members: int) -> None:
        if not self.supports(model):
            raise TypeError(f"SequentialEngine stacks nn.Sequential models of {_LEAVES} and "
                            "BasicBlock only")
        self.model = model
        self.members = members
        # images per member in one evaluation pass: conv activations are ~10x an MLP's per
        # image, and a chunk whose activations outgrow the L2 cache evaluates ~2x slower
        self.eval_chunk = 32 if any(isinstance(m, nn.Conv2d) for m in model.modules()) else 512

    @classmethod
    def supports(cls, model: nn.Module) -> bool:
        """True if ``model`` is a Sequential of layers (and residual blocks) this engine can stack."""
        return isinstance(model, nn.Sequential) and _stackable(model)

    def logits(self, params: Params, buffers: Params, x: torch.Tensor, *, training: bool) -> torch.Tensor:
        """``(M, B, classes)`` outputs of every member on its own inputs."""
        return self._run(self.model, "", params, buffers, x, False, training)[0]

    def _run(self, module: nn.Module, name: str, params: Params, buffers: Params, h: torch.Tensor,
             grouped: bool, training: bool) -> tuple[torch.Tensor, bool]:
        """``module`` applied to ``h``; ``grouped``: ``h`` is ``(B, M*C, H, W)``, else ``(M, B, ...)``."""
        prefix = f"{name}." if name else ""
        if isinstance(module, nn.Sequential):
            for child_name, child in module.named_children():
                h, grouped = self._run(child, prefix + child_name, params, buffers, h, grouped, training)
            return h, grouped
        if isinstance(module, BasicBlock):  # follows a convolution: h is grouped
            out = h
            for part in ("conv1", "bn1", "act1", "conv2", "bn2"):
                out, _ = self._run(getattr(module, part), prefix + part, params, buffers, out, True, training)
            short, _ = self._run(module.shortcut, prefix + "shortcut", params, buffers, h, True, training)
            return module.act2(out + short), True
        if isinstance(module, (nn.Conv2d, nn.BatchNorm2d)) and not grouped:
            b = h.shape[1]
            h = h.transpose(0, 1).reshape(b, -1, *h.shape[-2:]).contiguous(memory_format=torch.channels_last)
            grouped = True
        if isinstance(module, nn.Conv2d):
            return self._conv(module, params, name, h), grouped
        if isinstance(module, nn.Linear):
            # (W @ h^T)^T, not h @ W^T: the weight gradient then comes out contiguous,
            # which keeps the optimizer's elementwise passes fast
            w, bias = params[f"{name}.weight"], params.get(f"{name}.bias")
            out = torch.bmm(w, h.transpose(1, 2)) if bias is None else \
                torch.baddbmm(bias.unsqueeze(-1), w, h.transpose(1, 2))
            return out.transpose(1, 2), grouped
        if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
            return self._batch_norm(module, params, buffers, name, h, grouped, training), grouped
        if isinstance(module, nn.Flatten):
            b = h.shape[0] if grouped else h.shape[1]
            return (h.reshape(b, self.members, -1).transpose(0, 1) if grouped else h.flatten(2)), False
        if isinstance(module, nn.Dropout):
            return F.dropout(h, module.p, training=training), grouped
        if isinstance(module, PadShortcut):
            b, _, hh, ww = h.shape
            h = module(h.reshape(b, self.members, -1, hh, ww)).flatten(1, 2)
            return h.contiguous(memory_format=torch.channels_last), grouped
        return module(h), grouped

    def _batch_norm(self, layer: nn.modules.batchnorm._BatchNorm, params: Params, buffers: Params,
                    name: str, h: torch.Tensor, grouped: bool, training: bool) -> torch.Tensor:
        """Each member's BatchNorm: its channels are ``M*C`` channels of one batch norm."""
        mean, var = (buffers[f"{name}.{k}"].view(-1) for k in ("running_mean", "running_var"))
        weight, bias = (params[f"{name}.{k}"].reshape(-1) for k in ("weight", "bias"))
        if training:
            buffers[f"{name}.num_batches_tracked"] += 1
        if grouped:
            return F.batch_norm(h, mean, var, weight, bias, training, layer.momentum, layer.eps)
        m, b = h.shape[:2]
        flat = h.transpose(0, 1).reshape(b, -1)
        out = F.batch_norm(flat, mean, var, weight, bias, training, layer.momentum, layer.eps)
        return out.view(b, m, -1).transpose(0, 1)

    def _conv(self, layer: nn.Conv2d, params: Params, name: str, h: torch.Tensor) -> torch.Tensor:
        w = params[f"{name}.weight"]
        w = w.reshape(-1, *w.shape[2:]).contiguous(memory_format=torch.channels_last)
        bias = params.get(f"{name}.bias")
        # a CPU's bf16 grouped convolution over 1-3 input channels per group (the first layer)
        # runs ~2x slower than fp32, one over 16-64 channels 1.3-1.7x faster: the first stays fp32
        fp32 = h.device.type == "cpu" and layer.in_channels // layer.groups < _BF16_MIN_CHANNELS
        with torch.autocast(h.device.type, enabled=False) if fp32 else contextlib.nullcontext():
            return F.conv2d(h.float() if fp32 else h, w, None if bias is None else bias.reshape(-1),
                            layer.stride, layer.padding, layer.dilation, self.members * layer.groups)

    def loss_and_grads(self, params: Params, buffers: Params, x: torch.Tensor, y: torch.Tensor,
                       w: torch.Tensor) -> tuple[Params, torch.Tensor]:
        """Gradients of every member's mean loss, and the ``(M,)`` losses."""
        with torch.enable_grad():
            leaves = {k: p.detach().requires_grad_() for k, p in params.items()}
            losses = _member_losses(self.logits(leaves, buffers, x, training=True), y, w)
            grads = torch.autograd.grad(losses.sum(), list(leaves.values()))
        # contiguous gradients (channels-last conv weights give strided ones): the
        # optimizer's elementwise passes over strided memory are several times slower
        return {k: g.contiguous() for k, g in zip(leaves, grads)}, losses.detach()


class VmapEngine:
    """Any model, through ``torch.func.vmap`` over a functional call (base on the meta device)."""

    def __init__(self, model: nn.Module, members: int) -> None:
        self.base = model
        self.members = members
        self.eval_chunk = 512  # images per member in one evaluation pass

        def loss(params: Params, buffers: Params, x: torch.Tensor, y: torch.Tensor,
                 w: torch.Tensor) -> torch.Tensor:
            out = functional_call(self.base, (params, buffers), (x,))
            return _weighted_mean(F.cross_entropy(out, y, reduction="none"), w)

        self._grad = vmap(grad_and_value(loss), randomness="different")
        self._forward = vmap(lambda p, b, x: functional_call(self.base, (p, b), (x,)),
                             randomness="different")

    def logits(self, params: Params, buffers: Params, x: torch.Tensor, *, training: bool) -> torch.Tensor:
        """``(M, B, classes)`` outputs of every member on its own inputs."""
        self.base.train(training)
        try:
            return self._forward(params, buffers, x)
        finally:
            self.base.train()

    def loss_and_grads(self, params: Params, buffers: Params, x: torch.Tensor, y: torch.Tensor,
                       w: torch.Tensor) -> tuple[Params, torch.Tensor]:
        """Gradients of every member's mean loss, and the ``(M,)`` losses."""
        return self._grad(params, buffers, x, y, w)


Engine = SequentialEngine | VmapEngine


def make_engine(model: nn.Module, members: int) -> Engine:
    """The fastest engine that can stack ``model`` (``model`` may live on the meta device)."""
    if SequentialEngine.supports(model):
        return SequentialEngine(model, members)
    return VmapEngine(model, members)
