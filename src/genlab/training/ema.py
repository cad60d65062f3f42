"""Exponential moving average of weights (Polyak averaging), as used by DDPM (Ho et al. 2020, sec. 4)."""
from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    """Shadow copy of a module updated as ema <- d * ema + (1 - d) * w, with d warmed up as min(decay, (1+n)/(10+n)).

    The warm-up (TensorFlow's `num_updates` rule) matters for short CPU runs: with a fixed 0.999 the average
    would still remember the random initialisation for the first few thousand steps.
    """

    def __init__(self, module: nn.Module, *, decay: float) -> None:
        self.decay = decay
        self.updates = 0
        self.module = copy.deepcopy(module).eval().requires_grad_(False)

    def current_decay(self) -> float:
        return min(self.decay, (1 + self.updates) / (10 + self.updates))

    @torch.no_grad()
    def update(self, module: nn.Module) -> None:
        d = self.current_decay()
        ema_params: list[torch.Tensor] = list(self.module.parameters())
        params = [p.detach() for p in module.parameters()]
        torch._foreach_lerp_(ema_params, params, 1.0 - d)
        for eb, b in zip(self.module.buffers(), module.buffers(), strict=True):
            eb.copy_(b)
        self.updates += 1
