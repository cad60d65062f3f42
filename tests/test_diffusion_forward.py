"""q(x_t|x_0), the posterior q(x_{t-1}|x_t,x_0) and the eps/x0/v/score conversions against closed forms."""
from __future__ import annotations

import math

import pytest
import torch

from genlab.diffusion import (NoiseSchedule, eps_from_score, eps_from_v, eps_from_x0, prediction_target,
                              q_posterior, q_sample, score_from_eps, split_prediction, to_x0_eps, v_from_x0_eps,
                              x0_from_eps, x0_from_v)
from genlab.errors import ConfigError

SCHEDULE = NoiseSchedule.from_name("cosine", T=1000)


@pytest.mark.parametrize("step", [0, 300, 999])
def test_q_sample_has_the_closed_form_mean_and_variance(step):
    g = torch.Generator().manual_seed(0)
    n, x0 = 200_000, torch.tensor([-0.8, 0.0, 0.6])
    x0s = x0.expand(n, 3).to(torch.float64)
    x_t = q_sample(SCHEDULE, x0s, torch.full((n,), step), torch.randn(n, 3, generator=g, dtype=torch.float64))
    abar = SCHEDULE.alphas_cumprod[step]
    mean, var = math.sqrt(abar) * x0.double(), 1.0 - abar
    se_mean, se_var = math.sqrt(var / n), var * math.sqrt(2.0 / n)
    assert torch.all((x_t.mean(0) - mean).abs() < 5 * se_mean)
    assert torch.all((x_t.var(0) - var).abs() < 5 * se_var)


def test_posterior_is_the_product_of_gaussians():
    # q(x_{t-1}|x_t,x_0) ∝ N(x_t; sqrt(alpha_t) x_{t-1}, beta_t) N(x_{t-1}; sqrt(abar_{t-1}) x_0, 1 - abar_{t-1})
    g = torch.Generator().manual_seed(1)
    steps = torch.tensor([1, 2, 50, 500, 998, 999])
    x0 = torch.randn(6, 5, generator=g, dtype=torch.float64)
    x_t = torch.randn(6, 5, generator=g, dtype=torch.float64)
    mean, var, log_var = q_posterior(SCHEDULE, x0, x_t, steps)
    for row, t in enumerate(steps.tolist()):
        beta, abar_prev = SCHEDULE.betas[t], SCHEDULE.alphas_cumprod[t - 1]
        precision = (1 - beta) / beta + 1 / (1 - abar_prev)
        m = (math.sqrt(1 - beta) / beta * x_t[row] + math.sqrt(abar_prev) / (1 - abar_prev) * x0[row]) / precision
        torch.testing.assert_close(mean[row], m, rtol=1e-9, atol=1e-12)
        assert var[row].item() == pytest.approx(1 / precision, rel=1e-9)
        assert log_var[row].item() == pytest.approx(-math.log(precision), rel=1e-9)


def test_posterior_at_the_first_step_returns_x0():
    x0, x_t = torch.randn(2, 3, dtype=torch.float64), torch.randn(2, 3, dtype=torch.float64)
    mean, var, _ = q_posterior(SCHEDULE, x0, x_t, torch.zeros(2, dtype=torch.long))
    torch.testing.assert_close(mean, x0)
    assert torch.all(var == 0)


def _alpha_sigma(step: int) -> tuple[float, float]:
    abar = SCHEDULE.alphas_cumprod[step]
    return math.sqrt(abar), math.sqrt(1 - abar)


@pytest.mark.parametrize("step", [0, 10, 500, 990])
def test_conversions_round_trip(step):
    a, s = _alpha_sigma(step)
    g = torch.Generator().manual_seed(step)
    x0, eps = torch.randn(4, 3, generator=g, dtype=torch.float64), torch.randn(4, 3, generator=g, dtype=torch.float64)
    x_t = a * x0 + s * eps
    torch.testing.assert_close(x0_from_eps(x_t, eps, alpha=a, sigma=s), x0, rtol=1e-7, atol=1e-7)
    torch.testing.assert_close(eps_from_x0(x_t, x0, alpha=a, sigma=s), eps, rtol=1e-7, atol=1e-7)
    v = v_from_x0_eps(x0, eps, alpha=a, sigma=s)
    torch.testing.assert_close(x0_from_v(x_t, v, alpha=a, sigma=s), x0)
    torch.testing.assert_close(eps_from_v(x_t, v, alpha=a, sigma=s), eps)
    torch.testing.assert_close(eps_from_score(score_from_eps(eps, sigma=s), sigma=s), eps)


def test_v_is_the_angular_velocity_of_x_t():
    # Salimans & Ho: with x_phi = cos(phi) x0 + sin(phi) eps, v = d x_phi / d phi
    a, s = _alpha_sigma(400)
    phi = math.atan2(s, a)
    x0, eps = torch.randn(3, 2, dtype=torch.float64), torch.randn(3, 2, dtype=torch.float64)
    h = 1e-6
    dx = ((math.cos(phi + h) - math.cos(phi - h)) * x0 + (math.sin(phi + h) - math.sin(phi - h)) * eps) / (2 * h)
    torch.testing.assert_close(v_from_x0_eps(x0, eps, alpha=a, sigma=s), dx, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("prediction", ["eps", "x0", "v"])
def test_split_inverts_the_target(prediction):
    t = torch.tensor([3, 700])
    x0, eps = torch.randn(2, 4, dtype=torch.float64), torch.randn(2, 4, dtype=torch.float64)
    a = torch.from_numpy(SCHEDULE.sqrt_alphas_cumprod[t.numpy()])[:, None]
    s = torch.from_numpy(SCHEDULE.sqrt_one_minus_alphas_cumprod[t.numpy()])[:, None]
    x_t = a * x0 + s * eps
    target = prediction_target(x0, eps, alpha=a, sigma=s, prediction=prediction)
    got_x0, got_eps = to_x0_eps(target, x_t, t, SCHEDULE, prediction=prediction)
    torch.testing.assert_close(got_x0, x0)
    torch.testing.assert_close(got_eps, eps)
    with pytest.raises(ConfigError, match="unknown prediction"):
        split_prediction(target, x_t, alpha=a, sigma=s, prediction="score")


def test_score_of_a_point_mass_is_tweedies():
    # data = delta(x0): q(x_t) = N(sqrt(abar) x0, 1 - abar); its score by autograd vs -eps / sqrt(1 - abar)
    step, x0 = 250, torch.tensor([0.3, -0.7], dtype=torch.float64)
    a, s = _alpha_sigma(step)
    x_t = torch.tensor([0.9, 0.1], dtype=torch.float64, requires_grad=True)
    torch.distributions.Normal(a * x0, s).log_prob(x_t).sum().backward()
    eps = (x_t.detach() - a * x0) / s  # the exact noise predictor for this data
    torch.testing.assert_close(score_from_eps(eps, sigma=s), x_t.grad)
