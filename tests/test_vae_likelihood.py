"""ELBO <= IWAE <= log p(x) on a linear-Gaussian VAE, whose marginal p(x) = N(b, W W^T + c I) is known exactly."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.distributions import MultivariateNormal, kl_divergence

from genlab.errors import ModelInputError
from genlab.vae.likelihood import chunked_bounds, elbo, iwae_bound, likelihood_bounds, log_weights
from genlab.vae.networks import VAE, GaussianLikelihood
from genlab.vae.objective import kl_standard_normal

D, d, C = 5, 3, 0.4


@pytest.fixture(autouse=True)
def float64():
    """Closed forms are compared in double precision; the default dtype is restored for other test modules."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def linear_gaussian(*, posterior_shift: float = 0.0, posterior_logvar_shift: float = 0.0):
    """p(z) = N(0, I), p(x|z) = N(W z + b, c I) with orthogonal columns of W, so the posterior is diagonal:
    q*(z|x) = N(S W^T (x - b) / c, S), S = (I + W^T W / c)^-1. The encoder is q* moved by the given shifts."""
    g = torch.Generator().manual_seed(0)
    q, _ = torch.linalg.qr(torch.randn(D, D, generator=g))
    W = q[:, :d] * torch.tensor([2.0, 1.0, 0.5])
    b = torch.randn(D, generator=g)
    S = torch.diag(1.0 / (1.0 + (W * W).sum(0) / C))
    enc, dec = nn.Linear(D, 2 * d), nn.Linear(d, D)
    with torch.no_grad():
        A = S @ W.T / C
        enc.weight.copy_(torch.cat([A, torch.zeros(d, D)]))
        enc.bias.copy_(torch.cat([-A @ b + posterior_shift, torch.log(torch.diagonal(S)) + posterior_logvar_shift]))
        dec.weight.copy_(W)
        dec.bias.copy_(b)
    vae = VAE(enc, dec, GaussianLikelihood(C), latent_dim=d, shape=(D,))
    marginal = MultivariateNormal(b, W @ W.T + C * torch.eye(D))
    return vae, marginal, W, b, S


def items(n: int, seed: int = 1) -> torch.Tensor:
    return 2.0 * torch.randn(n, D, generator=torch.Generator().manual_seed(seed))


def test_exact_posterior_makes_every_bound_equal_log_px():
    vae, marginal, *_ = linear_gaussian()
    x = items(6)
    log_px = marginal.log_prob(x)
    g = torch.Generator().manual_seed(2)
    log_w, _, _ = log_weights(vae, x, k=7, generator=g)
    torch.testing.assert_close(log_w, log_px.expand(7, 6))      # w = p(x, z) / p(z|x) = p(x) for every z
    torch.testing.assert_close(iwae_bound(vae, x, k=20, generator=g), log_px)
    # the ELBO's Monte-Carlo part still varies with z, so compare its mean over many draws
    torch.testing.assert_close(elbo(vae, x, samples=20_000, generator=g), log_px, rtol=0, atol=0.05)


