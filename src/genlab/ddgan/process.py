"""The few-step forward process of denoising diffusion GANs and the two draws training needs from it.

Xiao, Kreis & Vahdat (2022, sec. 3 and app. B) discretise the variance-preserving SDE of Song et al. (2021)
at T + 1 times t_i = eps + (1 - eps) i / T (eps = 1e-3), where the marginal of x(t) given x(0) keeps the
fraction alpha-bar(t) = exp(-beta_min t - (beta_max - beta_min) t^2 / 2) of the signal's power. The chain
starts at t_0, taken as data, so step i (genlab index i - 1) has beta_i = 1 - alpha-bar(t_i) / alpha-bar(t_{i-1}).
That is a `NoiseSchedule`: its alpha-bar table is alpha-bar(t_i) / alpha-bar(t_0), and its posterior tables give
q(x_{t-1} | x_t, x_0) (Ho et al. 2020, eq. 6-7), which is where DDGAN's generator draws x_{t-1} from.
"""
from __future__ import annotations

import math

import numpy as np
from torch import Tensor

from genlab.diffusion.forward_process import q_posterior
from genlab.diffusion.schedules import NoiseSchedule, betas_from_alpha_bar, extract
from genlab.errors import ConfigError, ModelInputError

EPS_T = 1e-3       # the first time of the grid; alpha-bar(t_0) is within 1e-4 of 1 (Xiao et al. 2022, app. B)


def vp_alpha_bar(t: np.ndarray, *, beta_min: float, beta_max: float) -> np.ndarray:
    """alpha-bar(t) = exp(-int_0^t beta(s) ds) for beta(s) = beta_min + s (beta_max - beta_min) (Song et al. 2021,
    eq. 33); t: any shape in [0, 1], float64."""
    t = np.asarray(t, dtype=np.float64)
    return np.exp(-beta_min * t - 0.5 * (beta_max - beta_min) * t**2)


def ddgan_schedule(T: int = 4, *, beta_min: float = 0.1, beta_max: float = 20.0) -> NoiseSchedule:
    """The T-step discretisation of the VP SDE used by DDGAN (Xiao et al. 2022, app. B) as a NoiseSchedule (T,)."""
    if not isinstance(T, int) or T < 2:
        raise ConfigError(f"ddgan.T must be an integer >= 2, got {T!r}")
    if not (0 < beta_min < beta_max and math.isfinite(beta_max)):
        raise ConfigError(f"ddgan needs 0 < beta_min < beta_max, got beta_min={beta_min}, beta_max={beta_max}")

    def alpha_bar(u: np.ndarray) -> np.ndarray:
        return vp_alpha_bar(EPS_T + (1.0 - EPS_T) * u, beta_min=beta_min, beta_max=beta_max)
    # no cap on beta: with T = 2 the last step's beta is 0.9995, and capping it would change the chain's end
    return NoiseSchedule.from_betas(betas_from_alpha_bar(alpha_bar, T, max_beta=1.0))


def q_sample_pairs(schedule: NoiseSchedule, x0: Tensor, t: Tensor, noise_prev: Tensor,
                   noise_step: Tensor) -> tuple[Tensor, Tensor]:
    """A draw (x_{t-1}, x_t) of the forward chain: x_{t-1} ~ q(x_{t-1}|x_0), then x_t ~ q(x_t|x_{t-1}) by one step
    (Ho et al. 2020, eq. 2 and 4; Xiao et al. 2022's training pairs). x0, noises: (B, ...); t: (B,) in [0, T-1];
    at t = 0, x_{t-1} is x0 itself."""
    if not (x0.shape == noise_prev.shape == noise_step.shape):
        raise ModelInputError(f"x0 and both noises must share one shape, got {tuple(x0.shape)}, "
                              f"{tuple(noise_prev.shape)} and {tuple(noise_step.shape)}")
    abar_prev = extract(schedule.alphas_cumprod_prev, t, x0)
    x_prev = abar_prev.sqrt() * x0 + (1.0 - abar_prev).sqrt() * noise_prev
    x_t = extract(schedule.alphas, t, x0).sqrt() * x_prev + extract(schedule.betas, t, x0).sqrt() * noise_step
    return x_prev, x_t


def sample_posterior(schedule: NoiseSchedule, x0: Tensor, x_t: Tensor, t: Tensor, noise: Tensor) -> Tensor:
    """x_{t-1} = mu-tilde(x_t, x0) + sqrt(beta-tilde_t) noise, a draw of q(x_{t-1} | x_t, x_0) (Ho et al. 2020,
    eq. 6-7); the variance is 0 at t = 0, so the last step lands on x0's posterior mean. All (B, ...), t: (B,)."""
    mean, variance, _ = q_posterior(schedule, x0, x_t, t)
    return mean + variance.sqrt() * noise


def x0_preconditioning(schedule: NoiseSchedule, sigma_data: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(c_skip, c_out, c_in), each (T,) float64, for x0 = c_skip x_t + c_out F(c_in x_t): Karras et al. (2022,
    eq. 7 and Table 1) written for the VP chain x_t = sqrt(ab) x0 + sqrt(1 - ab) n, with data of std sigma_data
    per coordinate. c_in x_t has unit variance, c_skip x_t is the best linear estimate of x0 and c_out the
    standard deviation of its error, so F = 0 is that estimate and F's target has unit scale at every t."""
    if not (sigma_data > 0 and math.isfinite(sigma_data)):
        raise ConfigError(f"ddgan.sigma_data must be a positive number to precondition G, got {sigma_data}")
    ab = np.asarray(schedule.alphas_cumprod, dtype=np.float64)
    var_t = ab * sigma_data**2 + (1.0 - ab)
    return np.sqrt(ab) * sigma_data**2 / var_t, sigma_data * np.sqrt(1.0 - ab) / np.sqrt(var_t), 1.0 / np.sqrt(var_t)
