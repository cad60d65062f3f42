"""Gaussian KL, the discretized decoder, and the variational bound in bits/dim against closed forms."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import norm

from genlab.diffusion import (Denoiser, NoiseSchedule, bits_per_dim, discretized_gaussian_log_likelihood, normal_kl,
                              prior_kl, vb_terms)
from genlab.errors import ConfigError

LINEAR = NoiseSchedule.from_name("linear", T=1000)
GRID = torch.linspace(-1, 1, 256, dtype=torch.float64)


def test_normal_kl_matches_torch_distributions():
    g = torch.Generator().manual_seed(0)
    m1, m2, lv1, lv2 = (torch.randn(50, generator=g, dtype=torch.float64) for _ in range(4))
    expected = torch.distributions.kl_divergence(torch.distributions.Normal(m1, (0.5 * lv1).exp()),
                                                 torch.distributions.Normal(m2, (0.5 * lv2).exp()))
    torch.testing.assert_close(normal_kl(m1, lv1, m2, lv2), expected)


@pytest.mark.parametrize("mean,std", [(0.0, 0.3), (0.97, 0.05), (-1.2, 0.5), (0.2, 1e-3), (0.5, 4.0)])
def test_discretized_likelihood_sums_to_one_over_the_bins(mean, std):
    logp = discretized_gaussian_log_likelihood(GRID, mean=torch.tensor(mean, dtype=torch.float64),
                                               log_var=torch.tensor(2 * math.log(std), dtype=torch.float64))
    assert logp.exp().sum().item() == pytest.approx(1.0, abs=1e-9)


def test_discretized_likelihood_is_the_bin_mass():
    mean, std, h = 0.1, 0.2, 1 / 255
    logp = discretized_gaussian_log_likelihood(GRID, mean=torch.tensor(mean, dtype=torch.float64),
                                               log_var=torch.tensor(2 * math.log(std), dtype=torch.float64)).numpy()
    x = GRID.numpy()
    inner = norm.cdf((x + h - mean) / std) - norm.cdf((x - h - mean) / std)
    np.testing.assert_allclose(np.exp(logp[1:-1]), inner[1:-1], rtol=1e-6, atol=1e-12)
    assert logp[0] == pytest.approx(norm.logcdf((-1 + h - mean) / std), rel=1e-9)
    assert logp[-1] == pytest.approx(norm.logsf((1 - h - mean) / std), rel=1e-9)


def test_prior_term_vanishes_for_linear_T_1000():
    x0 = torch.tensor([[-1.0, 0.0, 1.0]], dtype=torch.float64)
    abar = LINEAR.alphas_cumprod[-1]
    per_dim = 0.5 * (abar * x0.numpy() ** 2 + (1 - abar) - 1 - np.log(1 - abar))
    assert prior_kl(LINEAR, x0).item() == pytest.approx(per_dim.sum(), rel=1e-9)
    assert prior_kl(LINEAR, x0).item() / (3 * math.log(2)) < 1e-4


def _point_mass_denoiser(schedule: NoiseSchedule, x0: torch.Tensor):
    """The exact eps-predictor when the data is the single point x0: eps = (x_t - sqrt(abar) x0) / sqrt(1 - abar)."""
    def model_fn(x_t, t):
        a = torch.tensor(schedule.sqrt_alphas_cumprod)[t][:, None]
        s = torch.tensor(schedule.sqrt_one_minus_alphas_cumprod)[t][:, None]
        return (x_t - a * x0) / s
    return model_fn


X0 = torch.tensor([[-1.0, -0.2, 0.2 + 2 / 255, 1.0]], dtype=torch.float64)  # four values on the 256-level grid


def _decoder_nll_of_x0() -> float:
    """-log p(X0|x_1) in nats when p = N(X0, beta-tilde_1): end bins reach to infinity, inner bins have width 2h."""
    sigma, h = math.sqrt(LINEAR.posterior_variance[1]), 1 / 255
    end, inner = norm.cdf(h / sigma), 2 * norm.cdf(h / sigma) - 1
    return -2 * math.log(end) - 2 * math.log(inner)


def test_bound_of_the_exact_denoiser_is_its_decoder_plus_prior():
    # With beta-tilde variance the exact denoiser's reverse step is the true posterior, so every KL term is 0,
    # and the decoder N(x0, beta-tilde_1) puts mass 2 Phi(h / sigma) - 1 on an inner bin (the end bins get more).
    bound = bits_per_dim(Denoiser(_point_mass_denoiser(LINEAR, X0), LINEAR), X0,
                         generator=torch.Generator().manual_seed(0))
    assert torch.all(bound.terms[:, 1:].abs() < 1e-9)
    to_bits = 1 / (4 * math.log(2))
    assert bound.decoder.item() == pytest.approx(_decoder_nll_of_x0() * to_bits, rel=1e-6)
    assert bound.prior.item() == pytest.approx(prior_kl(LINEAR, X0).item() * to_bits, rel=1e-12)
    assert bound.total.item() == pytest.approx(bound.decoder.item() + bound.prior.item(), rel=1e-9)
    assert math.isfinite(bound.total.item()) and bound.prior.item() < 1e-4


def test_beta_variance_terms_are_the_variance_mismatch_kl():
    schedule = NoiseSchedule.from_name("cosine", T=50)
    bound = bits_per_dim(Denoiser(_point_mass_denoiser(schedule, X0), schedule), X0, variance="beta",
                         generator=torch.Generator().manual_seed(0))
    b, bt = schedule.betas[1:], schedule.posterior_variance[1:]
    kl_bits = 4 * 0.5 * (np.log(b / bt) + bt / b - 1) / (4 * math.log(2))
    np.testing.assert_allclose(bound.terms[0, 1:].numpy(), kl_bits, rtol=1e-6)
    assert bound.total.item() == pytest.approx(bound.prior.item() + bound.decoder.item() + kl_bits.sum(), rel=1e-9)


def test_subset_estimate_is_unbiased():
    schedule = NoiseSchedule.from_name("cosine", T=50)
    model = Denoiser(_point_mass_denoiser(schedule, X0), schedule)
    full = bits_per_dim(model, X0, variance="beta").total.item()
    g = torch.Generator().manual_seed(3)
    assert bits_per_dim(model, X0, variance="beta", num_terms=49, generator=g).total.item() == \
        pytest.approx(full, rel=1e-9)
    estimates = np.array([bits_per_dim(model, X0, variance="beta", num_terms=5, generator=g).total.item()
                          for _ in range(300)])
    assert abs(estimates.mean() - full) < 4 * estimates.std() / math.sqrt(len(estimates))
    assert estimates.std() > 0
    with pytest.raises(ConfigError, match="num_terms"):
        bits_per_dim(model, X0, num_terms=50)


def test_vb_terms_use_the_decoder_at_t0_and_the_kl_elsewhere():
    x0 = X0.expand(2, 4)
    model = Denoiser(_point_mass_denoiser(LINEAR, x0), LINEAR)
    t = torch.tensor([0, 7])
    x_t = x0 + 0.01
    got = vb_terms(model, x0, x_t, t)
    assert got[1].abs().item() < 1e-9  # exact posterior, zero KL
    assert got[0].item() == pytest.approx(_decoder_nll_of_x0(), rel=1e-6)  # the mean at t = 0 is x0 whatever x_t
    with pytest.raises(ConfigError, match="variance"):
        vb_terms(model, x0, x_t, t, variance="learned")