def exact_elbo(vae: VAE, x: torch.Tensor, W: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """E_q log N(x; W z + b, cI) = -D/2 log 2 pi c - (|x - b - W mu|^2 + sum_j s_j^2 |W_j|^2) / 2c, minus the KL."""
    mu, logvar = vae.encode(x)
    expected_rec = -0.5 * D * math.log(2 * math.pi * C) - (
        (x - b - mu @ W.T).pow(2).sum(1) + (logvar.exp() * (W * W).sum(0)).sum(1)) / (2 * C)
    return expected_rec - 0.5 * (logvar.exp() + mu.pow(2) - 1 - logvar).sum(1)


def test_elbo_gap_is_the_kl_to_the_true_posterior():
    vae, marginal, W, b, S = linear_gaussian(posterior_shift=0.6, posterior_logvar_shift=0.8)
    x = items(4)
    mu, logvar = vae.encode(x)
    exact = exact_elbo(vae, x, W, b)
    _, log_px_z, kl = log_weights(vae, x, k=50_000, generator=torch.Generator().manual_seed(3))
    standard_error = log_px_z.std(0) / math.sqrt(50_000)
    assert ((log_px_z.mean(0) - kl - exact).abs() < 5 * standard_error).all()
    torch.testing.assert_close(elbo(vae, x, samples=50_000, generator=torch.Generator().manual_seed(3)),
                               log_px_z.mean(0) - kl)
    # log p(x) - ELBO = KL(q(z|x) || p(z|x)), both Gaussians with known parameters
    post_mean = (x - b) @ (S @ W.T / C).T
    gap = torch.stack([kl_divergence(MultivariateNormal(mu[i], torch.diag(logvar[i].exp())),
                                     MultivariateNormal(post_mean[i], S)) for i in range(len(x))])
    torch.testing.assert_close(marginal.log_prob(x) - exact, gap)
    assert (gap > 0.3).all()


def test_iwae_tightens_with_k_between_elbo_and_log_px():
    vae, marginal, W, b, _ = linear_gaussian(posterior_shift=0.6, posterior_logvar_shift=0.8)
    x = items(3)
    log_px, lower = marginal.log_prob(x), exact_elbo(vae, x, W, b)
    g = torch.Generator().manual_seed(4)
    reps = 4000                                      # expectations of the k-sample bounds over many repeats
    xr = x.repeat(reps, 1)
    bounds = {k: iwae_bound(vae, xr, k=k, generator=g).view(reps, 3) for k in (1, 5, 50)}
    means = {k: v.mean(0) for k, v in bounds.items()}
    se = {k: v.std(0) / math.sqrt(reps) for k, v in bounds.items()}
    assert ((means[1] - lower).abs() < 5 * se[1]).all()                  # L_1 is the ELBO
    assert (lower < means[5] - 5 * se[5]).all()
    assert (means[5] + 5 * se[5] < means[50] - 5 * se[50]).all()
    assert (means[50] + 5 * se[50] < log_px).all()


def test_bounds_refuse_bad_input():
    vae, *_ = linear_gaussian()
    with pytest.raises(ModelInputError, match=r"k must be >= 1"):
        iwae_bound(vae, items(2), k=0)
    with pytest.raises(ModelInputError, match=r"items of shape \(5,\)"):
        elbo(vae, torch.zeros(2, 4))
    with pytest.raises(ModelInputError, match=r"latents must have shape \(B, 3\)"):
        vae.decode(torch.zeros(2, 4))
    ae = VAE(nn.Linear(D, d), nn.Linear(d, D), GaussianLikelihood(C), latent_dim=d, shape=(D,), deterministic=True)
    with pytest.raises(ModelInputError, match="plain autoencoder has no q"):
        elbo(ae, items(2))


def test_chunked_bounds_are_one_logsumexp_over_all_draws():
    vae, *_ = linear_gaussian(posterior_shift=0.6, posterior_logvar_shift=0.8)
    x = items(4)
    iwae, recon, kl = chunked_bounds(vae, x, k=12, chunk=1, generator=torch.Generator().manual_seed(5))
    g = torch.Generator().manual_seed(5)                    # the same twelve draws, one (1, B, d) call each
    draws = [log_weights(vae, x, k=1, generator=g) for _ in range(12)]
    log_w, log_px_z = torch.cat([w for w, _, _ in draws]), torch.cat([p for _, p, _ in draws])
    torch.testing.assert_close(iwae, torch.logsumexp(log_w, 0) - math.log(12))
    torch.testing.assert_close(recon, log_px_z.mean(0))
    torch.testing.assert_close(kl, kl_standard_normal(*vae.encode(x)))
    exact_vae, marginal, *_ = linear_gaussian()
    torch.testing.assert_close(chunked_bounds(exact_vae, x, k=10, chunk=3)[0], marginal.log_prob(x))


def test_iwae_estimate_converges_to_log_px_as_k_grows():
    vae, marginal, W, b, _ = linear_gaussian(posterior_shift=0.6, posterior_logvar_shift=0.8)
    x = items(3)
    log_px, lower = marginal.log_prob(x), exact_elbo(vae, x, W, b)
    gap = log_px - chunked_bounds(vae, x, k=5000, chunk=1000, generator=torch.Generator().manual_seed(6))[0]
    gap10 = log_px - iwae_bound(vae, x.repeat(2000, 1), k=10, generator=torch.Generator().manual_seed(8)).view(
        2000, 3).mean(0)                                     # E[L_10], over 2,000 repeats
    assert ((log_px - lower) > 0.3).all()                    # the ELBO is far below log p(x),
    assert (gap10 > 0.1).all()                               # E[L_10] still clearly below it,
    assert (gap.abs() < 0.05).all()                          # one draw of L_5000 within 0.05 nats of it
    stats = likelihood_bounds(vae, x, k=5000, batch_size=2, max_rows=1000, generator=torch.Generator().manual_seed(7))
    assert stats["nll"] == pytest.approx(-log_px.mean().item(), abs=0.05)
    assert stats["elbo"] == pytest.approx(lower.mean().item(), abs=0.05)
