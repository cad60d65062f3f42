"""The forward (noising) process in closed form and its Gaussian posterior (Ho et al. 2020, eq. 4, 6, 7)."""
from __future__ import annotations

import torch
from torch import Tensor

from genlab.diffusion.parametrization import coefficients
from genlab.diffusion.schedules import NoiseSchedule, extract


def q_sample(schedule: NoiseSchedule, x0: Tensor, t: Tensor, noise: Tensor) -> Tensor:
    """x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) noise, a draw of q(x_t|x_0) (Ho et al. eq. 4); x0, noise: (B, ...)."""
    alpha, sigma = coefficients(schedule, t, x0)
    return alpha * x0 + sigma * noise


def q_posterior(schedule: NoiseSchedule, x0: Tensor, x_t: Tensor, t: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Mean, variance and clipped log-variance of q(x_{t-1}|x_t, x_0) (Ho et al. eq. 6-7): (B, ...), (B, 1, ...) x2."""
    mean = extract(schedule.posterior_mean_coef1, t, x_t) * x0 + extract(schedule.posterior_mean_coef2, t, x_t) * x_t
    return (mean, extract(schedule.posterior_variance, t, x_t),
            extract(schedule.posterior_log_variance_clipped, t, x_t))


def gaussian_noise(like: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Standard normal noise of like's shape, dtype and device, drawn on the generator's device (as diffusers)."""
    device = generator.device if generator is not None else like.device
    return torch.randn(like.shape, generator=generator, device=device, dtype=like.dtype).to(like.device)
