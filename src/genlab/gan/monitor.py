"""Detection of a GAN run that has stopped learning: the discriminator winning outright, or its scores diverging.

When D separates real from generated data perfectly, the generator's gradient vanishes (saturating loss) or
explodes (log D trick) and training does not recover (Arjovsky & Bottou 2017, sec. 2.2). The loop already
stops on NaN; this catches the failure that precedes it, after `patience` consecutive D batches.
"""
from __future__ import annotations

import torch
from torch import Tensor

from genlab.errors import TrainingError

MAX_GAP = 1e3      # E D(x) - E D(G(z)) beyond this: scores diverging (shift-invariant, so fine for a WGAN critic)


def discriminator_wins(loss: str, real: Tensor, fake: Tensor) -> bool:
    """Whether D's scores on one batch separate real from fake with no slack left for G (loss-specific margin)."""
    if loss in ("minimax", "nonsaturating"):
        return bool(torch.sigmoid(real).mean() >= 0.99 and torch.sigmoid(fake).mean() <= 0.01)
    if loss == "lsgan":
        return bool((real - 1).pow(2).mean() <= 0.01 and fake.pow(2).mean() <= 0.01)
    if loss == "hinge":
        return bool(real.min() >= 1.0 and fake.max() <= -1.0)
    return False       # a WGAN critic has no "perfect" score; only its divergence is checked


class CollapseMonitor:
    """Counts consecutive D batches where D wins outright or diverges; raises TrainingError at `patience` (0: off)."""

    def __init__(self, *, loss: str, patience: int) -> None:
        self.loss = loss
        self.patience = patience
        self.streak = 0
        self.last_g_loss = float("nan")

    def observe_g(self, g_loss: float) -> None:
        self.last_g_loss = g_loss

    def observe_d(self, real: Tensor, fake: Tensor) -> None:
        """real, fake: D's scores (B,) on one batch of the D phase."""
        if self.patience <= 0:
            return
        real, fake = real.detach().float(), fake.detach().float()
        gap = float(real.mean() - fake.mean())
        diverged = gap > MAX_GAP
        if not (diverged or discriminator_wins(self.loss, real, fake)):
            self.streak = 0
            return
        self.streak += 1
        if self.streak < self.patience:
            return
        if diverged:
            what = f"the discriminator's scores diverged (E D(x) - E D(G(z)) = {gap:.3g} > {MAX_GAP:g})"
        elif self.loss in ("minimax", "nonsaturating"):
            what = (f"the discriminator won outright (D(x) = {float(torch.sigmoid(real).mean()):.4f}, "
                    f"D(G(z)) = {float(torch.sigmoid(fake).mean()):.4f})")
        else:
            what = (f"the discriminator won outright (mean score {float(real.mean()):.3g} on real data, "
                    f"{float(fake.mean()):.3g} on generated)")
        raise TrainingError(
            f"GAN collapse: {what} for {self.streak} consecutive D batches, generator loss "
            f"{self.last_g_loss:.4g}; the generator gets no useful gradient. Try gan.loss=nonsaturating or "
            f"wgan-gp, a lower gan.d_lr or fewer gan.d_steps (gan.collapse_patience=0 turns this check off)")
