"""The denoiser: a network wrapped once with its schedule, parameterisation and precision (EDM's preconditioner idea).

Karras et al. 2022 (sec. 5, Table 1) wrap a raw network F into a denoiser D(x; sigma) so that samplers never see
how F was trained; k-diffusion does the same with its eps/v wrappers. Here the wrapped function answers x0, eps,
v and the score for (x_t, t) in the notation of genlab.diffusion.parametrization (x_t = alpha x0 + sigma eps):
every sampler, the variational bound and the training loss ask it, and `prediction` is resolved here only.
A conditional network is wrapped together with its condition and guidance scale (genlab.diffusion.guidance), so
a guided denoiser is just another denoiser.
"""
from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor

from genlab.diffusion.parametrization import (SPLITTERS, Coef, ModelFn, Prediction, check_prediction, coefficients,
                                              prediction_target, score_from_eps, v_from_x0_eps)
from genlab.diffusion.schedules import NoiseSchedule
from genlab.errors import ModelInputError

Precision = Literal["fp32", "bf16"]


class Denoiser:
    """D(x_t, t) -> x0 / eps / v / score of a network `net(x_t, t)` whose raw output is in `prediction` form.

    x_t: (B, ...); t: an int (one visited step, coefficients as Python floats, as samplers use them) or a (B,)
    long tensor (coefficients from the schedule's float64 tables per row, as the loss and the bound use them).
    `precision="bf16"` runs the network under bfloat16 autocast and returns float32 outputs. `guidance` records
    the classifier-free guidance scale already folded into `net` (None: an unconditional or unguided network).
    """

    def __init__(self, net: ModelFn, schedule: NoiseSchedule, *, prediction: Prediction = "eps",
                 precision: Precision = "fp32", device: torch.device | None = None,
                 guidance: float | None = None) -> None:
        check_prediction(prediction)
        if precision not in ("fp32", "bf16"):
            raise ModelInputError(f"denoiser precision must be 'fp32' or 'bf16', got {precision!r}")
        self.net, self.schedule, self.prediction, self.precision = net, schedule, prediction, precision
        self.device, self.guidance = device, guidance
        self._split = SPLITTERS[prediction]

    def __call__(self, x_t: Tensor, t: Tensor) -> Tensor:
        """The network's raw output (B, ...) in the `prediction` parameterisation, checked to have x_t's shape."""
        if self.precision == "bf16":
            device = self.device or x_t.device
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16):
                out = self.net(x_t, t).float()
        else:
            out = self.net(x_t, t)
        if out.shape != x_t.shape:
            raise ModelInputError(f"the network returned shape {tuple(out.shape)}, expected {tuple(x_t.shape)}")
        return out

    def coefficients(self, t: int | Tensor, x_t: Tensor) -> tuple[Coef, Coef]:
        """(alpha, sigma) at t: Python floats for an int step, (B, 1, ..., 1) float64-table values for a tensor."""
        if isinstance(t, Tensor):
            return coefficients(self.schedule, t, x_t)
        abar = float(self.schedule.alphas_cumprod[t])
        return math.sqrt(abar), math.sqrt(1.0 - abar)

    def split(self, output: Tensor, x_t: Tensor, *, alpha: Coef, sigma: Coef) -> tuple[Tensor, Tensor]:
        """(x0, eps) implied by a raw network output
        (VDM notation; Ho et al. 2020 eq. 15, Salimans & Ho 2022 app. D)."""
        return self._split(output, x_t, alpha, sigma)

    def x0_eps(self, x_t: Tensor, t: int | Tensor) -> tuple[Tensor, Tensor]:
        """(x0, eps) predicted for x_t at t, each (B, ...): one network call."""
        steps = t if isinstance(t, Tensor) else torch.full((x_t.shape[0],), t, dtype=torch.long, device=x_t.device)
        alpha, sigma = self.coefficients(t, x_t)
        return self.split(self(x_t, steps), x_t, alpha=alpha, sigma=sigma)

    def x0(self, x_t: Tensor, t: int | Tensor) -> Tensor:
        """E[x0 | x_t] (B, ...)."""
        return self.x0_eps(x_t, t)[0]

    def eps(self, x_t: Tensor, t: int | Tensor) -> Tensor:
        """E[eps | x_t] (B, ...)."""
        return self.x0_eps(x_t, t)[1]

    def v(self, x_t: Tensor, t: int | Tensor) -> Tensor:
        """v = alpha eps - sigma x0 (Salimans & Ho 2022, sec. 4): (B, ...)."""
        x0, eps = self.x0_eps(x_t, t)
        alpha, sigma = self.coefficients(t, x_t)
        return v_from_x0_eps(x0, eps, alpha=alpha, sigma=sigma)

    def score(self, x_t: Tensor, t: int | Tensor) -> Tensor:
        """grad log q(x_t) = -eps / sigma (Tweedie's formula): (B, ...)."""
        _, sigma = self.coefficients(t, x_t)
        return score_from_eps(self.eps(x_t, t), sigma=sigma)

    def target(self, x0: Tensor, eps: Tensor, t: Tensor) -> Tensor:
        """What the network should output for x_t = alpha x0 + sigma eps at t: (B,) long (Algorithm 1's target)."""
        alpha, sigma = coefficients(self.schedule, t, x0)
        return prediction_target(x0, eps, alpha=alpha, sigma=sigma, prediction=self.prediction)

    def with_net(self, net: ModelFn) -> Denoiser:
        """The same schedule, parameterisation and precision around another network function."""
        return Denoiser(net, self.schedule, prediction=self.prediction, precision=self.precision, device=self.device,
                        guidance=self.guidance)

