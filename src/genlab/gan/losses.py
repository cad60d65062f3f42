"""GAN objectives as small functions of discriminator outputs, plus the gradient penalties.

The discriminator returns a raw score per item (B,): a logit for the cross-entropy losses, where the notes'
sigmoid output is D(x) = sigmoid(score), and an unbounded critic value for WGAN-GP, LSGAN and hinge. Every
function returns a scalar to *minimise*: the discriminator's ascent of the notes becomes descent of its
negative. softplus(s) = -log(1 - sigmoid(s)) and softplus(-s) = -log sigmoid(s) keep the logs finite.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Literal, NamedTuple

import torch
from torch import Tensor
from torch.nn import functional as F

from genlab.errors import ModelInputError

LossName = Literal["minimax", "nonsaturating", "wgan-gp", "lsgan", "hinge"]


def d_loss_bce(real: Tensor, fake: Tensor) -> Tensor:
    """-E log D(x) - E log(1 - D(G(z))): the minimax discriminator loss (Goodfellow et al. 2014, eq. 1)."""
    return F.softplus(-real).mean() + F.softplus(fake).mean()


def g_loss_saturating(fake: Tensor) -> Tensor:
    """E log(1 - D(G(z))): the generator's side of the minimax game, flat where D rejects G (Goodfellow 2014, eq. 1)."""
    return -F.softplus(fake).mean()


def g_loss_nonsaturating(fake: Tensor) -> Tensor:
    """-E log D(G(z)): the "log D trick" with strong gradients early on (Goodfellow et al. 2014, sec. 3)."""
    return F.softplus(-fake).mean()


def d_loss_wasserstein(real: Tensor, fake: Tensor) -> Tensor:
    """E C(G(z)) - E C(x): the negated Wasserstein-1 estimate of a critic C (Arjovsky et al. 2017, eq. 3)."""
    return fake.mean() - real.mean()


def g_loss_wasserstein(fake: Tensor) -> Tensor:
    """-E C(G(z)) (Arjovsky et al. 2017, Algorithm 1)."""
    return -fake.mean()


def d_loss_lsgan(real: Tensor, fake: Tensor) -> Tensor:
    """1/2 E (D(x) - 1)^2 + 1/2 E D(G(z))^2: least squares with targets b = 1, a = 0 (Mao et al. 2017, eq. 2)."""
    return 0.5 * (real - 1.0).pow(2).mean() + 0.5 * fake.pow(2).mean()


def g_loss_lsgan(fake: Tensor) -> Tensor:
    """1/2 E (D(G(z)) - 1)^2: least squares with target c = 1 (Mao et al. 2017, eq. 2)."""
    return 0.5 * (fake - 1.0).pow(2).mean()


def d_loss_hinge(real: Tensor, fake: Tensor) -> Tensor:
    """E max(0, 1 - D(x)) + E max(0, 1 + D(G(z))) (Lim & Ye 2017; Miyato et al. 2018, eq. 16)."""
    return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()


def g_loss_hinge(fake: Tensor) -> Tensor:
    """-E D(G(z)) (Miyato et al. 2018, eq. 17)."""
    return -fake.mean()


def _input_gradient(critic: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """d sum_i C(x_i) / d x, kept in the graph so a penalty on it can be back-propagated: (B, ...) -> (B, ...)."""
    x = x.detach().requires_grad_(True)
    out = critic(x)
    (grad,) = torch.autograd.grad(out.sum(), x, create_graph=True)
    return grad


def gradient_penalty(critic: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor, eps: Tensor) -> Tensor:
    """E (||grad C(x_hat)||_2 - 1)^2 at x_hat = eps x + (1 - eps) G(z) (Gulrajani et al. 2017, eq. 3).

    real, fake: (B, ...); eps: uniform [0, 1) weights broadcastable to them, e.g. (B, 1, 1, 1) or (B, 1).
    """
    if real.shape != fake.shape:
        raise ModelInputError(f"gradient penalty needs real and fake of one shape, got {tuple(real.shape)} "
                              f"and {tuple(fake.shape)}")
    x_hat = eps * real.detach() + (1.0 - eps) * fake.detach()
    grad = _input_gradient(critic, x_hat)
    norm = grad.flatten(1).norm(dim=1)
    return (norm - 1.0).pow(2).mean()


def r1_penalty(critic: Callable[[Tensor], Tensor], real: Tensor) -> Tensor:
    """E ||grad D(x)||^2 on real data; the loss adds gamma / 2 times it (Mescheder et al. 2018, eq. 9)."""
    grad = _input_gradient(critic, real)
    return grad.flatten(1).pow(2).sum(dim=1).mean()


class GANLoss(NamedTuple):
    """A named objective: the discriminator's and the generator's losses, and whether D scores are logits."""

    d: Callable[[Tensor, Tensor], Tensor]
    g: Callable[[Tensor], Tensor]
    logits: bool                   # scores are log-odds: D(x) = sigmoid(score)
    gradient_penalty: bool = False


LOSSES: dict[str, GANLoss] = {
    "minimax": GANLoss(d_loss_bce, g_loss_saturating, logits=True),
    "nonsaturating": GANLoss(d_loss_bce, g_loss_nonsaturating, logits=True),
    "wgan-gp": GANLoss(d_loss_wasserstein, g_loss_wasserstein, logits=False, gradient_penalty=True),
    "lsgan": GANLoss(d_loss_lsgan, g_loss_lsgan, logits=False),
    "hinge": GANLoss(d_loss_hinge, g_loss_hinge, logits=False),
}


def get_loss(name: str) -> GANLoss:
    """The objective registered under `name` (see LOSSES)."""
    if name not in LOSSES:
        raise ModelInputError(f"unknown GAN loss {name!r}; expected one of: {', '.join(LOSSES)}")
    return LOSSES[name]
