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


def kl_standard_normal(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mu, diag e^logvar) || N(0, I)) = -1/2 sum_j (1 + logvar - mu^2 - e^logvar) (Kingma & Welling, App. B).

    mu, logvar: (B, d) -> (B,) nats.
    """
    if mu.shape != logvar.shape:
        raise ModelInputError(f"mu and logvar must share one shape, got {tuple(mu.shape)} and {tuple(logvar.shape)}")
    return -0.5 * (1.0 + logvar - mu.pow(2) - logvar.exp()).flatten(1).sum(1)


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
