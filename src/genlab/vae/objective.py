"""VAE math on tensors (no weights, no I/O): the closed-form KL, the reparameterisation, log-densities, beta warm-up.

Kingma & Welling, "Auto-Encoding Variational Bayes" (ICLR 2014): q(z|x) = N(mu, diag sigma^2), p(z) = N(0, I).
The encoder outputs log sigma^2 ("logvar") because sigma^2 itself underflows (seed 002). Note that
z = mu + sigma * eps uses the standard deviation sigma = exp(logvar / 2), not sigma^2 (seed 000's slide writes
eps * sigma^2, seed 002's code exp(logvar) * eps: both are slips the derivation does not support).
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from genlab.errors import ModelInputError

LOG_2PI = math.log(2.0 * math.pi)


def kl_per_dim(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mu_j, e^logvar_j) || N(0, 1)) = -1/2 (1 + logvar - mu^2 - e^logvar) per dimension (Kingma & Welling,
    App. B): mu, logvar (B, ...) -> (B, d) nats, the latent flattened."""
    if mu.shape != logvar.shape:
        raise ModelInputError(f"mu and logvar must share one shape, got {tuple(mu.shape)} and {tuple(logvar.shape)}")
    return -0.5 * (1.0 + logvar - mu.pow(2) - logvar.exp()).flatten(1)


def kl_standard_normal(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mu, diag e^logvar) || N(0, I)) = -1/2 sum_j (1 + logvar - mu^2 - e^logvar) (Kingma & Welling, App. B).

    mu, logvar: (B, d) -> (B,) nats.
    """
    return kl_per_dim(mu, logvar).sum(1)


def free_bits_kl(kl_dims: Tensor, free_bits: float, *, group: int = 1) -> Tensor:
    """sum_g max(free_bits, E_batch[KL_g]) over groups g of `group` consecutive dimensions: the free-bits KL term
    of Kingma et al. (2016, eq. 15). kl_dims: (B, d) per-dimension KL -> scalar nats per item.

    A group whose batch-mean KL is below `free_bits` pays the constant instead, so the gradient stops pushing it
    onto the prior (against posterior collapse).
    """
    if kl_dims.ndim != 2 or kl_dims.shape[1] % group:
        raise ModelInputError(f"free bits need a per-dimension KL (B, d) with d divisible by the group size {group}, "
                              f"got {tuple(kl_dims.shape)}")
    per_group = kl_dims.mean(0).view(-1, group).sum(1)
    return per_group.clamp_min(free_bits).sum()


def iwae_objective(log_px_z: Tensor, log_pz_minus_log_qz: Tensor, *, beta: float = 1.0) -> Tensor:
    """L_k = logsumexp_i [log p(x|z_i) + beta (log p(z_i) - log q(z_i|x))] - log k per item (Burda et al. 2016,
    eq. 8; beta < 1 is the KL warm-up's tempering). Inputs (k, B) -> (B,) nats; k = 1, beta = 1 is the ELBO's
    one-sample estimate."""
    if log_px_z.shape != log_pz_minus_log_qz.shape or log_px_z.ndim != 2:
        raise ModelInputError(f"log-weights must be two (k, B) tensors, got {tuple(log_px_z.shape)} and "
                              f"{tuple(log_pz_minus_log_qz.shape)}")
    return torch.logsumexp(log_px_z + beta * log_pz_minus_log_qz, dim=0) - math.log(log_px_z.shape[0])


def reparameterize(mu: Tensor, logvar: Tensor, eps: Tensor) -> Tensor:
    """z = mu + sigma * eps with sigma = exp(logvar / 2) (Kingma & Welling, eq. 10): differentiable in mu, logvar.

    mu, logvar: (B, d); eps: (B, d) or (K, B, d) for K samples per item -> z of eps's shape.
    """
    if eps.shape[-mu.ndim:] != mu.shape:
        raise ModelInputError(f"noise of shape {tuple(eps.shape)} does not end in the latent shape {tuple(mu.shape)}")
    return mu + (0.5 * logvar).exp() * eps


def log_normal_diag(z: Tensor, mu: Tensor, logvar: Tensor) -> Tensor:
    """log N(z; mu, diag e^logvar) summed over the last dim: z (..., d), mu/logvar broadcastable -> (...)."""
    return -0.5 * (LOG_2PI + logvar + (z - mu).pow(2) * (-logvar).exp()).sum(-1)


def log_standard_normal(z: Tensor) -> Tensor:
    """log N(z; 0, I) summed over the last dim: z (..., d) -> (...)."""
    return -0.5 * (LOG_2PI + z.pow(2)).sum(-1)


def log_prior_over_posterior(z: Tensor, mu: Tensor, logvar: Tensor) -> Tensor:
    """log p(z) - log q(z|x) for p = N(0, I), q = N(mu, diag e^logvar) (Burda et al. 2016, eq. 8's weight without
    log p(x|z)): z (..., d), mu/logvar broadcastable -> (...)."""
    return log_standard_normal(z) - log_normal_diag(z, mu, logvar)


def _sum_item(values: Tensor, target: Tensor) -> Tensor:
    """Sum `values` (..., *item) over the item dims of a batch `target` (B, *item) -> (...)."""
    if target.ndim < 2:
        raise ModelInputError(f"expected a batch of items (B, ...), got shape {tuple(target.shape)}")
    return values.flatten(-(target.ndim - 1)).sum(-1)


def bernoulli_log_likelihood(logits: Tensor, target: Tensor) -> Tensor:
    """log p(x|z) = sum_i t_i log p_i + (1 - t_i) log(1 - p_i) with p = sigmoid(logits): minus the BCE (seed 002).

    logits: (B, *item) or (K, B, *item); target: (B, *item) in [0, 1] -> (B,) or (K, B) nats.
    """
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, target.expand_as(logits), reduction="none")
    return -_sum_item(bce, target)


def gaussian_log_likelihood(mean: Tensor, target: Tensor, *, c: float) -> Tensor:
    """log N(x; x~, c I) = -||x - x~||^2 / (2c) - D/2 log(2 pi c): seed 000's 1/2 ||x - x~||^2 / c plus its constant.

    mean: (B, *item) or (K, B, *item); target: (B, *item) -> (B,) or (K, B) nats.
    """
    if c <= 0:
        raise ModelInputError(f"the Gaussian likelihood needs a variance c > 0, got {c}")
    dims = target[0].numel()
    return -0.5 * _sum_item((target - mean).pow(2), target) / c - 0.5 * dims * math.log(2.0 * math.pi * c)


def beta_at(step: int | Tensor, *, beta: float, warmup: int) -> float:
    """KL weight beta * min(1, step / warmup): the KL warm-up of Bowman et al. (2016) and Sonderby et al. (2016)."""
    if warmup <= 0:
        return beta
    return beta * min(1.0, float(step) / warmup)
