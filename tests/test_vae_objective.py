"""VAE math against closed forms: KL, log-densities, reparameterised gradients, latent paths, active units."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import norm
from torch.distributions import Bernoulli, Normal, kl_divergence

from genlab.errors import ModelInputError
from genlab.vae.family import binarize_images
from genlab.vae.latent import attribute_vector, interpolate, manifold_grid, principal_axes, traversal
from genlab.vae.likelihood import ActiveUnits, active_units
from genlab.vae.networks import ConvDecoder, ConvEncoder
from genlab.vae.objective import (bernoulli_log_likelihood, beta_at, free_bits_kl, gaussian_log_likelihood,
                                  iwae_objective, kl_standard_normal, log_normal_diag, log_standard_normal,
                                  reparameterize)


def test_closed_form_kl_matches_torch_distributions():
    g = torch.Generator().manual_seed(0)
    mu = 2 * torch.randn(64, 7, generator=g, dtype=torch.float64)
    logvar = 3 * torch.randn(64, 7, generator=g, dtype=torch.float64)
    expected = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(-1)
    torch.testing.assert_close(kl_standard_normal(mu, logvar), expected, rtol=1e-12, atol=1e-12)
    assert kl_standard_normal(torch.zeros(3, 4), torch.zeros(3, 4)).abs().max() == 0   # q = p


def test_kl_gradients_are_the_analytic_ones():
    mu = torch.tensor([[0.3, -1.2, 2.0]], dtype=torch.float64, requires_grad=True)
    logvar = torch.tensor([[-0.5, 0.0, 1.5]], dtype=torch.float64, requires_grad=True)
    kl_standard_normal(mu, logvar).sum().backward()
    torch.testing.assert_close(mu.grad, mu.detach())                                   # d/dmu = mu
    torch.testing.assert_close(logvar.grad, 0.5 * (logvar.detach().exp() - 1))         # d/dlogvar = (s^2 - 1) / 2


def test_log_densities_match_torch_distributions():
    g = torch.Generator().manual_seed(1)
    z, mu = torch.randn(5, 3, generator=g, dtype=torch.float64), torch.randn(5, 3, generator=g, dtype=torch.float64)
    logvar = torch.randn(5, 3, generator=g, dtype=torch.float64)
    torch.testing.assert_close(log_normal_diag(z, mu, logvar), Normal(mu, (0.5 * logvar).exp()).log_prob(z).sum(-1))
    torch.testing.assert_close(log_standard_normal(z), Normal(0.0, 1.0).log_prob(z).sum(-1))
    logits = torch.randn(4, 1, 3, 3, generator=g, dtype=torch.float64)
    target = (torch.rand(4, 1, 3, 3, generator=g) < 0.5).double()
    torch.testing.assert_close(bernoulli_log_likelihood(logits, target),
                               Bernoulli(logits=logits).log_prob(target).flatten(1).sum(1))
    mean, x = torch.randn(4, 6, generator=g, dtype=torch.float64), torch.randn(4, 6, generator=g, dtype=torch.float64)
    torch.testing.assert_close(gaussian_log_likelihood(mean, x, c=0.3),
                               Normal(mean, math.sqrt(0.3)).log_prob(x).sum(-1))
    # K samples per item broadcast against one target per item
    stacked = torch.stack([mean, mean + 1])
    torch.testing.assert_close(gaussian_log_likelihood(stacked, x, c=0.3)[1],
                               Normal(mean + 1, math.sqrt(0.3)).log_prob(x).sum(-1))
    with pytest.raises(ModelInputError, match="c > 0"):
        gaussian_log_likelihood(mean, x, c=0.0)


def test_reparameterised_gradients_match_the_analytic_ones():
    # E_q[a z^2 + b z] = a (mu^2 + s^2) + b mu, so d/dmu = 2 a mu + b and d/dlogvar = a s^2.
    a, b = torch.tensor([1.5, -0.5, 2.0], dtype=torch.float64), torch.tensor([0.3, 1.0, -2.0], dtype=torch.float64)
    mu = torch.tensor([0.7, -1.1, 0.2], dtype=torch.float64, requires_grad=True)
    logvar = torch.tensor([-0.4, 0.3, -1.5], dtype=torch.float64, requires_grad=True)
    eps = torch.randn(400_000, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    z = reparameterize(mu, logvar, eps)
    (a * z.pow(2) + b * z).sum(-1).mean().backward()
    s2 = logvar.detach().exp()
    torch.testing.assert_close(mu.grad, 2 * a * mu.detach() + b, rtol=0, atol=0.02)
    torch.testing.assert_close(logvar.grad, a * s2, rtol=0, atol=0.02)


def test_reparameterisation_uses_the_standard_deviation():
    eps = torch.randn(200_000, 2, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    z = reparameterize(torch.tensor([1.0, -2.0], dtype=torch.float64),
                       torch.log(torch.tensor([4.0, 0.25])).double(), eps)
    torch.testing.assert_close(z.mean(0), torch.tensor([1.0, -2.0], dtype=torch.float64), rtol=0, atol=0.01)
    torch.testing.assert_close(z.std(0), torch.tensor([2.0, 0.5], dtype=torch.float64), rtol=0.01, atol=0)
    with pytest.raises(ModelInputError, match="latent shape"):
        reparameterize(torch.zeros(2, 3), torch.zeros(2, 3), torch.zeros(2, 4))


def test_kl_warmup_is_linear_then_flat():
    assert [beta_at(s, beta=2.0, warmup=4) for s in (0, 1, 2, 4, 9)] == [0.0, 0.5, 1.0, 2.0, 2.0]
    assert beta_at(0, beta=0.5, warmup=0) == 0.5


def test_binarisation_threshold_and_stochastic_rate():
    x = torch.tensor([[-1.0, -0.2, 0.0, 0.3, 1.0]])
    assert binarize_images(x, mode="threshold").tolist() == [[-1.0, -1.0, -1.0, 1.0, 1.0]]
    grey = torch.full((200_000, 1), -0.5)                         # pixel value 1/4 -> on with probability 1/4
    u = torch.rand(grey.shape, generator=torch.Generator().manual_seed(4))
    on = (binarize_images(grey, mode="stochastic", uniform=u) == 1).double().mean().item()
    assert on == pytest.approx(0.25, abs=0.005)
    assert binarize_images(x, mode="none") is x


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 8, 8), (1, 7, 9), (2, 5, 5)])
def test_conv_decoder_retraces_the_encoder_sizes(shape):
    enc = ConvEncoder(shape, channels=(8, 16, 16), out=6)
    dec = ConvDecoder(3, shape, channels=(8, 16, 16))
    x = torch.zeros(2, *shape)
    assert enc(x).shape == (2, 6)
    assert dec(torch.zeros(2, 3)).shape == (2, *shape)


def test_interpolation_paths():
    g = torch.Generator().manual_seed(5)
    z0, z1 = torch.randn(8, generator=g, dtype=torch.float64), torch.randn(8, generator=g, dtype=torch.float64)
    line = interpolate(z0, z1, steps=5)
    torch.testing.assert_close(line[2], (z0 + z1) / 2)
    z1 = z1 * z0.norm() / z1.norm()                                # equal norms: slerp stays on the sphere
    arc = interpolate(z0, z1, steps=7, method="slerp")
    torch.testing.assert_close(arc[0], z0)
    torch.testing.assert_close(arc[-1], z1)
    torch.testing.assert_close(arc.norm(dim=1), z0.norm().expand(7))
    cosines = (arc[:-1] * arc[1:]).sum(1) / z0.norm() ** 2      # equal angles between neighbours
    torch.testing.assert_close(cosines, cosines[0].expand(6))
    omega = torch.arccos(z0 @ z1 / z0.norm() ** 2)
    torch.testing.assert_close(torch.arccos(cosines[0]), omega / 6)
    with pytest.raises(ModelInputError, match="at least 2 steps"):
        interpolate(z0, z1, steps=1)


def test_traversal_sets_one_coordinate_per_row():
    z = torch.arange(4.0)
    out = traversal(z, dims=[1, 3], values=torch.tensor([-1.0, 0.5]))
    assert out.tolist() == [[[0, -1, 2, 3], [0, 0.5, 2, 3]], [[0, 1, 2, -1], [0, 1, 2, 0.5]]]
    with pytest.raises(ModelInputError, match="dimension 4 does not exist"):
        traversal(z, dims=[4], values=torch.zeros(2))


def test_manifold_grid_sits_on_prior_quantiles():
    grid = manifold_grid(5, quantile=0.1)
    axis = norm.ppf(np.linspace(0.1, 0.9, 5))
    assert grid.shape == (25, 2)
    np.testing.assert_allclose(grid[:5, 0].numpy(), axis, atol=1e-6)          # first row: z1 left to right
    np.testing.assert_allclose(grid[::5, 1].numpy(), axis[::-1], atol=1e-6)   # first column: z2 top to bottom
    assert grid[12].abs().max() < 1e-6                                          # the centre is the prior mean


def test_attribute_vector_is_the_difference_of_class_means():
    mu = torch.tensor([[1.0, 2.0], [3.0, 2.0], [0.0, 0.0], [0.0, 4.0], [3.0, 2.0]])
    y = torch.tensor([7, 7, 1, 1, 1])
    torch.testing.assert_close(attribute_vector(mu, y, 7), torch.tensor([2.0 - 1.0, 2.0 - 2.0]))
    with pytest.raises(ModelInputError, match="with and without"):
        attribute_vector(mu, y, 3)


def test_active_units_follow_burda_definition():
    g = torch.Generator().manual_seed(6)
    n = 4000
    mu = torch.stack([torch.randn(n, generator=g), 0.5 * torch.randn(n, generator=g),   # variances 1, 0.25: active
                      0.05 * torch.randn(n, generator=g),                                # 0.0025: inactive
                      torch.full((n,), 3.0)], dim=1)                                      # constant: collapsed
    count, variances = active_units(mu)
    assert count == 2
    np.testing.assert_allclose(variances.numpy(), np.var(mu.double().numpy(), axis=0, ddof=1), rtol=1e-9, atol=1e-12)
    streamed = ActiveUnits(4)
    for chunk in mu.split(333):
        streamed.update(chunk)
    torch.testing.assert_close(streamed.variances(), variances)


def test_principal_axes_keep_the_widest_direction():
    g = torch.Generator().manual_seed(7)
    mu = torch.randn(500, 3, generator=g) * torch.tensor([0.1, 5.0, 0.2])
    proj = principal_axes(mu)
    assert proj.shape == (500, 2)
    assert float(proj[:, 0].var()) == pytest.approx(float(mu[:, 1].var()), rel=0.01)


def test_iwae_objective_against_hand_numbers():
    log_px_z = torch.tensor([[0.0, -1e4], [math.log(3.0), -1e4 + math.log(3.0)]], dtype=torch.float64)
    prior_term = torch.tensor([[0.0, 0.0], [0.0, 0.0]], dtype=torch.float64)
    # log((1 + 3) / 2) = log 2, and the same far in the tail (a stable logsumexp, no underflow to -inf)
    torch.testing.assert_close(iwae_objective(log_px_z, prior_term),
                               torch.tensor([math.log(2.0), -1e4 + math.log(2.0)], dtype=torch.float64))
    # warm-up tempering: beta = 1/2 scales log p(z) - log q(z|x) inside each weight
    lp, pq = torch.tensor([[0.0], [math.log(3.0)]]), torch.tensor([[-2.0], [2.0]])
    expected = math.log((math.exp(-1.0) + 3 * math.exp(1.0)) / 2)
    assert iwae_objective(lp, pq, beta=0.5).item() == pytest.approx(expected, rel=1e-6)
    # k = 1: the one-sample ELBO estimate log p(x|z) + log p(z) - log q(z|x)
    assert iwae_objective(lp[:1], pq[:1]).item() == pytest.approx(-2.0)
    with pytest.raises(ModelInputError, match=r"two \(k, B\) tensors"):
        iwae_objective(lp, pq[:1])


def test_free_bits_against_hand_numbers():
    kl = torch.tensor([[0.1, 2.0, 0.0, 0.2], [0.3, 1.0, 0.4, 0.0]], requires_grad=True)  # batch means .2 1.5 .2 .1
    assert free_bits_kl(kl, 0.0).item() == pytest.approx(2.0)                # off: the mean KL summed
    assert free_bits_kl(kl, 0.5).item() == pytest.approx(0.5 + 1.5 + 0.5 + 0.5)
    assert free_bits_kl(kl, 0.5, group=2).item() == pytest.approx(1.7 + 0.5)  # groups (0.2 + 1.5), (0.2 + 0.1)
    free_bits_kl(kl, 0.5).backward()
    # groups under the floor get no gradient (collapse is not pushed further), the others 1 / batch
    torch.testing.assert_close(kl.grad, torch.tensor([[0.0, 0.5, 0.0, 0.0], [0.0, 0.5, 0.0, 0.0]]))
    with pytest.raises(ModelInputError, match="divisible by the group size 3"):
        free_bits_kl(kl, 0.5, group=3)
