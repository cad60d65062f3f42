"""DDPM ancestral sampling and DDIM over a denoiser, with one signature (as k-diffusion's samplers).

    sample_NAME(denoiser, x_T, timesteps, *, generator=None, callback=None, **options) -> x_0

`denoiser` is a genlab.diffusion.denoiser.Denoiser (it knows the schedule and the parameterisation);
`timesteps` is any strictly descending sequence in [0, T-1] (see genlab.diffusion.timesteps); every step goes
from t to the next visited step, and after the last one to "step -1", where alpha-bar = 1 (x is clean data).
callback(i, t, x_t, x0_pred) sees the state each step started from and the denoiser's (clipped) x0.
The registry of every sampler by name is genlab.diffusion.samplers.

Both samplers agree with diffusers' DDPMScheduler / DDIMScheduler (tests/test_diffusion_reference.py) but for
two choices made on purpose: the ancestral sampler adds no noise on its last step even when that step is not
t = 0 (Algorithm 2, z = 0 at the end; diffusers adds beta-variance noise there with 'trailing' spacing), and
DDIM goes to the next *visited* step, where diffusers always goes to t - T // n, which differs for 'linspace'.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from genlab.diffusion.denoiser import Denoiser
from genlab.diffusion.forward_process import gaussian_noise
from genlab.diffusion.likelihood import Variance
from genlab.diffusion.parametrization import Prediction, split_prediction
from genlab.errors import ConfigError, ModelInputError

Callback = Callable[[int, int, Tensor, Tensor], None]


def ddpm_update(x0: Tensor, x_t: Tensor, *, alpha_bar_t: float, alpha_bar_prev: float,
                variance: Variance = "beta_tilde", noise: Tensor | None = None) -> Tensor:
    """x_prev of Algorithm 2 from the predicted x0 (Ho et al. 2020, eq. 7, 11): the posterior mean, plus noise.

    Between visited steps beta = 1 - abar_t / abar_prev (respacing, Nichol & Dhariwal 2021 eq. 19). noise=None
    returns the mean (the last step, z = 0); otherwise sigma^2 is beta ("beta") or beta-tilde ("beta_tilde").
    """
    beta = 1.0 - alpha_bar_t / alpha_bar_prev
    coef_x0 = math.sqrt(alpha_bar_prev) * beta / (1.0 - alpha_bar_t)
    coef_xt = math.sqrt(1.0 - beta) * (1.0 - alpha_bar_prev) / (1.0 - alpha_bar_t)
    x_prev = coef_x0 * x0 + coef_xt * x_t
    if noise is None:
        return x_prev
    if variance == "beta_tilde":
        var = beta * (1.0 - alpha_bar_prev) / (1.0 - alpha_bar_t)
    elif variance == "beta":
        var = beta
    else:
        raise ConfigError(f"unknown reverse variance {variance!r}; expected 'beta' or 'beta_tilde'")
    return x_prev + math.sqrt(var) * noise


def ddim_update(x0: Tensor, eps: Tensor, *, alpha_bar_t: float, alpha_bar_prev: float, eta: float = 0.0,
                noise: Tensor | None = None) -> Tensor:
    """x_prev of DDIM from the predicted x0 and eps (Song et al. 2021, eq. 12 with sigma of eq. 16 times eta)."""
    std = eta * math.sqrt((1.0 - alpha_bar_prev) / (1.0 - alpha_bar_t) * (1.0 - alpha_bar_t / alpha_bar_prev))
    x_prev = math.sqrt(alpha_bar_prev) * x0 + math.sqrt(max(1.0 - alpha_bar_prev - std**2, 0.0)) * eps
    if eta == 0.0:
        return x_prev
    if noise is None:
        raise ConfigError("a DDIM step with eta > 0 needs noise")
    return x_prev + std * noise


def _split_output(output: Tensor, x_t: Tensor, alpha_bar_t: float, prediction: Prediction,
                  clip_x0: bool) -> tuple[Tensor, Tensor]:
    if output.shape != x_t.shape:
        raise ModelInputError(f"the network returned shape {tuple(output.shape)}, expected {tuple(x_t.shape)}")
    x0, eps = split_prediction(output, x_t, alpha=math.sqrt(alpha_bar_t), sigma=math.sqrt(1.0 - alpha_bar_t),
                               prediction=prediction)
    return (x0.clamp(-1.0, 1.0) if clip_x0 else x0), eps


def ddpm_step(output: Tensor, x_t: Tensor, *, alpha_bar_t: float, alpha_bar_prev: float,
              prediction: Prediction = "eps", variance: Variance = "beta_tilde", clip_x0: bool = True,
              noise: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """One ancestral step from a raw network output, as diffusers' DDPMScheduler.step: (x_prev, x0_pred)."""
    x0, _ = _split_output(output, x_t, alpha_bar_t, prediction, clip_x0)
    return ddpm_update(x0, x_t, alpha_bar_t=alpha_bar_t, alpha_bar_prev=alpha_bar_prev, variance=variance,
                       noise=noise), x0


