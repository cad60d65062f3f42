"""Deterministic samplers of the probability-flow ODE: Euler, Heun (EDM) and DPM-Solver++(2M), over a denoiser.

    sample_NAME(denoiser, x_T, timesteps, *, generator=None, callback=None) -> x_0

The ODE is solved in the variance-exploding variable of Karras et al. 2022 (EDM, sec. 2-3): with
x_t = alpha x0 + sigma_vp eps, y = x_t / alpha = x0 + sigma eps where sigma = sigma_vp / alpha =
sqrt((1 - abar) / abar), and the probability-flow ODE is dy/dsigma = (y - D(y; sigma)) / sigma with
D = E[x0 | x_t] the denoiser's x0 (Song et al. 2021b; Karras et al. eq. 3 with s = 1, sigma(t) = t).

Noise levels: the network only knows the schedule's T discrete steps, so the samplers step between the sigmas
*of the visited discrete timesteps* (genlab.diffusion.timesteps.ve_sigmas), and then to sigma = 0: the denoiser
is always asked at a sigma its time input means exactly. The Karras et al. rho = 7 spacing is the default
choice of those steps (`karras_timesteps`, "karras" spacing; diffusers' use_karras_sigmas picks the same steps
but keeps the unrounded sigmas); dpmpp_2m and unipc take DPM-Solver's "quadratic" one at few steps
(genlab.diffusion.samplers.FEW_STEPS). Every step to sigma = 0 returns the denoiser's last x0 (Euler's step there;
EDM's Heun takes an Euler step for its last step too; DPM-Solver++ drops to first order). Repeated timesteps
(a zero-length step) are skipped, so no step divides by zero; any other order than descending is an error.

Network calls with n timesteps: n for euler and dpmpp_2m, 2n - 1 for heun. No option clips x0: the ODE is
solved with the denoiser as it is (k-diffusion, EDM); the pipeline clamps the final sample of pixel runs.
euler is DDIM at eta = 0 (Song et al. 2021, sec. 4.3; Karras et al. sec. 3) written in y, so on the same
timesteps it returns what `sample_ddim(..., clip_x0=False)` returns, up to rounding.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from genlab.diffusion.denoiser import Denoiser
from genlab.diffusion.sampling import Callback, check_batch, visited_steps
from genlab.diffusion.timesteps import ve_sigmas


class VEDenoiser:
    """D(y; sigma_i) = E[x0 | x_t = alpha_i y] at the i-th visited step, and the levels (sigma_i, alpha_i)."""

    def __init__(self, denoiser: Denoiser, timesteps: Sequence[int] | Tensor) -> None:
        self.denoiser = denoiser
        self.steps = visited_steps(timesteps, denoiser.schedule.T, repeats=True)
        abar = denoiser.schedule.alphas_cumprod
        self.alpha = [float(abar[t]) ** 0.5 for t in self.steps]
        self.sigma = [float(s) for s in ve_sigmas(denoiser.schedule)[self.steps]] + [0.0]

    def __call__(self, y: Tensor, i: int) -> Tensor:
        return self.denoiser.x0(self.alpha[i] * y, self.steps[i])

    def x_t(self, y: Tensor, i: int) -> Tensor:
        """The state in the run's (variance-preserving) variable x_t = alpha_i y, for callbacks."""
        return self.alpha[i] * y


@torch.no_grad()
def sample_euler(denoiser: Denoiser, x: Tensor, timesteps: Sequence[int] | Tensor, *,
                 generator: torch.Generator | None = None, callback: Callback | None = None) -> Tensor:
    """Euler's method on the probability-flow ODE (Karras et al. 2022, sec. 3), first order; x: (B, ...) at
    timesteps[0]. One network call per step: y <- y + (sigma' - sigma) (y - D) / sigma."""
    check_batch(x)
    D = VEDenoiser(denoiser, timesteps)
    y = x / D.alpha[0]
    for i, t in enumerate(D.steps):
        x0 = D(y, i)
        if callback is not None:
            callback(i, t, D.x_t(y, i), x0)
        ratio = D.sigma[i + 1] / D.sigma[i]
        y = x0 + ratio * (y - x0)            # = y + (sigma' - sigma) (y - x0) / sigma; x0 itself at sigma' = 0
    return y


@torch.no_grad()
def sample_heun(denoiser: Denoiser, x: Tensor, timesteps: Sequence[int] | Tensor, *,
                generator: torch.Generator | None = None, callback: Callback | None = None) -> Tensor:
    """Heun's second-order method on the probability-flow ODE, Algorithm 1 of Karras et al. 2022 (deterministic,
    S_churn = 0); x: (B, ...) at timesteps[0]. Each step is an Euler step corrected by the slope at its end (the
    trapezoidal rule), two network calls; the last step, to sigma = 0, is a plain Euler step (one call)."""
    check_batch(x)
    D = VEDenoiser(denoiser, timesteps)
    y = x / D.alpha[0]
    for i, t in enumerate(D.steps):
        sigma, sigma_next = D.sigma[i], D.sigma[i + 1]
        x0 = D(y, i)
        if callback is not None:
            callback(i, t, D.x_t(y, i), x0)
        slope = (y - x0) / sigma
        y_euler = y + (sigma_next - sigma) * slope
        if sigma_next == 0.0:
            y = y_euler
            continue
        slope_next = (y_euler - D(y_euler, i + 1)) / sigma_next
        y = y + (sigma_next - sigma) * 0.5 * (slope + slope_next)
    return y


@torch.no_grad()
def sample_dpmpp_2m(denoiser: Denoiser, x: Tensor, timesteps: Sequence[int] | Tensor, *,
                    generator: torch.Generator | None = None, callback: Callback | None = None) -> Tensor:
    """DPM-Solver++(2M), Algorithm 2 of Lu et al. 2022 (arXiv:2211.01095): the multistep second-order solver of
    the data-prediction ODE in lambda = -log sigma; x: (B, ...) at timesteps[0].

    With h = lambda' - lambda (so e^-h = sigma' / sigma) and r = h_prev / h, each step is
        y' = (sigma' / sigma) y + (1 - sigma' / sigma) D,   D = (1 + 1/(2r)) x0 - 1/(2r) x0_prev,
    first order (D = x0, the Euler/DDIM step) at the first step, where there is no x0_prev, and at the last step
    to sigma = 0, which returns x0 (lower order at the final step). One network call per step.
    """
    check_batch(x)
    D = VEDenoiser(denoiser, timesteps)
    y = x / D.alpha[0]
    x0_prev: Tensor | None = None
    h_prev = 0.0
    for i, t in enumerate(D.steps):
        sigma, sigma_next = D.sigma[i], D.sigma[i + 1]
        x0 = D(y, i)
        if callback is not None:
            callback(i, t, D.x_t(y, i), x0)
        if sigma_next == 0.0:
            y = x0
            break
        h = math.log(sigma / sigma_next)
        d = x0
        if x0_prev is not None:
            c = h / (2.0 * h_prev)            # 1 / (2 r)
            d = (1.0 + c) * x0 - c * x0_prev
        ratio = sigma_next / sigma
        y = ratio * y + (1.0 - ratio) * d
        x0_prev, h_prev = x0, h
    return y
