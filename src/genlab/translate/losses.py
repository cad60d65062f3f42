"""The image-to-image objectives as functions of tensors: L1 reconstruction, cycle consistency, identity, and the
least-squares generator term CycleGAN uses; the discriminator terms are genlab.gan.losses'."""
from __future__ import annotations

from collections.abc import Callable

from torch import Tensor

from genlab.errors import ModelInputError

Generator = Callable[[Tensor], Tensor]


def l1(x: Tensor, target: Tensor) -> Tensor:
    """E |x - target| over every pixel: the L1 term of pix2pix (Isola et al. 2017, eq. 3); x, target: (B, C, H, W)."""
    if x.shape != target.shape:
        raise ModelInputError(f"L1 needs two images of one shape, got {tuple(x.shape)} and {tuple(target.shape)}")
    return (x - target).abs().mean()


def cycle_consistency(a: Tensor, b: Tensor, *, g_ab: Generator, g_ba: Generator) -> tuple[Tensor, Tensor, Tensor]:
    """(L_cyc, G_ab(a), G_ba(b)): L_cyc = E |G_ba(G_ab(a)) - a| + E |G_ab(G_ba(b)) - b| (Zhu et al. 2017, eq. 2);
    a: (B, C_a, H, W), b: (B, C_b, H, W); the translations are returned for the adversarial terms."""
    fake_b, fake_a = g_ab(a), g_ba(b)
    return l1(g_ba(fake_b), a) + l1(g_ab(fake_a), b), fake_b, fake_a


def identity_loss(a: Tensor, b: Tensor, *, g_ab: Generator, g_ba: Generator) -> Tensor:
    """E |G_ab(b) - b| + E |G_ba(a) - a|: each generator should leave its target domain alone (Zhu et al. 2017,
    sec. 5.2, after Taigman et al. 2017); needs C_a = C_b."""
    return l1(g_ab(b), b) + l1(g_ba(a), a)