def ddim_step(output: Tensor, x_t: Tensor, *, alpha_bar_t: float, alpha_bar_prev: float,
              prediction: Prediction = "eps", eta: float = 0.0, clip_x0: bool = True,
              noise: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """One DDIM step from a raw network output, as diffusers' DDIMScheduler.step: (x_prev, x0_pred).

    The direction term uses the network's eps before x0 is clipped (diffusers' default).
    """
    x0, eps = _split_output(output, x_t, alpha_bar_t, prediction, clip_x0)
    return ddim_update(x0, eps, alpha_bar_t=alpha_bar_t, alpha_bar_prev=alpha_bar_prev, eta=eta, noise=noise), x0


def visited_steps(timesteps: Sequence[int] | Tensor, T: int, *, repeats: bool = False) -> list[int]:
    """The timesteps as ints, checked to be a non-empty strictly descending sequence in [0, T-1]; with
    `repeats`, equal neighbours are allowed and dropped (a zero-length step)."""
    steps = [int(s) for s in (timesteps.tolist() if isinstance(timesteps, Tensor) else timesteps)]
    order = "descending" if repeats else "strictly descending"
    if not steps or steps[0] > T - 1 or steps[-1] < 0 or any(
            a < b or (a == b and not repeats) for a, b in zip(steps, steps[1:], strict=False)):
        raise ConfigError(f"timesteps must be a non-empty {order} sequence in [0, {T - 1}]")
    return [s for i, s in enumerate(steps) if i == 0 or s != steps[i - 1]]


def check_batch(x: Tensor) -> None:
    """A one-line error unless x is a batch (B, ...) of at least 2 dimensions."""
    if x.ndim < 2:
        raise ModelInputError(f"x must be a batch (B, ...) with at least 2 dimensions, got shape {tuple(x.shape)}")


@torch.no_grad()
def sample_ancestral(denoiser: Denoiser, x: Tensor, timesteps: Sequence[int] | Tensor, *,
                     generator: torch.Generator | None = None, callback: Callback | None = None,
                     variance: Variance = "beta_tilde", clip_x0: bool = True) -> Tensor:
    """Ancestral sampling, Algorithm 2 of Ho et al. 2020 on any sub-sequence of steps; x: (B, ...) at timesteps[0]."""
    check_batch(x)
    if variance not in ("beta", "beta_tilde"):
        raise ConfigError(f"unknown reverse variance {variance!r}; expected 'beta' or 'beta_tilde'")
    steps = visited_steps(timesteps, denoiser.schedule.T)
    abar = [float(a) for a in denoiser.schedule.alphas_cumprod[steps]] + [1.0]
    for i, t in enumerate(steps):
        x0, _ = denoiser.x0_eps(x, t)
        x0 = x0.clamp(-1.0, 1.0) if clip_x0 else x0
        last = i == len(steps) - 1
        x_prev = ddpm_update(x0, x, alpha_bar_t=abar[i], alpha_bar_prev=abar[i + 1], variance=variance,
                             noise=None if last else gaussian_noise(x, generator))
        if callback is not None:
            callback(i, t, x, x0)
        x = x_prev
    return x


@torch.no_grad()
def sample_ddim(denoiser: Denoiser, x: Tensor, timesteps: Sequence[int] | Tensor, *,
                generator: torch.Generator | None = None, callback: Callback | None = None, eta: float = 0.0,
                clip_x0: bool = True, final_alpha_one: bool = True) -> Tensor:
    """DDIM sampling (Song et al. 2021, eq. 12), deterministic at eta = 0; x: (B, ...) at timesteps[0].

    After the last visited step alpha-bar is 1 (final_alpha_one, diffusers' set_alpha_to_one) or alpha-bar_0.
    """
    check_batch(x)
    if not eta >= 0.0:
        raise ConfigError(f"DDIM eta must be >= 0, got {eta!r}")
    schedule = denoiser.schedule
    steps = visited_steps(timesteps, schedule.T)
    final = 1.0 if final_alpha_one else float(schedule.alphas_cumprod[0])
    abar = [float(a) for a in schedule.alphas_cumprod[steps]] + [final]
    for i, t in enumerate(steps):
        x0, eps = denoiser.x0_eps(x, t)
        x0 = x0.clamp(-1.0, 1.0) if clip_x0 else x0
        x_prev = ddim_update(x0, eps, alpha_bar_t=abar[i], alpha_bar_prev=abar[i + 1], eta=eta,
                             noise=gaussian_noise(x, generator) if eta > 0 else None)
        if callback is not None:
            callback(i, t, x, x0)
        x = x_prev
    return x
