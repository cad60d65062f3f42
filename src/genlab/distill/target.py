"""The distillation target of Salimans & Ho 2022 (Algorithm 2) and its truncated-SNR weight: pure tensor math.

Notation of genlab.diffusion.parametrization: z_t = alpha_t x + sigma_t eps. A student that takes one DDIM step
from t to t'' must land where its teacher lands after two DDIM steps t -> t' -> t''. DDIM (eta = 0) from t to s
is z_s = alpha_s x^ + sigma_s eps^ with eps^ = (z_t - alpha_t x^) / sigma_t, so the one x^ that lands on the
teacher's z_t'' is

    x~ = (z_t'' - (sigma_t'' / sigma_t) z_t) / (alpha_t'' - (sigma_t'' / sigma_t) alpha_t)     (Algorithm 2),

and at the end of the chain (t'' = "step -1": alpha = 1, sigma = 0) x~ is the teacher's z_t'' itself.
Coefficients are tensors broadcastable to z: (B, 1, ..., 1), or Python floats.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from genlab.diffusion.parametrization import Coef

X0Eps = Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]
"""x0_eps(z: (B, ...), t: (B,) long) -> (x0, eps) predicted at t, each (B, ...): a Denoiser's `x0_eps`."""


def ddim_jump(x0: Tensor, eps: Tensor, *, alpha_s: Coef, sigma_s: Coef) -> Tensor:
    """z_s = alpha_s x0 + sigma_s eps: one deterministic DDIM step to s (Song et al. 2021, eq. 12, eta = 0)."""
    return alpha_s * x0 + sigma_s * eps


def implied_x0(z_t: Tensor, z_s: Tensor, *, alpha_t: Coef, sigma_t: Coef, alpha_s: Coef, sigma_s: Coef) -> Tensor:
    """The x^ whose DDIM step z_t -> s lands on z_s: (z_s - (sigma_s/sigma_t) z_t) / (alpha_s - (sigma_s/sigma_t)
    alpha_t) (Salimans & Ho 2022, Algorithm 2); z_t, z_s: (B, ...)."""
    ratio = sigma_s / sigma_t
    return (z_s - ratio * z_t) / (alpha_s - ratio * alpha_t)


def two_step_target(teacher: X0Eps, z_t: Tensor, *, t: Tensor, t_mid: Tensor, coef_t: tuple[Coef, Coef],
                    coef_mid: tuple[Coef, Coef], coef_next: tuple[Coef, Coef]) -> Tensor:
    """x~ of Algorithm 2 (Salimans & Ho 2022): the teacher's two DDIM steps t -> t_mid -> next, as one x^.

    z_t: (B, ...); t, t_mid: (B,) long timesteps the teacher is asked at; coef_*: (alpha, sigma) at t, t_mid and
    the student's next step (alpha = 1, sigma = 0 past the last step). Returns x~: (B, ...).
    """
    (a_t, s_t), (a_mid, s_mid), (a_next, s_next) = coef_t, coef_mid, coef_next
    x0, eps = teacher(z_t, t)
    z_mid = ddim_jump(x0, eps, alpha_s=a_mid, sigma_s=s_mid)
    x0, eps = teacher(z_mid, t_mid)
    z_next = ddim_jump(x0, eps, alpha_s=a_next, sigma_s=s_next)
    return implied_x0(z_t, z_next, alpha_t=a_t, sigma_t=s_t, alpha_s=a_next, sigma_s=s_next)


def truncated_snr_weight(alpha: Tensor, sigma: Tensor) -> Tensor:
    """w(t) = max(SNR_t, 1) = max(alpha^2 / sigma^2, 1), "truncated SNR" (Salimans & Ho 2022, sec. 4): alpha's shape."""
    return torch.clamp(alpha.pow(2) / sigma.pow(2), min=1.0)


def weighted_x_loss(x_pred: Tensor, x_target: Tensor, weight: Tensor) -> Tensor:
    """w(t) ||x~ - x^||^2 per example, the mean over each item's elements (Salimans & Ho 2022, sec. 4): (B,).

    x_pred, x_target: (B, ...); weight: (B,) or (B, 1, ..., 1). The squared error is taken in float32 at least
    (a bf16 network output is promoted), float64 stays float64.
    """
    dtype = torch.promote_types(torch.promote_types(x_pred.dtype, x_target.dtype), torch.float32)
    per_example = (x_pred.to(dtype) - x_target.to(dtype)).pow(2).flatten(1).mean(dim=1)
    return weight.reshape(-1).to(per_example.dtype) * per_example
