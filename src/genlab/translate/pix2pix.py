"""pix2pix as a family of the training loop: a conditional GAN on paired images, a discriminator phase on
(input, output) pairs then a generator phase with cGAN + lambda L1 (Isola et al. 2017, eq. 4).

With pix2pix.gan_weight = 0 there is no discriminator: the same U-Net trained by L1 alone, the baseline whose
blur the adversarial term is there to remove (Isola et al. 2017, sec. 4.2).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

import torch
from torch import Tensor, nn

from genlab.config import TrainConfig
from genlab.errors import ConfigError
from genlab.gan.losses import d_loss_bce, g_loss_nonsaturating
from genlab.training.objective import Batch, DataInfo, Phase
from genlab.translate.family import Direction, TranslationFamily
from genlab.translate.losses import l1
from genlab.translate.networks import PatchDiscriminator, UNetGenerator


@dataclass
class Pix2PixModelConfig:
    """The U-Net generator and the PatchGAN discriminator (sizes for 28x28 on a CPU; the paper's are 64 wide)."""

    channels: int = field(default=32, metadata={"ge": 1})   # the U-Net's first width (C_w, C_2w, C_4w, ...)
    depth: int = field(default=3, metadata={"ge": 1})       # stride-2 levels: 28 -> 14 -> 7 -> 3
    dropout: float = field(default=0.5, metadata={"ge": 0, "lt": 1})  # the decoder's first 3 layers, training only
    d_channels: int = field(default=32, metadata={"ge": 1})
    d_layers: int = field(default=1, metadata={"ge": 1})    # D's stride-2 convs: 1 -> 16x16 patches, 3 -> 70x70


@dataclass
class Pix2PixObjectiveConfig:
    """The objective G* = arg min_G max_D gan_weight L_cGAN(G, D) + l1_weight L_L1(G) and its optimiser."""

    l1_weight: float = field(default=100.0, metadata={"ge": 0})   # lambda (Isola et al. 2017, sec. 4.1)
    gan_weight: float = field(default=1.0, metadata={"ge": 0})    # 0: an L1-only U-Net, no discriminator
    lr: float = field(default=2e-4, metadata={"gt": 0})           # Adam, both phases (sec. 3.3)
    betas: tuple[float, float] = field(default=(0.5, 0.999), metadata={"ge": 0, "lt": 1})


@dataclass
class Pix2PixConfig:
    """The sections a pix2pix run adds to [data] and [train]."""

    model: Pix2PixModelConfig = field(default_factory=Pix2PixModelConfig)
    pix2pix: Pix2PixObjectiveConfig = field(default_factory=Pix2PixObjectiveConfig)


class Pix2PixFamily(TranslationFamily):
    """Paired image-to-image translation with a conditional GAN (Isola et al. 2017)."""

    name: ClassVar[str] = "pix2pix"
    Config: ClassVar[type] = Pix2PixConfig
    ema_modules: tuple[str, ...] = ("G",)

    def __init__(self, config: Pix2PixConfig, *, data: DataInfo, train: TrainConfig) -> None:
        super().__init__(data=data, train=train, lr_key="pix2pix.lr")
        if not data.paired:
            raise ConfigError("pix2pix learns from aligned pairs, but these two sides are unpaired (two sources "
                              "whose file names differ, or an unpaired task); use cyclegan for unpaired data")
        if config.pix2pix.l1_weight == 0 and config.pix2pix.gan_weight == 0:
            raise ConfigError("pix2pix.l1_weight and pix2pix.gan_weight are both 0: nothing to learn")
        self.config = config

    @property
    def adversarial(self) -> bool:
        """Whether there is a discriminator (gan_weight > 0)."""
        return self.config.pix2pix.gan_weight > 0

    def build_models(self) -> dict[str, nn.Module]:
        m = self.config.model
        G = UNetGenerator(in_channels=self.a_shape[0], out_channels=self.b_shape[0], size=self.a_shape[1],
                          channels=m.channels, depth=m.depth, dropout=m.dropout)
        if not self.adversarial:
            return {"G": G}
        D = PatchDiscriminator(in_channels=self.a_shape[0] + self.b_shape[0], channels=m.d_channels,
                               n_layers=m.d_layers)
        return {"G": G, "D": D}

    def phases(self) -> list[Phase]:
        p = self.config.pix2pix
        g = self.adam_phase("G", ("G",), lr=p.lr, betas=p.betas)
        return [self.adam_phase("D", ("D",), lr=p.lr, betas=p.betas), g] if self.adversarial else [g]

    def loss(self, phase: str, models: Mapping[str, nn.Module], batch: Batch) -> tuple[Tensor, dict[str, float]]:
        """D: 1/2 the cross-entropy of D(a, b) as real and D(a, G(a)) as fake (sec. 3.3); G: the log D trick on
        D(a, G(a)) (sec. 3.3) plus lambda E |b - G(a)| (eq. 3)."""
        a, b = self.sides(batch)
        G, p = models["G"], self.config.pix2pix
        if phase == "D":
            D = models["D"]
            with torch.no_grad():
                fake = G(a)
            real_score, fake_score = D(torch.cat([a, b], 1)), D(torch.cat([a, fake], 1))
            logs = {"D(a,b)": torch.sigmoid(real_score.detach().float()).mean().item(),
                    "D(a,G(a))": torch.sigmoid(fake_score.detach().float()).mean().item()}
            return 0.5 * d_loss_bce(real_score, fake_score), logs
        if phase != "G":
            raise ConfigError(f"the pix2pix family has phases 'D' and 'G', not {phase!r}")
        fake = G(a)
        rec = l1(fake, b)
        loss = p.l1_weight * rec
        logs = {"l1": rec.item()}
        if self.adversarial:
            adv = g_loss_nonsaturating(models["D"](torch.cat([a, fake], 1)))
            loss = loss + p.gan_weight * adv
            logs["gan"] = adv.item()
        return loss, logs

    def generator(self, models: Mapping[str, nn.Module], direction: Direction) -> nn.Module:
        return models["G"]
