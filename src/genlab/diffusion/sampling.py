"""Samplers with one signature: sample_*(model_fn, x, schedule, timesteps, *, ...) -> x_0 (as k-diffusion).

model_fn(x_t: (B, ...), t: (B,) long) returns the raw network output in the parameterisation `prediction`.
`timesteps` is any strictly descending sequence in [0, T-1] (see genlab.diffusion.timesteps); every step goes
from t to the next visited step, and after the last one to "step -1", where alpha-bar = 1 (x is clean data).
callback(i, t, x_t, x0_pred) sees the state each step started from and the network's (clipped) x0.

Both samplers agree with diffusers' DDPMScheduler / DDIMScheduler (tests/test_diffusion_reference.py) but for
two choices made on purpose: the ancestral sampler adds no noise on its last step even when that step is not
t = 0 (Algorithm 2, z = 0 at the end; diffusers adds beta-variance noise there with 'trailing' spacing), and
DDIM goes to the next *visited* step, where diffusers always goes to t - T // n, which differs for 'linspace'.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
from torch import Tensor

from genlab.diffusion.forward_process import gaussian_noise
from genlab.diffusion.likelihood import Variance
from genlab.diffusion.parametrization import ModelFn, Prediction, check_prediction, split_prediction
from genlab.diffusion.schedules import NoiseSchedule
from genlab.errors import ConfigError, ModelInputError

Callback = Callable[[int, int, Tensor, Tensor], None]


def _x0_and_eps(output: Tensor, x_t: Tensor, alpha_bar_t: float, prediction: Prediction,
                clip_x0: bool) -> tuple[Tensor, Tensor]:
    if output.shape != x_t.shape:
        raise ModelInputError(f"the network returned shape {tuple(output.shape)}, expected {tuple(x_t.shape)}")
    x0, eps = split_prediction(output, x_t, alpha=math.sqrt(alpha_bar_t), sigma=math.sqrt(1.0 - alpha_bar_t),
                               prediction=prediction)
    return (x0.clamp(-1.0, 1.0) if clip_x0 else x0), eps


def ddpm_step(output: Tensor, x_t: Tensor, *, alpha_bar_t: float, alpha_bar_prev: float,
              prediction: Prediction = "eps", variance: Variance = "beta_tilde", clip_x0: bool = True,
              noise: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """One ancestral step x_t -> x_prev of Algorithm 2 (Ho et al. 2020, eq. 7, 11): (x_prev, x0_pred), each (B, ...).

    Between visited steps beta = 1 - abar_t / abar_prev (respacing, Nichol & Dhariwal 2021 eq. 19), and the
    mean is the posterior mean at the predicted x0. noise=None returns the mean (the last step, z = 0);
    otherwise sigma^2 is beta ("beta") or beta-tilde = beta (1 - abar_prev) / (1 - abar_t) ("beta_tilde").
    """
    x0, _ = _x0_and_eps(output, x_t, alpha_bar_t, prediction, clip_x0)
    beta = 1.0 - alpha_bar_t / alpha_bar_prev
    coef_x0 = math.sqrt(alpha_bar_prev) * beta / (1.0 - alpha_bar_t)
    coef_xt = math.sqrt(1.0 - beta) * (1.0 - alpha_bar_prev) / (1.0 - alpha_bar_t)
    x_prev = coef_x0 * x0 + coef_xt * x_t
    if noise is None:
        return x_prev, x0
    if variance == "beta_tilde":
        var = beta * (1.0 - alpha_bar_prev) / (1.0 - alpha_bar_t)
    elif variance == "beta":
        var = beta
    else:
        raise ConfigError(f"unknown reverse variance {variance!r}; expected 'beta' or 'beta_tilde'")
    return x_prev + math.sqrt(var) * noise, x0


def ddim_step(output: Tensor, x_t: Tensor, *, alpha_bar_t: float, alpha_bar_prev: float,
              prediction: Prediction = "eps", eta: float = 0.0, clip_x0: bool = True,
              noise: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """One DDIM step x_t -> x_prev (Song et al. 2021, eq. 12 with sigma of eq. 16 times eta): (x_prev, x0_pred).

    The direction term uses the network's eps before x0 is clipped (diffusers' default). noise: (B, ...) is
    needed when eta > 0.
    """
    x0, eps = _x0_and_eps(output, x_t, alpha_bar_t, prediction, clip_x0)
    std = eta * math.sqrt((1.0 - alpha_bar_prev) / (1.0 - alpha_bar_t) * (1.0 - alpha_bar_t / alpha_bar_prev))
    x_prev = math.sqrt(alpha_bar_prev) * x0 + math.sqrt(max(1.0 - alpha_bar_prev - std**2, 0.0)) * eps
    if eta == 0.0:
        return x_prev, x0
    if noise is None:
        raise ConfigError("a DDIM step with eta > 0 needs noise")
    return x_prev + std * noise, x0


def _visited(timesteps: Sequence[int] | Tensor, T: int) -> list[int]:
    steps = [int(s) for s in (timesteps.tolist() if isinstance(timesteps, Tensor) else timesteps)]
    if not steps or steps[0] > T - 1 or steps[-1] < 0 or any(a <= b for a, b in zip(steps, steps[1:])):
        raise ConfigError(f"timesteps must be a non-empty strictly descending sequence in [0, {T - 1}]")
    return steps


def _check_options(prediction: str, x: Tensor) -> None:
    check_prediction(prediction)
    if x.ndim < 2:
        raise ModelInputError(f"x must be a batch (B, ...) with at least 2 dimensions, got shape {tuple(x.shape)}")


@torch.no_grad()
def sample_ancestral(model_fn: ModelFn, x: Tensor, schedule: NoiseSchedule, timesteps: Sequence[int] | Tensor, *,
                     prediction: Prediction = "eps", variance: Variance = "beta_tilde", clip_x0: bool = True,
                     generator: torch.Generator | None = None, callback: Callback | None = None) -> Tensor:
    """Ancestral sampling, Algorithm 2 of Ho et al. 2020 on any sub-sequence of steps; x: (B, ...) at timesteps[0]."""
    _check_options(prediction, x)
    if variance not in ("beta", "beta_tilde"):
        raise ConfigError(f"unknown reverse variance {variance!r}; expected 'beta' or 'beta_tilde'")
    steps = _visited(timesteps, schedule.T)
    abar = [float(a) for a in schedule.alphas_cumprod[steps]] + [1.0]
    for i, t in enumerate(steps):
        output = model_fn(x, torch.full((x.shape[0],), t, dtype=torch.long, device=x.device))
        last = i == len(steps) - 1
        x_prev, x0 = ddpm_step(output, x, alpha_bar_t=abar[i], alpha_bar_prev=abar[i + 1], prediction=prediction,
                               variance=variance, clip_x0=clip_x0,
                               noise=None if last else gaussian_noise(x, generator))
        if callback is not None:
            callback(i, t, x, x0)
        x = x_prev
    return x


@torch.no_grad()
def sample_ddim(model_fn: ModelFn, x: Tensor, schedule: NoiseSchedule, timesteps: Sequence[int] | Tensor, *,
                prediction: Prediction = "eps", eta: float = 0.0, clip_x0: bool = True,
                generator: torch.Generator | None = None, callback: Callback | None = None,
                final_alpha_one: bool = True) -> Tensor:
    """DDIM sampling (Song et al. 2021, eq. 12), deterministic at eta = 0; x: (B, ...) at timesteps[0].

    After the last visited step alpha-bar is 1 (final_alpha_one, diffusers' set_alpha_to_one) or alpha-bar_0.
    """
    _check_options(prediction, x)
    if not eta >= 0.0:
        raise ConfigError(f"DDIM eta must be >= 0, got {eta!r}")
    steps = _visited(timesteps, schedule.T)
    final = 1.0 if final_alpha_one else float(schedule.alphas_cumprod[0])
    abar = [float(a) for a in schedule.alphas_cumprod[steps]] + [final]
    for i, t in enumerate(steps):
        output = model_fn(x, torch.full((x.shape[0],), t, dtype=torch.long, device=x.device))
        x_prev, x0 = ddim_step(output, x, alpha_bar_t=abar[i], alpha_bar_prev=abar[i + 1], prediction=prediction,
                               eta=eta, clip_x0=clip_x0, noise=gaussian_noise(x, generator) if eta > 0 else None)
        if callback is not None:
            callback(i, t, x, x0)
        x = x_prev
    return x
