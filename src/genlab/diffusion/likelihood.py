"""The variational bound of a diffusion model, term by term, and bits per dimension (Ho et al. 2020, eq. 5, 13).

With 0-indexed timesteps the bound of the paper reads L = L_T + sum_{t=1}^{T-1} L_t + L_0 where
L_T = KL(q(x_T|x_0) || N(0, I)) is the prior term, L_t (t >= 1, the paper's L_{t}) is
KL(q(x_{t-1}|x_t, x_0) || p(x_{t-1}|x_t)) and L_0 = -log p(x_0|x_1) is the discretized decoder (eq. 13);
our x at index t is the paper's x_{t+1}.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from genlab.diffusion.denoiser import Denoiser
from genlab.diffusion.forward_process import gaussian_noise, q_posterior, q_sample
from genlab.diffusion.schedules import NoiseSchedule, extract
from genlab.errors import ConfigError

Variance = Literal["beta", "beta_tilde"]


def normal_kl(mean1: Tensor, logvar1: Tensor, mean2: Tensor, logvar2: Tensor) -> Tensor:
    """KL(N(mean1, e^logvar1) || N(mean2, e^logvar2)) per element, in nats; arguments broadcast."""
    return 0.5 * (logvar2 - logvar1 + torch.exp(logvar1 - logvar2)
                  + (mean1 - mean2) ** 2 * torch.exp(-logvar2) - 1.0)


def discretized_gaussian_log_likelihood(x: Tensor, *, mean: Tensor, log_var: Tensor,
                                        num_bins: int = 256) -> Tensor:
    """log of the mass N(mean, e^log_var) gives x's bin, per element (Ho et al. 2020, eq. 13).

    x: data on num_bins evenly spaced values in [-1, 1]; the end bins reach out to -inf and +inf.
    """
    half = 1.0 / (num_bins - 1)
    inv_std = torch.exp(-0.5 * log_var)
    upper = (x - mean + half) * inv_std
    lower = (x - mean - half) * inv_std
    # Take the difference on the side of the tail nearer zero, where the cdf keeps its precision.
    mass = torch.where(lower > 0, torch.special.ndtr(-lower) - torch.special.ndtr(-upper),
                       torch.special.ndtr(upper) - torch.special.ndtr(lower))
    inner = torch.log(mass.clamp(min=1e-12))
    return torch.where(x < -1.0 + half, torch.special.log_ndtr(upper),
                       torch.where(x > 1.0 - half, torch.special.log_ndtr(-lower), inner))


def model_log_variance(schedule: NoiseSchedule, variance: Variance) -> np.ndarray:
    """log sigma_t^2 of p(x_{t-1}|x_t) for sigma_t^2 = beta-tilde_t or beta_t (Ho et al. section 3.2): (T,).

    At t = 0 both use beta-tilde_1 (beta-tilde_0 = 0), as improved-diffusion does for the decoder.
    """
    if variance == "beta_tilde":
        return schedule.posterior_log_variance_clipped
    if variance == "beta":
        return np.log(np.append(schedule.posterior_variance[1], schedule.betas[1:]))
    raise ConfigError(f"unknown reverse variance {variance!r}; expected 'beta' or 'beta_tilde'")


def prior_kl(schedule: NoiseSchedule, x0: Tensor) -> Tensor:
    """L_T = KL(q(x_T|x_0) || N(0, I)) summed over dimensions, in nats: (B,); x0: (B, ...)."""
    abar = float(schedule.alphas_cumprod[-1])
    mean = math.sqrt(abar) * x0
    logvar = torch.full_like(x0, math.log1p(-abar))
    return normal_kl(mean, logvar, torch.zeros_like(x0), torch.zeros_like(x0)).flatten(1).sum(dim=1)


def p_mean_variance(denoiser: Denoiser, x_t: Tensor, t: Tensor, *, variance: Variance = "beta_tilde",
                    clip_x0: bool = False) -> tuple[Tensor, Tensor, Tensor]:
    """Mean, log-variance and predicted x0 of p(x_{t-1}|x_t) (Ho et al. eq. 1, 7 with x0 from the denoiser)."""
    schedule = denoiser.schedule
    x0 = denoiser.x0(x_t, t)
    if clip_x0:
        x0 = x0.clamp(-1.0, 1.0)
    mean, _, _ = q_posterior(schedule, x0, x_t, t)
    return mean, extract(model_log_variance(schedule, variance), t, x_t), x0


def vb_terms(denoiser: Denoiser, x0: Tensor, x_t: Tensor, t: Tensor, *, variance: Variance = "beta_tilde",
             clip_x0: bool = False) -> Tensor:
    """L_t in nats per example: the posterior KL where t >= 1, the decoder NLL L_0 where t == 0: (B,)."""
    true_mean, _, true_log_var = q_posterior(denoiser.schedule, x0, x_t, t)
    mean, log_var, _ = p_mean_variance(denoiser, x_t, t, variance=variance, clip_x0=clip_x0)
    kl = normal_kl(true_mean, true_log_var, mean, log_var).flatten(1).sum(dim=1)
    nll = -discretized_gaussian_log_likelihood(x0, mean=mean, log_var=log_var).flatten(1).sum(dim=1)
    return torch.where(t == 0, nll, kl)


@dataclass(frozen=True)
class VariationalBound:
    """The bound of `bits_per_dim` per example, in bits/dim; `terms[:, t]` is L_t (0 where not evaluated)."""

    total: Tensor    # (B,)
    prior: Tensor    # (B,) L_T
    decoder: Tensor  # (B,) L_0
    terms: Tensor    # (B, T)


@torch.no_grad()
def bits_per_dim(denoiser: Denoiser, x0: Tensor, *, variance: Variance = "beta_tilde", clip_x0: bool = False,
                 num_terms: int | None = None, generator: torch.Generator | None = None) -> VariationalBound:
    """The variational bound L_T + sum_t L_t + L_0 of x0: (B, ...) in [-1, 1], in bits/dim (Ho et al. eq. 5).

    num_terms=None evaluates all T - 1 KL terms (T network calls). num_terms=K draws K of the timesteps
    1..T-1 uniformly without replacement and scales their sum by (T-1)/K: an estimate of the same bound that
    is unbiased in expectation over the draw. L_T and L_0 are always exact. Noise comes from `generator`.
    """
    schedule = denoiser.schedule
    T = schedule.T
    if num_terms is None:
        steps = torch.arange(1, T)
    elif isinstance(num_terms, int) and 1 <= num_terms <= T - 1:
        steps = torch.randperm(T - 1, generator=generator)[:num_terms] + 1
    else:
        raise ConfigError(f"num_terms must be None or an integer in [1, {T - 1}], got {num_terms!r}")
    to_bits = 1.0 / (x0[0].numel() * math.log(2.0))
    terms = torch.zeros(x0.shape[0], T, dtype=x0.dtype, device=x0.device)
    for step in [0, *steps.tolist()]:
        t = torch.full((x0.shape[0],), step, dtype=torch.long, device=x0.device)
        x_t = q_sample(schedule, x0, t, gaussian_noise(x0, generator))
        terms[:, step] = vb_terms(denoiser, x0, x_t, t, variance=variance, clip_x0=clip_x0) * to_bits
    prior = prior_kl(schedule, x0) * to_bits
    decoder = terms[:, 0]
    total = prior + decoder + terms[:, 1:].sum(dim=1) * ((T - 1) / len(steps))
    return VariationalBound(total=total, prior=prior, decoder=decoder, terms=terms)
