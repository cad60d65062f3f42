"""Classifier-free guidance (Ho & Salimans 2022, eq. 6): mix a conditional and an unconditional prediction.

With scale w the guided output is out_u + w (out_c - out_u): w = 1 is the conditional model, w = 0 the
unconditional one, w > 1 pushes samples towards the condition. (The paper writes (1 + w') eps_c - w' eps_u,
that is w = 1 + w'; diffusers' guidance_scale is our w.) The mix is linear in the output, so it applies to
eps, x0 and v predictions alike.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from genlab.diffusion.conditioning import Condition, repeat_condition
from genlab.diffusion.parametrization import ModelFn

CondModelFn = Callable[[Tensor, Tensor, Tensor], Tensor]
"""model_fn(x_t: (B, ...), t: (B,) long, cond: (B, ...)) -> the raw network output (B, ...)."""


def classifier_free_guidance(model_fn_cond: ModelFn, model_fn_uncond: ModelFn, scale: float) -> ModelFn:
    """A model_fn returning out_u + scale (out_c - out_u) from two model_fns (Ho & Salimans 2022, eq. 6)."""
    def guided(x_t: Tensor, t: Tensor) -> Tensor:
        out_u = model_fn_uncond(x_t, t)
        return out_u + scale * (model_fn_cond(x_t, t) - out_u)
    return guided


def classifier_free_guidance_batched(model_fn: CondModelFn, cond: Tensor, null_cond: Tensor,
                                     scale: float) -> ModelFn:
    """The same guidance with one network call on a doubled batch [cond; null_cond]; cond, null_cond: (B, ...)."""
    def guided(x_t: Tensor, t: Tensor) -> Tensor:
        out_c, out_u = model_fn(torch.cat([x_t, x_t]), torch.cat([t, t]), torch.cat([cond, null_cond])).chunk(2)
        return out_u + scale * (out_c - out_u)
    return guided


def guided_model_fn(net: Callable[..., Tensor], cond: Condition, scale: float, *, batch: int) -> ModelFn:
    """model_fn(x_t, t) = out_u + scale (out_c - out_u) of a conditional net(x, t, cond, drop=) (Ho & Salimans eq. 6).

    scale = 1 is the conditional model and scale = 0 the unconditional one, each one network call; otherwise
    the conditional and null rows run as one doubled batch (`drop` marks the null half).
    """
    if scale == 1.0:
        return lambda x, t: net(x, t, cond)
    if scale == 0.0:
        return lambda x, t: net(x, t, cond, drop=torch.ones(x.shape[0], dtype=torch.bool))
    doubled = repeat_condition(cond, 2)
    keep = torch.zeros(batch, dtype=torch.bool)
    return classifier_free_guidance_batched(lambda x, t, drop: net(x, t, doubled, drop=drop), keep, ~keep, scale)
