"""UniPC (Zhao et al. 2023, arXiv:2302.04867), the unified predictor-corrector sampler: UniPC-2, B(h) = e^h - 1.

    sample_unipc(denoiser, x_T, timesteps, *, generator=None, callback=None) -> x_0

Same setting as genlab.diffusion.ode_samplers: the probability-flow ODE in the variance-exploding variable
y = x_t / alpha = x0 + sigma eps, in data prediction (the denoiser's x0: the paper's data-prediction form,
diffusers' predict_x0=True), stepping between the sigmas of the visited discrete timesteps and then to sigma = 0.
With lambda = -log sigma, h = lambda' - lambda (e^-h = sigma' / sigma) and x0_k the denoiser's x0 at the k-th
visited step, every step is the exponential-integrator step plus B(h)-weighted differences of x0:

  UniP-p (predictor), p = 2:  y' = e^-h y + (1 - e^-h) (x0_i + 1/2 D_i),  D_i = (h / h_prev) (x0_i - x0_{i-1})
  UniC-p (corrector), after the network call at y' (x0_{i+1} = D(y')), recomputes the same step with it:
                              y'_c = e^-h y + (1 - e^-h) (x0_i + rho_1 D_i + rho_t (x0_{i+1} - x0_i))

where (rho_1, rho_t) solve the paper's order conditions R rho = b with r_1 = -h_prev / h, R = [[1, 1], [r_1, 1]]
and b_k = k! g phi_{k+1}(g) / B(g) at g = -h (`unic_weights`; as in the reference code and diffusers'
UniPCMultistepScheduler); at p = 1 the predictor is the DDIM/Euler step and UniC-1 takes
rho_t = 1/2 (the reference code's simplification, the trapezoidal rule in lambda). The predictor of order 2
uses rho = 1/2 (again the reference simplification); with B(h) = e^h - 1 ("bh2") it is then exactly
DPM-Solver++(2M), so unipc is dpmpp_2m with the UniC corrector, which raises the order by one (UniC-p makes
UniP-p of order p + 1, the paper's main result; diffusers: "effective order of accuracy is solver_order + 1").

Variant: "bh2", B(h) = e^h - 1, the default of diffusers' UniPCMultistepScheduler (solver_type="bh2",
predict_x0=True, solver_order=2, lower_order_final=True); diffusers' documentation recommends "bh1"
(B(h) = h) only for unconditional sampling under 10 steps. B(h) changes the weights of the x0 differences, not
the order.

Orders, as diffusers and the reference code (lower_order_final): the first step is first order (no history),
the last step, to sigma = 0, is first order and returns the denoiser's last x0, every other step is UniP-2; the
corrector after step i has the order of step i's predictor. The corrector reuses the network call at the
predicted point as the next step's x0, so the network is called once per visited step (NFE = steps). The state
at the last visited step is not corrected: the final step to sigma = 0 weights it by sigma' / sigma = 0
(diffusers computes that correction and multiplies it by 0). Repeated timesteps are skipped; `callback` sees
each step's index, timestep, the (predicted) state the network was called at and its x0.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from genlab.diffusion.denoiser import Denoiser
from genlab.diffusion.ode_samplers import VEDenoiser
from genlab.diffusion.sampling import Callback, check_batch


def unic_weights(h: float, h_prev: float | None) -> tuple[float, float]:
    """(rho_1, rho_t) of the UniC corrector with B(h) = e^h - 1 for a step of length h in lambda (> 0), after a
    step of length h_prev; h_prev None: UniC-1, (0, 1/2). They solve rho_1 + rho_t = b_1, r_1 rho_1 + rho_t =
    b_2 with r_1 = -h_prev / h and b_k = k! g phi_{k+1}(g) / B(g) at g = -h, where phi_1(g) = (e^g - 1) / g and
    phi_{k+1}(g) = (phi_k(g) - 1 / k!) / g (Zhao et al. 2023; Hochbruck & Ostermann's phi functions)."""
    if h_prev is None:
        return 0.0, 0.5
    g = -h                                    # data prediction integrates in -lambda
    b_of_g = math.expm1(g)                    # B = e^g - 1 ("bh2")
    g_phi_2 = math.expm1(g) / g - 1.0         # g phi_2(g) -> g / 2
    g_phi_3 = g_phi_2 / g - 0.5               # g phi_3(g) -> g / 6
    b1, b2 = g_phi_2 / b_of_g, 2.0 * g_phi_3 / b_of_g   # -> 1/2 and 1/3 as h -> 0
    r1 = -h_prev / h
    rho_1 = (b1 - b2) / (1.0 - r1)
    return rho_1, b1 - rho_1


def _step(y: Tensor, x0: Tensor, diff: Tensor | None, ratio: float, rho: float) -> Tensor:
    """e^-h y + (1 - e^-h) (x0 + rho diff): the exponential-integrator step with a B(h) = e^h - 1 correction."""
    d = x0 if diff is None else x0 + rho * diff
    return ratio * y + (1.0 - ratio) * d


@torch.no_grad()
def sample_unipc(denoiser: Denoiser, x: Tensor, timesteps: Sequence[int] | Tensor, *,
                 generator: torch.Generator | None = None, callback: Callback | None = None) -> Tensor:
    """UniPC-2 with the "bh2" B(h) = e^h - 1 (Zhao et al. 2023; diffusers' UniPCMultistepScheduler defaults) in
    data prediction on the probability-flow ODE; x: (B, ...) at timesteps[0]. One network call per step: the
    call at each predicted state gives the UniC correction of the step just taken and the next step's x0."""
    check_batch(x)
    D = VEDenoiser(denoiser, timesteps)
    y = x / D.alpha[0]
    y_start = y                                   # the (corrected) state the last predictor step started from
    x0s: list[Tensor] = []                        # the denoiser's x0 at each visited step, at the predicted state
    hs: list[float] = []                          # the lambda-lengths of the steps taken
    for i, t in enumerate(D.steps):
        x0 = D(y, i)
        if callback is not None:
            callback(i, t, D.x_t(y, i), x0)
        sigma_next = D.sigma[i + 1]
        if sigma_next == 0.0:                     # first order to sigma = 0: the last x0
            y = x0
            break
        if i > 0:                                 # UniC of the step i-1 -> i, at the order of its predictor
            h_prev = hs[-2] if i > 1 else None
            rho_1, rho_t = unic_weights(hs[-1], h_prev)
            diff = rho_t * (x0 - x0s[-1])
            if h_prev is not None:
                diff = diff + rho_1 * (hs[-1] / h_prev) * (x0s[-1] - x0s[-2])
            y = _step(y_start, x0s[-1], diff, D.sigma[i] / D.sigma[i - 1], 1.0)
        h = math.log(D.sigma[i] / sigma_next)
        diff_p = (h / hs[-1]) * (x0 - x0s[-1]) if x0s else None     # UniP-2 after the first step, else UniP-1
        y_start = y
        y = _step(y, x0, diff_p, sigma_next / D.sigma[i], 0.5)
        x0s, hs = [*x0s[-1:], x0], [*hs[-1:], h]   # UniPC-2 needs the last two
    return y
