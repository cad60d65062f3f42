"""Beta schedules and the float64 tables of the forward process (Ho et al. 2020, section 2).

Timesteps are 0-indexed: index t in {0, ..., T-1} is the paper's step t+1 in {1, ..., T}, so `betas[0]` is
the paper's beta_1 and `alphas_cumprod[T-1]` is alpha-bar_T. This is the convention of improved-diffusion and
diffusers. All tables are float64 numpy arrays (improved-diffusion keeps schedule math in float64 because
alpha-bar near t = T is tiny); `extract` hands one entry per batch row to torch in the input's dtype.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from genlab.errors import ConfigError, ModelInputError

ScheduleName = Literal["linear", "scaled_linear", "cosine", "sigmoid", "geodiff_sigmoid"]


def _check_T(T: int) -> None:
    if not isinstance(T, int) or T < 2:
        raise ConfigError(f"the number of diffusion steps T must be an integer >= 2, got {T!r}")


def betas_linear(T: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02) -> np.ndarray:
    """Linear betas from beta_start to beta_end (Ho et al. 2020, section 4): (T,) float64."""
    _check_T(T)
    return np.linspace(beta_start, beta_end, T, dtype=np.float64)


def betas_scaled_linear(T: int = 1000, beta_start: float = 0.00085, beta_end: float = 0.012) -> np.ndarray:
    """Betas linear in sqrt(beta), the latent-diffusion schedule (Rombach et al. 2022): (T,) float64."""
    _check_T(T)
    return np.linspace(math.sqrt(beta_start), math.sqrt(beta_end), T, dtype=np.float64) ** 2


def betas_from_alpha_bar(alpha_bar: Callable[[np.ndarray], np.ndarray], T: int, *,
                         max_beta: float = 0.999) -> np.ndarray:
    """Betas of a continuous alpha-bar(u), u in [0, 1]: beta_t = 1 - abar((t+1)/T) / abar(t/T), capped."""
    _check_T(T)
    u = np.arange(T + 1, dtype=np.float64) / T
    abar = alpha_bar(u)
    return np.minimum(1.0 - abar[1:] / abar[:-1], max_beta)


def alpha_bar_cosine(u: np.ndarray, *, s: float = 0.008) -> np.ndarray:
    """f(u) / f(0) with f(u) = cos^2((u + s) / (1 + s) * pi / 2) (Nichol & Dhariwal 2021, eq. 17)."""
    f = np.cos((u + s) / (1.0 + s) * (math.pi / 2)) ** 2
    return f / math.cos(s / (1.0 + s) * (math.pi / 2)) ** 2


def betas_cosine(T: int = 1000, s: float = 0.008, max_beta: float = 0.999) -> np.ndarray:
    """Cosine schedule: betas of alpha_bar_cosine, capped at max_beta (Nichol & Dhariwal 2021, eq. 17)."""
    return betas_from_alpha_bar(lambda u: alpha_bar_cosine(u, s=s), T, max_beta=max_beta)


def _sigmoid(z: np.ndarray | float) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(z, dtype=np.float64)))


def alpha_bar_sigmoid(u: np.ndarray, *, start: float = -3.0, end: float = 3.0, tau: float = 1.0,
                      clip_min: float = 1e-9) -> np.ndarray:
    """Sigmoid alpha-bar of Chen 2023 ("On the importance of noise scheduling", Alg. 1; Jabri et al. 2022).

    abar(u) = (sig(end/tau) - sig((start + u (end - start)) / tau)) / (sig(end/tau) - sig(start/tau)),
    which falls from 1 at u = 0 to 0 at u = 1, clipped below at clip_min.
    """
    lo, hi = _sigmoid(start / tau), _sigmoid(end / tau)
    abar = (hi - _sigmoid((start + u * (end - start)) / tau)) / (hi - lo)
    return np.clip(abar, clip_min, 1.0)


def betas_sigmoid(T: int = 1000, start: float = -3.0, end: float = 3.0, tau: float = 1.0, *,
                  max_beta: float = 0.999) -> np.ndarray:
    """Sigmoid schedule of Chen 2023 / Jabri et al. 2022: betas of alpha_bar_sigmoid, capped at max_beta.

    Not diffusers' "sigmoid", which is GeoDiff's (see betas_geodiff_sigmoid).
    """
    return betas_from_alpha_bar(lambda u: alpha_bar_sigmoid(u, start=start, end=end, tau=tau), T,
                                max_beta=max_beta)


def betas_geodiff_sigmoid(T: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02) -> np.ndarray:
    """GeoDiff's sigmoid betas (Xu et al. 2022): beta_start + (beta_end - beta_start) sig(linspace(-6, 6, T)).

    This is the schedule diffusers calls "sigmoid"; it shapes beta itself, not alpha-bar.
    """
    _check_T(T)
    return beta_start + (beta_end - beta_start) * _sigmoid(np.linspace(-6.0, 6.0, T, dtype=np.float64))


_BETAS: dict[str, Callable[..., np.ndarray]] = {
    "linear": betas_linear,
    "scaled_linear": betas_scaled_linear,
    "cosine": betas_cosine,
    "sigmoid": betas_sigmoid,
    "geodiff_sigmoid": betas_geodiff_sigmoid,
}


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a, dtype=np.float64)
    a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False)
class NoiseSchedule:
    """The float64 tables of q(x_t|x_{t-1}) = N(sqrt(1 - beta_t) x_{t-1}, beta_t I), all of shape (T,).

    posterior_* describe q(x_{t-1}|x_t, x_0) = N(coef1 x_0 + coef2 x_t, beta-tilde_t I) (Ho et al. eq. 6-7);
    beta-tilde_0 = 0, so its log is clipped to log beta-tilde_1 at t = 0 (as in improved-diffusion).
    """

    betas: np.ndarray
    alphas: np.ndarray
    alphas_cumprod: np.ndarray
    alphas_cumprod_prev: np.ndarray
    sqrt_alphas_cumprod: np.ndarray
    sqrt_one_minus_alphas_cumprod: np.ndarray
    posterior_variance: np.ndarray
    posterior_log_variance_clipped: np.ndarray
    posterior_mean_coef1: np.ndarray
    posterior_mean_coef2: np.ndarray

    @classmethod
    def from_betas(cls, betas: np.ndarray) -> NoiseSchedule:
        """Every table from a beta sequence in (0, 1]: (T,)."""
        betas = np.asarray(betas, dtype=np.float64)
        if betas.ndim != 1 or betas.size < 2 or not np.all((betas > 0) & (betas <= 1)):
            raise ConfigError(f"betas must be a 1-D sequence of >= 2 values in (0, 1], got shape {betas.shape}")
        alphas = 1.0 - betas
        abar = np.cumprod(alphas)
        abar_prev = np.append(1.0, abar[:-1])
        post_var = betas * (1.0 - abar_prev) / (1.0 - abar)
        return cls(
            betas=_frozen(betas),
            alphas=_frozen(alphas),
            alphas_cumprod=_frozen(abar),
            alphas_cumprod_prev=_frozen(abar_prev),
            sqrt_alphas_cumprod=_frozen(np.sqrt(abar)),
            sqrt_one_minus_alphas_cumprod=_frozen(np.sqrt(1.0 - abar)),
            posterior_variance=_frozen(post_var),
            posterior_log_variance_clipped=_frozen(np.log(np.append(post_var[1], post_var[1:]))),
            posterior_mean_coef1=_frozen(betas * np.sqrt(abar_prev) / (1.0 - abar)),
            posterior_mean_coef2=_frozen((1.0 - abar_prev) * np.sqrt(alphas) / (1.0 - abar)),
        )

    @classmethod
    def from_name(cls, name: ScheduleName, *, T: int = 1000, **options: float) -> NoiseSchedule:
        """A named schedule: "linear", "scaled_linear", "cosine", "sigmoid" (Chen 2023), "geodiff_sigmoid".

        `options` go to the betas_* function (e.g. beta_end=0.02, s=0.008, tau=0.5).
        """
        if name not in _BETAS:
            raise ConfigError(f"unknown noise schedule {name!r}; expected one of {', '.join(_BETAS)}")
        try:
            betas = _BETAS[name](T, **options)
        except TypeError as e:
            raise ConfigError(f"bad options {sorted(options)} for schedule {name!r}: {e}") from None
        return cls.from_betas(betas)

    @property
    def T(self) -> int:
        """Number of diffusion steps."""
        return int(self.betas.shape[0])

    def snr(self) -> np.ndarray:
        """Signal-to-noise ratio alpha-bar / (1 - alpha-bar) (Kingma et al. 2021, eq. 3): (T,)."""
        return self.alphas_cumprod / (1.0 - self.alphas_cumprod)


def extract(table: np.ndarray, t: Tensor, x: Tensor) -> Tensor:
    """table[t] as x's dtype/device, shaped (B, 1, ..., 1) to broadcast against x: (B, ...); t: (B,) long."""
    if t.ndim != 1 or t.shape[0] != x.shape[0]:
        raise ModelInputError(f"timesteps must have shape ({x.shape[0]},) to match x, got {tuple(t.shape)}")
    if t.numel() and (int(t.min()) < 0 or int(t.max()) >= table.shape[0]):
        raise ModelInputError(f"timesteps must lie in [0, {table.shape[0] - 1}], got {int(t.min())}..{int(t.max())}")
    values = torch.tensor(table, device=t.device)[t.long()]
    return values.to(dtype=x.dtype, device=x.device).reshape(t.shape[0], *([1] * (x.ndim - 1)))
