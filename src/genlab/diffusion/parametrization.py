"""What the network predicts: noise eps, clean data x0, or velocity v, and the conversions between them.

Written in the notation of Kingma et al. 2021 (VDM): x_t = alpha x_0 + sigma eps with alpha = sqrt(alpha-bar_t)
and sigma = sqrt(1 - alpha-bar_t), so alpha^2 + sigma^2 = 1. `alpha` and `sigma` are Python floats (one
sampler step) or tensors broadcastable to x (a batch of timesteps, see `coefficients`). Samplers and losses
call the adapters `split_prediction` / `prediction_target` instead of branching on the parameterisation.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from torch import Tensor

from genlab.diffusion.schedules import NoiseSchedule, extract
from genlab.errors import ConfigError

Prediction = Literal["eps", "x0", "v"]
Coef = float | Tensor
ModelFn = Callable[[Tensor, Tensor], Tensor]
"""model_fn(x_t: (B, ...), t: (B,) long) -> the raw network output (B, ...) in some parameterisation."""


def x0_from_eps(x_t: Tensor, eps: Tensor, *, alpha: Coef, sigma: Coef) -> Tensor:
    """x0 = (x_t - sigma eps) / alpha (Ho et al. 2020, eq. 15)."""
    return (x_t - sigma * eps) / alpha


def eps_from_x0(x_t: Tensor, x0: Tensor, *, alpha: Coef, sigma: Coef) -> Tensor:
    """eps = (x_t - alpha x0) / sigma, the inverse of x0_from_eps."""
    return (x_t - alpha * x0) / sigma


def v_from_x0_eps(x0: Tensor, eps: Tensor, *, alpha: Coef, sigma: Coef) -> Tensor:
    """v = alpha eps - sigma x0 (Salimans & Ho 2022, section 4)."""
    return alpha * eps - sigma * x0


def x0_from_v(x_t: Tensor, v: Tensor, *, alpha: Coef, sigma: Coef) -> Tensor:
    """x0 = alpha x_t - sigma v (Salimans & Ho 2022, appendix D)."""
    return alpha * x_t - sigma * v


def eps_from_v(x_t: Tensor, v: Tensor, *, alpha: Coef, sigma: Coef) -> Tensor:
    """eps = sigma x_t + alpha v (Salimans & Ho 2022, appendix D)."""
    return sigma * x_t + alpha * v


def score_from_eps(eps: Tensor, *, sigma: Coef) -> Tensor:
    """Score of q(x_t): grad log q(x_t) = -E[eps|x_t] / sqrt(1 - alpha-bar_t) (Tweedie's formula, Efron 2011)."""
    return -eps / sigma


def eps_from_score(score: Tensor, *, sigma: Coef) -> Tensor:
    """eps = -sqrt(1 - alpha-bar_t) score, the inverse of score_from_eps."""
    return -sigma * score


def _split_eps(out: Tensor, x_t: Tensor, alpha: Coef, sigma: Coef) -> tuple[Tensor, Tensor]:
    return x0_from_eps(x_t, out, alpha=alpha, sigma=sigma), out


def _split_x0(out: Tensor, x_t: Tensor, alpha: Coef, sigma: Coef) -> tuple[Tensor, Tensor]:
    return out, eps_from_x0(x_t, out, alpha=alpha, sigma=sigma)


def _split_v(out: Tensor, x_t: Tensor, alpha: Coef, sigma: Coef) -> tuple[Tensor, Tensor]:
    return x0_from_v(x_t, out, alpha=alpha, sigma=sigma), eps_from_v(x_t, out, alpha=alpha, sigma=sigma)


# prediction -> fn(output, x_t, alpha, sigma) -> (x0, eps): the one place a parameterisation is resolved.
SPLITTERS: dict[str, Callable[[Tensor, Tensor, Coef, Coef], tuple[Tensor, Tensor]]] = {
    "eps": _split_eps, "x0": _split_x0, "v": _split_v}


def check_prediction(prediction: str) -> None:
    """Raise ConfigError unless `prediction` names a parameterisation."""
    if prediction not in SPLITTERS:
        raise ConfigError(f"unknown prediction {prediction!r}; expected one of {', '.join(SPLITTERS)}")


def split_prediction(output: Tensor, x_t: Tensor, *, alpha: Coef, sigma: Coef,
                     prediction: Prediction = "eps") -> tuple[Tensor, Tensor]:
    """(x0, eps) implied by a network output of the given parameterisation; output, x_t: (B, ...)."""
    check_prediction(prediction)
    return SPLITTERS[prediction](output, x_t, alpha, sigma)


def prediction_target(x0: Tensor, eps: Tensor, *, alpha: Coef, sigma: Coef,
                      prediction: Prediction = "eps") -> Tensor:
    """What a network of the given parameterisation should output for x_t = alpha x0 + sigma eps: (B, ...)."""
    check_prediction(prediction)
    if prediction == "eps":
        return eps
    if prediction == "x0":
        return x0
    return v_from_x0_eps(x0, eps, alpha=alpha, sigma=sigma)


def coefficients(schedule: NoiseSchedule, t: Tensor, x: Tensor) -> tuple[Tensor, Tensor]:
    """(alpha, sigma) = (sqrt(abar_t), sqrt(1 - abar_t)) per row of x: each (B, 1, ..., 1); t: (B,) long."""
    return extract(schedule.sqrt_alphas_cumprod, t, x), extract(schedule.sqrt_one_minus_alphas_cumprod, t, x)


def to_x0_eps(output: Tensor, x_t: Tensor, t: Tensor, schedule: NoiseSchedule, *,
              prediction: Prediction = "eps") -> tuple[Tensor, Tensor]:
    """(x0, eps) from a network output at timesteps t: (B,) long; output, x_t: (B, ...)."""
    alpha, sigma = coefficients(schedule, t, x_t)
    return split_prediction(output, x_t, alpha=alpha, sigma=sigma, prediction=prediction)
