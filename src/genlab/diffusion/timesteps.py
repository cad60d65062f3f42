"""Which of the T training timesteps a sampler visits: the spacings of Lin et al. 2023 (arXiv:2305.08891),
Table 2, as in diffusers.

With T training steps and n sampling steps, descending and 0-indexed:
  "leading":  (T // n) * k + offset for k = n-1, ..., 0        (DDIM's original choice; ends at `offset`)
  "trailing": round(T - k T / n) - 1 for k = 0, ..., n-1        (starts at T-1, the pure-noise end)
  "linspace": round(linspace(0, T-1, n)) reversed               (both ends)

and three that need the noise schedule or place n + 1 levels, not only T (`schedule_timesteps`):
  "karras":    Karras et al. 2022 (eq. 5) rho = 7 spacing in sigma = sqrt((1 - abar) / abar), from sigma(T-1)
               to sigma(0), each sigma rounded to the discrete step nearest in log sigma
               (as diffusers' use_karras_sigmas, but the ODE samplers then step between the schedule's own
               sigmas of those steps, so the network's time input and the sigma it is asked at agree)
  "logsnr":    n + 1 levels uniform in lambda = log(alpha / sigma_vp) = -log sigma from sigma(T-1) to sigma(0)
               (Lu et al. 2022a, DPM-Solver, sec. 3.3: their fixed-step choice), rounded as
               "karras"; the first n are visited and the sampler's last step goes from the n-th to sigma = 0
  "quadratic": n + 1 times uniform in sqrt(t) from T to 1, t_k = T (1 - k (1 - T^-1/2) / n)^2, visited at
               step round(t_k) - 1 (DPM-Solver's "time_quadratic" for a discrete-time model, the "quad" skip
               of Song et al. 2021, DDIM, sec. 5), the first n visited as for "logsnr"
With few steps "logsnr" and "quadratic" do not visit the clean end t = 0 (a network call that would only
denoise sigma(0), 0.01 on the linear schedule): every call moves the sample.
"""
from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from genlab.diffusion.schedules import NoiseSchedule
from genlab.errors import ConfigError

Spacing = Literal["leading", "trailing", "linspace"]
ScheduleSpacing = Literal["leading", "trailing", "linspace", "karras", "logsnr", "quadratic"]
"""A spacing of `schedule_timesteps`: those of `timesteps` and the three that need the schedule."""
SCHEDULE_SPACINGS: tuple[str, ...] = ("leading", "trailing", "linspace", "karras", "logsnr", "quadratic")


