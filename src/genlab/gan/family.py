"""GANs as a family of the training loop: a discriminator phase run k times, then a generator phase.

This is Goodfellow et al. (2014), Algorithm 1, with one optimiser per phase (separate learning rates: the
two time-scale update rule of Heusel et al. 2017), an EMA of the generator for sampling, and the objective
chosen by name (genlab.gan.losses). Networks: the notes' MLP pair, or DCGAN (Radford et al. 2016). Tools
against mode collapse: PacGAN packing (gan.pack), spectral normalisation and the minibatch std feature in D,
InfoGAN's categorical code (gan.info_codes).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from genlab.config import TrainConfig
from genlab.errors import ConfigError, ModelInputError
from genlab.gan.losses import LossName, get_loss, gradient_penalty, r1_penalty
from genlab.gan.monitor import CollapseMonitor
from genlab.gan.minibatch_std import with_minibatch_std
from genlab.gan.networks import (Condition, DCGANDiscriminator, DCGANGenerator, GNorm, MLPDiscriminator,
                                 MLPGenerator, dcgan_levels)
from genlab.gan.packing import check_pack, pack, packed_shape
from genlab.gan.spectral import apply_spectral_norm
from genlab.labels import class_labels
from genlab.training.objective import Batch, DataInfo, Phase

NOTES_MLP = (128,)              # the notes' 784-128-1 / 100-128-784 pair
TOY_MLP = (256, 256, 256)       # an MLP pair for 2-D toy data


@dataclass
class GANModelConfig:
    """The two networks."""

    arch: Literal["auto", "dcgan", "mlp"] = "auto"     # auto: dcgan for images, mlp for vectors
    latent_dim: int = field(default=100, metadata={"ge": 1})
    # MLP widths; None: (128,) for images, (256,)*3 for vectors
    hidden: tuple[int, ...] | None = field(default=None, metadata={"ge": 1})
    d_hidden: tuple[int, ...] | None = field(default=None, metadata={"ge": 1})  # D's MLP widths; None: `hidden`
    channels: int = field(default=64, metadata={"ge": 1})  # DCGAN base width (G's last, D's first conv)
    # class labels: D by concat, projection (Miyato & Koyama 2018) or an auxiliary classifier (acgan, Odena 2017)
    condition: Condition = "none"
    g_norm: GNorm = "batch"      # DCGAN G: batch norm (labels concatenated to z) or cbn (per-class gain and bias)
    # DCGAN D's norm; auto: none with spectral norm, layer norm for wgan-gp, else batchnorm
    d_norm: Literal["auto", "batch", "layer", "none"] = "auto"
    d_slope: float = field(default=0.2, metadata={"ge": 0})  # D's LeakyReLU slope (0: the notes' ReLU)
    d_spectral_norm: bool = False      # W / sigma(W) in D's linear and conv layers (Miyato et al. 2018)
    d_minibatch_std: bool = False      # the batch-std feature before D's last layer (Karras et al. 2018)
    # MLP inputs through Fourier features [x, sin(2 pi x B), cos(2 pi x B)], B ~ N(0, scale^2) (Tancik et al. 2020;
    # 0: off): D's on the (packed) data, G's on z; lets toy MLPs draw and tell modes much narrower than their spacing
    d_fourier: float = field(default=0.0, metadata={"ge": 0})
    g_fourier: float = field(default=0.0, metadata={"ge": 0})
    # D's Fourier features on each packed sample by itself, one B for all m (False: B mixes the m samples' coordinates)
    d_fourier_per_sample: bool = False
    g_skip: float = field(default=0.0, metadata={"ge": 0})  # MLP G(z) = net(z) + g_skip z: starts as N(0, g_skip^2 I)


@dataclass
class GANObjectiveConfig:
    """The game: objective, k, learning rates (TTUR), penalties, collapse detection."""

    loss: LossName = "nonsaturating"
    d_steps: int = field(default=1, metadata={"ge": 1})  # k discriminator steps per generator step
    g_lr: float = field(default=2e-4, metadata={"ge": 0})
    d_lr: float = field(default=2e-4, metadata={"gt": 0})
    # Adam betas of both phases (Radford et al. 2016)
    betas: tuple[float, float] = field(default=(0.5, 0.999), metadata={"ge": 0, "lt": 1})
    gp_weight: float = field(default=10.0, metadata={"ge": 0})  # lambda of WGAN-GP (Gulrajani et al. 2017)
    # gamma of the R1 penalty on real data (Mescheder et al. 2018; 0: off). None: 1 for DCGAN on images with any
    # loss but wgan-gp (the MNIST recipe of docs/gan.md: FD 91 -> 50 at 5 CPU-minutes), else 0
    r1: float | None = field(default=None, metadata={"ge": 0})
    # weight of AC-GAN's class cross-entropy, added to both players' losses (model.condition = "acgan")
    ac_weight: float = field(default=1.0, metadata={"ge": 0})
    # D's class loss also on generated images, as Odena et al. 2017 (False: on real images only, so G cannot
    # agree with D on a label code of its own: it must draw what a classifier of real digits recognises)
    ac_fake_in_d: bool = False
    pack: int = field(default=1, metadata={"ge": 1})  # PacGAN: samples of one source per D input (1..4)
    # InfoGAN (Chen et al. 2016): K categories of a uniform code c fed to G beside z, recovered by a head Q on D's
    # features (0: off); c is unsupervised, so it needs no labels and the GAN stays unconditional
    info_codes: int = field(default=0, metadata={"ge": 0})
    info_weight: float = field(default=1.0, metadata={"ge": 0})  # lambda of the mutual-information term (eq. 5)
    # consecutive D batches of D winning before stopping (0: off)
    collapse_patience: int = field(default=200, metadata={"ge": 0})


def default_r1(arch: str, loss: str) -> float:
    """gan.r1 = None: gamma 1 for a DCGAN with a loss that has no gradient penalty of its own (Mescheder et al. 2018,
    eq. 9), else 0: the MLPs of the toy protocol are measured without it and WGAN-GP has its own penalty."""
    return 1.0 if arch == "dcgan" and loss != "wgan-gp" else 0.0


@dataclass
class GANConfig:
    """The sections a GAN run adds to [data] and [train]."""

    model: GANModelConfig = field(default_factory=GANModelConfig)
    gan: GANObjectiveConfig = field(default_factory=GANObjectiveConfig)


class GANFamily:
    """Generative adversarial networks (Goodfellow et al. 2014) on images or vectors, optionally class-conditional."""

    name: ClassVar[str] = "gan"
    Config: ClassVar[type] = GANConfig
    ema_modules: tuple[str, ...] = ("G",)
    sample_options: ClassVar[frozenset[str]] = frozenset({"label", "z"})
    has_likelihood: ClassVar[bool] = False
    can_sample: ClassVar[bool] = True

    def __init__(self, config: GANConfig, *, data: DataInfo, train: TrainConfig) -> None:
        self.config, self.data, self.train = config, data, train
        m, g = config.model, config.gan
        self.objective = get_loss(g.loss)
        if train.lr != TrainConfig.lr:
            raise ConfigError(f"train.lr = {train.lr} is not used by GANs: set gan.g_lr and gan.d_lr (one per phase)")
        if g.d_steps < 1 or m.latent_dim < 1 or m.channels < 1:
            raise ConfigError(f"gan.d_steps, model.latent_dim and model.channels must be >= 1, got "
                              f"{g.d_steps}, {m.latent_dim}, {m.channels}")
        if g.g_lr < 0 or g.d_lr <= 0 or g.gp_weight < 0 or (g.r1 or 0) < 0 or g.ac_weight < 0 or g.info_weight < 0:
            raise ConfigError("gan.d_lr must be > 0 and gan.g_lr, gan.gp_weight, gan.r1, gan.ac_weight, "
                              "gan.info_weight >= 0")
        if g.info_codes == 1 or (g.info_codes and (m.condition != "none" or g.pack > 1)):
            raise ConfigError(f"gan.info_codes = {g.info_codes}: InfoGAN's code needs 2 or more categories (0: off), "
                              f"model.condition = 'none' and gan.pack = 1, got condition {m.condition!r}, "
                              f"pack {g.pack}")
        self.codes: int | None = g.info_codes or None     # InfoGAN's K
        check_pack(g.pack)
        if g.pack > 1 and m.condition != "none":
            raise ConfigError(f"gan.pack = {g.pack} packs unlabelled samples; set model.condition = 'none' or "
                              "gan.pack = 1")
        micro = train.batch_size // train.grad_accum              # what one micro-batch packs (one process)
        if micro % g.pack:
            raise ConfigError(f"gan.pack = {g.pack} needs train.batch_size / train.grad_accum divisible by it, got "
                              f"{train.batch_size} / {train.grad_accum} = {micro}")
        self.arch = m.arch if m.arch != "auto" else ("dcgan" if data.kind == "image" else "mlp")
        self.r1 = default_r1(self.arch, g.loss) if g.r1 is None else g.r1
        if self.arch == "dcgan":
            if data.kind != "image" or len(data.shape) != 3:
                raise ConfigError(f"model.arch = 'dcgan' needs images, the data are {data.kind}s of shape {data.shape}")
            dcgan_levels(data.shape[1])
        if self.arch == "dcgan" and (m.d_fourier or m.g_fourier or m.g_skip):
            raise ConfigError(f"model.d_fourier = {m.d_fourier}, model.g_fourier = {m.g_fourier} and model.g_skip = "
                              f"{m.g_skip} apply to MLP networks only: set them to 0 or model.arch = 'mlp'")
        if m.d_fourier_per_sample and not m.d_fourier:
            raise ConfigError("model.d_fourier_per_sample = true maps D's Fourier features per packed sample; it needs "
                              "model.d_fourier > 0 (the scale of B), got 0")
        self.num_classes: int | None = None
        if m.condition != "none":
            if not data.num_classes:
                raise ConfigError(f"model.condition = {m.condition!r} needs labelled data; this dataset has no labels")
            self.num_classes = data.num_classes
        if m.g_norm == "cbn" and (m.condition == "none" or self.arch != "dcgan"):
            raise ConfigError("model.g_norm = 'cbn' (conditional batch norm) needs model.arch = 'dcgan' and a "
                              f"model.condition (concat, projection or acgan), got arch {self.arch!r}, "
                              f"condition {m.condition!r}")
        self.monitor = CollapseMonitor(loss=g.loss, patience=g.collapse_patience)

    @property
    def conditional(self) -> bool:
        return self.num_classes is not None

    def build_models(self) -> dict[str, nn.Module]:
        m, info = self.config.model, self.data
        d_norm = m.d_norm if m.d_norm != "auto" else (
            "none" if m.d_spectral_norm else "layer" if self.objective.gradient_penalty else "batch")
        d_shape = packed_shape(info.shape, self.config.gan.pack)      # D sees m packed samples
        # an InfoGAN G takes the one-hot code as a conditional G its label, and Q is the AC-GAN head of D
        g_classes, condition = (self.codes, "acgan") if self.codes else (self.num_classes, m.condition)
        if self.arch == "dcgan":
            shape = (info.shape[0], info.shape[1], info.shape[2])
            G: nn.Module = DCGANGenerator(latent_dim=m.latent_dim, shape=shape, channels=m.channels,
                                          num_classes=g_classes, norm=m.g_norm)
            D: nn.Module = DCGANDiscriminator(shape=(d_shape[0], d_shape[1], d_shape[2]), channels=m.channels,
                                              num_classes=g_classes, condition=condition, norm=d_norm,
                                              slope=m.d_slope)
        else:
            hidden = m.hidden if m.hidden is not None else (NOTES_MLP if info.kind == "image" else TOY_MLP)
            d_hidden = m.d_hidden if m.d_hidden is not None else hidden
            if not hidden or min(hidden) < 1 or not d_hidden or min(d_hidden) < 1:
                raise ConfigError(f"model.hidden and model.d_hidden must list positive widths, got {list(hidden)} "
                                  f"and {list(d_hidden)}")
            G = MLPGenerator(latent_dim=m.latent_dim, shape=info.shape, hidden=hidden, num_classes=g_classes,
                             tanh=info.kind == "image", fourier=m.g_fourier, skip=m.g_skip)
            D = MLPDiscriminator(shape=d_shape, hidden=d_hidden, num_classes=g_classes, condition=condition,
                                 slope=m.d_slope, fourier=m.d_fourier,
                                 fourier_groups=self.config.gan.pack if m.d_fourier_per_sample else 0)
        if m.d_minibatch_std:          # both discriminators end in a `score` layer after their `features`
            D.add_module("score", with_minibatch_std(D.get_submodule("score")))
        if m.d_spectral_norm:
            apply_spectral_norm(D)
        return {"G": G, "D": D}

    def warm_start(self, models: Mapping[str, nn.Module]) -> None:
        """Nothing: a GAN starts from the seeded initialisation."""

    def phases(self) -> list[Phase]:
        g, tc = self.config.gan, self.train
        clip = tc.grad_clip or None
        return [Phase("D", ("D",), lr=g.d_lr, betas=g.betas, weight_decay=tc.weight_decay, repeats=g.d_steps,
                      grad_clip=clip),
                Phase("G", ("G",), lr=g.g_lr, betas=g.betas, weight_decay=tc.weight_decay, grad_clip=clip)]

    def loss(self, phase: str, models: Mapping[str, nn.Module], batch: Batch) -> tuple[Tensor, dict[str, float]]:
        """The D loss on a real batch and G(z) (G frozen), or the G loss through a frozen D; z from batch.rng."""
        G, D = models["G"], models["D"]
        g = self.config.gan
        y = batch.y if self.conditional else None
        z = batch.rng.randn(self.config.model.latent_dim).to(batch.x.dtype)
        code = batch.rng.randint(self.codes) if self.codes else None     # InfoGAN's c ~ Cat(K), drawn after z
        acgan = self.config.model.condition == "acgan"
        head_weight = g.info_weight if code is not None else g.ac_weight
        if phase == "G":
            fake_score, fake_ce = self._scores(D, pack(G(z, y if code is None else code), g.pack), y,
                                               y if acgan else code)
            loss = self.objective.g(fake_score)
            self.monitor.observe_g(loss.item())
            if fake_ce is None:
                return loss, {}
            return loss + head_weight * fake_ce, {"info_G" if code is not None else "ac_G": fake_ce.item()}
        if phase != "D":
            raise ConfigError(f"the gan family has phases 'D' and 'G', not {phase!r}")
        with torch.no_grad():
            fake = pack(G(z, y if code is None else code), g.pack)
        real = pack(batch.x, g.pack)      # real and generated samples are packed apart: no input mixes them
        (real_score, real_ce), (fake_score, fake_ce) = (self._scores(D, real, y, y if acgan else None),
                                                        self._scores(D, fake, y, y if acgan else code))
        loss = self.objective.d(real_score, fake_score)
        logs = self._score_logs(real_score, fake_score)
        if real_ce is not None and fake_ce is not None:
            loss = loss + g.ac_weight * (real_ce + fake_ce if g.ac_fake_in_d else real_ce)
            logs.update(ac_real=real_ce.item(), ac_fake=fake_ce.item())
        elif fake_ce is not None:           # InfoGAN: Q learns the code of generated samples only (eq. 5)
            loss = loss + g.info_weight * fake_ce
            logs["info_D"] = fake_ce.item()
        if self.objective.gradient_penalty:   # one eps per packed input: x_hat on the segment real pack - fake pack
            eps = batch.rng.rand(*([1] * (batch.x.ndim - 1))).to(batch.x.dtype)[::g.pack]
            gp = gradient_penalty(lambda v: D(v, y), real, fake, eps)
            loss = loss + g.gp_weight * gp
            logs["gp"] = gp.item()
        if self.r1 > 0:
            r1 = r1_penalty(lambda v: D(v, y), real)
            loss = loss + 0.5 * self.r1 * r1
            logs["r1"] = r1.item()
        self.monitor.observe_d(real_score, fake_score)
        logs["collapse_streak"] = float(self.monitor.streak)    # consecutive D batches won outright (gan.monitor)
        return loss, logs

    def _scores(self, D: nn.Module, x: Tensor, y: Tensor | None,
                target: Tensor | None) -> tuple[Tensor, Tensor | None]:
        """D's scores (B,) of x and the cross-entropy of its class head against `target` (B,): AC-GAN's labels
        (Odena et al. 2017, eq. 2: L_C, which D and G both maximise as log-likelihood, i.e. minimise here) or
        InfoGAN's codes (Chen et al. 2016, eq. 4: -L_I, the variational bound on I(c; G(z, c)) up to H(c));
        None when D has no head or there is no target."""
        if target is None or (self.config.model.condition != "acgan" and self.codes is None):
            return D(x, y), None
        assert isinstance(D, (DCGANDiscriminator, MLPDiscriminator))
        score, logits = D.score_and_logits(x, y)
        assert logits is not None
        return score, F.cross_entropy(logits.float(), target)

    def _score_logs(self, real: Tensor, fake: Tensor) -> dict[str, float]:
        """D(x) and D(G(z)) as probabilities for the cross-entropy losses, else the mean raw scores."""
        real, fake = real.detach().float(), fake.detach().float()
        if self.objective.logits:
            return {"D(x)": torch.sigmoid(real).mean().item(), "D(G(z))": torch.sigmoid(fake).mean().item()}
        return {"D(x)": real.mean().item(), "D(G(z))": fake.mean().item()}

    def labels_for(self, n: int, label: int | Tensor | None) -> Tensor | None:
        """Labels (n,) for sampling (`genlab.labels.class_labels`): None cycles 0..K-1, an int repeats one class.
        For InfoGAN an int picks code c for every sample, and None returns None (the codes are then drawn)."""
        if self.codes is not None:
            return None if label is None else class_labels(label, n, self.codes)
        if not self.conditional:
            if label is not None:
                raise ModelInputError("--label needs a class-conditional GAN (trained with model.condition = "
                                      "'concat', 'projection' or 'acgan'); this one is unconditional")
            return None
        assert self.num_classes is not None
        return class_labels(label, n, self.num_classes)

    @torch.no_grad()
    def likelihood(self, models: Mapping[str, nn.Module], x: Tensor, **options: Any) -> dict[str, Any]:
        """Not defined for this family (has_likelihood is False)."""
        raise ModelInputError("a GAN defines no likelihood (bpd/nll); judge it by sample metrics (fid, pr, modes)")

    def sample(self, models: Mapping[str, nn.Module], n: int, *, generator: torch.Generator,
               label: int | Tensor | None = None, z: Tensor | None = None) -> Tensor:
        """n samples G(z), z ~ N(0, I) drawn from `generator` (or the given z: (n, latent_dim)); images in [-1, 1]."""
        G = models["G"]
        device = next(G.parameters()).device
        if z is None:
            z = torch.randn((n, self.config.model.latent_dim), generator=generator)
        y = self.labels_for(n, label)
        if self.codes is not None and y is None:           # InfoGAN: c ~ Cat(K), uniform as in training
            y = torch.randint(0, self.codes, (n,), generator=generator)
        return G(z.to(device), None if y is None else y.to(device)).float()
