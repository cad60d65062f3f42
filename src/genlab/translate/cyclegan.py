"""CycleGAN as a family of the training loop: two generators and two PatchGAN discriminators trained on unpaired
images with least-squares adversarial terms, cycle consistency and an identity term (Zhu et al. 2017, eq. 3).

Phases: D (both discriminators, shown generated images through the 50-image pools), then G (both generators).
The paper's linear decay of the learning rate over the second half is train.lr_schedule = "linear-half".
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

import torch
from torch import Tensor, nn

from genlab.config import TrainConfig
from genlab.errors import ConfigError
from genlab.gan.losses import d_loss_lsgan, g_loss_lsgan
from genlab.training.objective import Batch, DataInfo, Phase
from genlab.translate.family import Direction, TranslationFamily
from genlab.translate.losses import cycle_consistency, identity_loss
from genlab.translate.networks import PatchDiscriminator, ResnetGenerator
from genlab.translate.pool import ImagePool


@dataclass
class CycleGANModelConfig:
    """The ResNet generators and PatchGAN discriminators (sizes for 28x28 on a CPU; the paper's are 64 wide)."""

    channels: int = field(default=16, metadata={"ge": 1})   # generator width w: c7s1-w, d2w, d4w, R4w, u2w, uw
    blocks: int = field(default=6, metadata={"ge": 0})      # residual blocks at 1/4 resolution (the paper: 6 or 9)
    d_channels: int = field(default=32, metadata={"ge": 1})
    d_layers: int = field(default=1, metadata={"ge": 1})    # D's stride-2 convs: 1 -> 16x16 patches, 3 -> 70x70


@dataclass
class CycleGANObjectiveConfig:
    """The weights of eq. 3 and the identity term, the image pool and the optimiser."""

    cycle_weight: float = field(default=10.0, metadata={"ge": 0})   # lambda (sec. 7.1)
    identity: float = field(default=0.5, metadata={"ge": 0})        # identity weight / lambda (sec. 7.1; 0: off)
    pool_size: int = field(default=50, metadata={"ge": 0})          # generated images D sees again (0: none)
    lr: float = field(default=2e-4, metadata={"gt": 0})             # Adam, both phases (sec. 7.1)
    betas: tuple[float, float] = field(default=(0.5, 0.999), metadata={"ge": 0, "lt": 1})


@dataclass
class CycleGANConfig:
    """The sections a cyclegan run adds to [data] and [train]."""

    model: CycleGANModelConfig = field(default_factory=CycleGANModelConfig)
    cyclegan: CycleGANObjectiveConfig = field(default_factory=CycleGANObjectiveConfig)


class CycleGANFamily(TranslationFamily):
    """Unpaired image-to-image translation by cycle-consistent adversarial networks (Zhu et al. 2017)."""

    name: ClassVar[str] = "cyclegan"
    Config: ClassVar[type] = CycleGANConfig
    ema_modules: tuple[str, ...] = ("G_ab", "G_ba")
    directions = ("a2b", "b2a")

    def __init__(self, config: CycleGANConfig, *, data: DataInfo, train: TrainConfig) -> None:
        super().__init__(data=data, train=train, lr_key="cyclegan.lr")
        if self.a_shape[1] % 4 or self.a_shape[2] % 4:
            raise ConfigError(f"the ResNet generators need sides divisible by 4, the images are "
                              f"{self.a_shape[1]}x{self.a_shape[2]}: set data.image_size")
        if config.cyclegan.identity > 0 and self.a_shape[0] != self.b_shape[0]:
            raise ConfigError(f"the identity term feeds each generator its own target domain, so both sides need "
                              f"one channel count (a: {self.a_shape[0]}, b: {self.b_shape[0]}): set "
                              "cyclegan.identity=0 or data.channels")
        self.config = config

    def build_models(self) -> dict[str, nn.Module]:
        m, c = self.config.model, self.config.cyclegan
        ca, cb = self.a_shape[0], self.b_shape[0]
        return {"G_ab": ResnetGenerator(in_channels=ca, out_channels=cb, channels=m.channels, blocks=m.blocks),
                "G_ba": ResnetGenerator(in_channels=cb, out_channels=ca, channels=m.channels, blocks=m.blocks),
                "D_a": PatchDiscriminator(in_channels=ca, channels=m.d_channels, n_layers=m.d_layers),
                "D_b": PatchDiscriminator(in_channels=cb, channels=m.d_channels, n_layers=m.d_layers),
                "pool_a": ImagePool(size=c.pool_size, shape=self.a_shape),
                "pool_b": ImagePool(size=c.pool_size, shape=self.b_shape)}

    def phases(self) -> list[Phase]:
        c = self.config.cyclegan
        return [self.adam_phase("D", ("D_a", "D_b"), lr=c.lr, betas=c.betas),
                self.adam_phase("G", ("G_ab", "G_ba"), lr=c.lr, betas=c.betas)]

    def loss(self, phase: str, models: Mapping[str, nn.Module], batch: Batch) -> tuple[Tensor, dict[str, float]]:
        """D: least squares on real vs pooled generated images, halved, for D_a and D_b (sec. 4, 7.1); G: eq. 3,
        the least-squares terms plus lambda L_cyc, plus identity x lambda x L_identity (sec. 5.2)."""
        a, b = self.sides(batch)
        g_ab, g_ba, d_a, d_b = models["G_ab"], models["G_ba"], models["D_a"], models["D_b"]
        if phase == "D":
            pool_a, pool_b = models["pool_a"], models["pool_b"]
            assert isinstance(pool_a, ImagePool) and isinstance(pool_b, ImagePool)
            with torch.no_grad():
                fake_b, fake_a = pool_b.query(g_ab(a), batch.rng), pool_a.query(g_ba(b), batch.rng)
            loss_a, loss_b = d_loss_lsgan(d_a(a), d_a(fake_a)), d_loss_lsgan(d_b(b), d_b(fake_b))
            return loss_a + loss_b, {"D_a": loss_a.item(), "D_b": loss_b.item()}
        if phase != "G":
            raise ConfigError(f"the cyclegan family has phases 'D' and 'G', not {phase!r}")
        c = self.config.cyclegan
        cyc, fake_b, fake_a = cycle_consistency(a, b, g_ab=g_ab, g_ba=g_ba)
        # E (D(G(x)) - 1)^2 per direction (Zhu et al. 2017, sec. 4): twice Mao et al.'s 1/2-weighted G term
        adv = 2.0 * g_loss_lsgan(d_b(fake_b)) + 2.0 * g_loss_lsgan(d_a(fake_a))
        loss = adv + c.cycle_weight * cyc
        logs = {"gan": adv.item(), "cycle": cyc.item()}
        if c.identity > 0:
            idt = identity_loss(a, b, g_ab=g_ab, g_ba=g_ba)
            loss = loss + c.identity * c.cycle_weight * idt
            logs["identity"] = idt.item()
        return loss, logs

    def generator(self, models: Mapping[str, nn.Module], direction: Direction) -> nn.Module:
        return models["G_ab"] if direction == "a2b" else models["G_ba"]