def timesteps(T: int, num_steps: int, *, spacing: Spacing = "leading", offset: int = 0) -> Tensor:
    """The descending timesteps a sampler visits, a (num_steps,) long tensor with values in [0, T-1].

    `offset` shifts "leading" timesteps (diffusers' steps_offset); the other spacings take none.
    """
    _check_steps(T, num_steps)
    if offset and spacing != "leading":
        raise ConfigError(f"a timestep offset applies to 'leading' spacing only, got spacing {spacing!r}")
    k = np.arange(num_steps)
    steps: np.ndarray
    if spacing == "leading":
        steps = (k * (T // num_steps) + offset)[::-1]
    elif spacing == "trailing":
        steps = np.round(T - k * (T / num_steps)).astype(np.int64) - 1
    elif spacing == "linspace":
        steps = np.round(np.linspace(0, T - 1, num_steps))[::-1]
    else:
        hint = f" ({spacing!r} needs the schedule: schedule_timesteps)" if spacing in SCHEDULE_SPACINGS else ""
        raise ConfigError(f"unknown timestep spacing {spacing!r}; expected 'leading', 'trailing' or 'linspace'{hint}")
    steps = np.array(steps, dtype=np.int64)  # a copy: torch refuses negative strides
    if steps.min() < 0 or steps.max() > T - 1:
        raise ConfigError(f"offset {offset} puts timesteps outside [0, {T - 1}]")
    return torch.from_numpy(steps)


def ve_sigmas(schedule: NoiseSchedule) -> np.ndarray:
    """sigma_t = sqrt((1 - abar_t) / abar_t) for t = 0..T-1, the variance-exploding noise level of x_t / alpha_t
    (x_t / alpha_t = x0 + sigma_t eps; Karras et al. 2022, Song et al. 2021b): (T,) float64, increasing in t."""
    abar = schedule.alphas_cumprod
    return np.sqrt((1.0 - abar) / abar)


def _check_steps(T: int, num_steps: int) -> None:
    if not isinstance(num_steps, int) or not 1 <= num_steps <= T:
        raise ConfigError(f"the number of sampling steps must be an integer in [1, {T}], got {num_steps!r}")


def _distinct(steps: np.ndarray, T: int, *, to_zero: bool) -> Tensor:
    """Ascending candidate steps (n,) made distinct, descending, from T-1 (and to 0 with `to_zero`): (n,) long.
    Collisions (where rounding put two levels on one step) move to the next free steps above, within T-1."""
    steps = steps.astype(np.int64)
    steps[-1] = T - 1
    if to_zero:
        steps[0] = 0
    for i in range(1, len(steps)):                                   # distinct: push collisions up...
        steps[i] = max(steps[i], steps[i - 1] + 1)
    for i in range(len(steps) - 1, -1, -1):                          # ...and keep the top within T-1
        steps[i] = min(steps[i], T - 1 - (len(steps) - 1 - i))
    return torch.from_numpy(steps[::-1].copy())


def nearest_steps(schedule: NoiseSchedule, log_sigmas: np.ndarray, *, to_zero: bool) -> Tensor:
    """The descending distinct timesteps whose log sigma (`ve_sigmas`) is nearest each of the descending target
    `log_sigmas` (n,), the first T-1 and, with `to_zero`, the last 0: (n,) long (n <= T)."""
    log_sigma = np.log(ve_sigmas(schedule))
    right = np.clip(np.searchsorted(log_sigma, log_sigmas), 1, schedule.T - 1)   # [right-1] <= target <= [right]
    nearer_left = log_sigmas - log_sigma[right - 1] <= log_sigma[right] - log_sigmas
    return _distinct(np.where(nearer_left, right - 1, right)[::-1], schedule.T, to_zero=to_zero)


def karras_timesteps(schedule: NoiseSchedule, num_steps: int, *, rho: float = 7.0) -> Tensor:
    """The descending discrete timesteps nearest to Karras et al.'s (2022, eq. 5) noise levels: (num_steps,) long.

    sigma_i = (smax^(1/rho) + i / (n-1) (smin^(1/rho) - smax^(1/rho)))^rho for i = 0..n-1, with smax = sigma(T-1)
    and smin = sigma(0) of `ve_sigmas`, so the first step is T-1 and the last 0 (n = 1: only T-1). Each sigma_i
    goes to the step whose log sigma is nearest. Where rounding puts two levels on one step (many steps at the
    low-noise end, where rho = 7 crowds them), the later ones move to the next free steps, so there are always
    num_steps distinct steps (num_steps <= T).
    """
    _check_steps(schedule.T, num_steps)
    if not rho > 0:
        raise ConfigError(f"the Karras spacing's rho must be > 0, got {rho!r}")
    if num_steps == 1:
        return torch.tensor([schedule.T - 1], dtype=torch.long)
    log_sigma = np.log(ve_sigmas(schedule))
    lo, hi = math.exp(log_sigma[0] / rho), math.exp(log_sigma[-1] / rho)
    return nearest_steps(schedule, rho * np.log(hi + np.linspace(0.0, 1.0, num_steps) * (lo - hi)), to_zero=True)


def logsnr_timesteps(schedule: NoiseSchedule, num_steps: int) -> Tensor:
    """The first n of n + 1 levels uniform in lambda = -log sigma from sigma(T-1) to sigma(0) (Lu et al. 2022a,
    DPM-Solver, sec. 3.3, "logSNR"), each at the step nearest in log sigma: (num_steps,) long, from T-1, distinct;
    the clean end 0 is reached only where many steps crowd the low-noise levels."""
    _check_steps(schedule.T, num_steps)
    log_sigma = np.log(ve_sigmas(schedule))
    return nearest_steps(schedule, np.linspace(log_sigma[-1], log_sigma[0], num_steps + 1)[:-1], to_zero=False)


def quadratic_timesteps(T: int, num_steps: int) -> Tensor:
    """The first n of n + 1 times uniform in sqrt(t) from T to 1 (DPM-Solver's "time_quadratic"; DDIM's "quad"),
    as 0-indexed steps round(t) - 1: (num_steps,) long, from T-1, distinct."""
    _check_steps(T, num_steps)
    t = T * np.linspace(1.0, T ** -0.5, num_steps + 1)[:-1] ** 2
    return _distinct(np.round(t)[::-1] - 1, T, to_zero=False)


def schedule_timesteps(schedule: NoiseSchedule, num_steps: int, *, spacing: ScheduleSpacing = "leading") -> Tensor:
    """`timesteps(schedule.T, num_steps, spacing=...)`, or the "karras", "logsnr" and "quadratic" spacings."""
    if spacing == "karras":
        return karras_timesteps(schedule, num_steps)
    if spacing == "logsnr":
        return logsnr_timesteps(schedule, num_steps)
    if spacing == "quadratic":
        return quadratic_timesteps(schedule.T, num_steps)
    return timesteps(schedule.T, num_steps, spacing=spacing)
