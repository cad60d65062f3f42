"""The VAE and the plain autoencoder as families of the one training loop (Kingma & Welling 2014).

One phase updates encoder and decoder together on loss = reconstruction + beta * KL per item (nats), with
z = mu + sigma * eps and eps drawn from the loop's batch randomness (exact on resume and across processes).
The plain autoencoder is the baseline the notes contrast with: z = mu(x), no KL.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor, nn

from genlab.config import TrainConfig
from genlab.errors import ConfigError, ModelInputError
from genlab.training.objective import Batch, DataInfo, Phase
from genlab.vae.networks import VAE, BernoulliLikelihood, GaussianLikelihood, Likelihood, build_vae
from genlab.vae.objective import (beta_at, free_bits_kl, iwae_objective, kl_per_dim, kl_standard_normal,
                                  log_prior_over_posterior, reparameterize)

Binarize = Literal["none", "threshold", "stochastic"]


@dataclass
class VAEModelConfig:
    """Encoder and decoder: an MLP (any data) or stride-2 convolutions (images); the decoder mirrors the encoder."""

    arch: Literal["mlp", "conv", "conv_map"] = "mlp"   # conv_map: a spatial latent (latent diffusion's first stage)
    latent_dim: int = field(default=32, metadata={"ge": 1})
    hidden: tuple[int, ...] = field(default=(512, 256), metadata={"ge": 1})   # MLP widths, encoder order
    channels: tuple[int, ...] = field(default=(32, 64), metadata={"ge": 1})   # conv widths, one stride-2 level each
    # conv_map only: latent maps of H / 2^levels (latent_dim is derived)
    latent_channels: int = field(default=4, metadata={"ge": 1})


@dataclass
class AEObjectiveConfig:
    """The likelihood p(x|z) and how images become its targets."""

    likelihood: Literal["auto", "bernoulli", "gaussian"] = "auto"   # auto: bernoulli for images, gaussian otherwise
    c: float = field(default=0.1, metadata={"gt": 0})  # Gaussian variance (seed 000's c), on data in [-1, 1]
    binarize: Binarize = "stochastic"     # Bernoulli targets: grey levels, x > 1/2, or t ~ Bernoulli(x) per batch


@dataclass
class VAEObjectiveConfig(AEObjectiveConfig):
    """Loss = reconstruction + beta * KL (objective "elbo") or minus the k-sample importance-weighted bound
    ("iwae", Burda et al. 2016 eq. 8), beta ramped linearly from 0 over `kl_warmup` steps when > 0."""

    beta: float = field(default=1.0, metadata={"ge": 0})
    kl_warmup: int = field(default=0, metadata={"ge": 0})
    objective: Literal["elbo", "iwae"] = "elbo"
    k: int = field(default=1, metadata={"ge": 1})          # importance samples per item (objective "iwae")
    # free bits (Kingma et al. 2016, eq. 15): each group of `free_bits_group` latent dimensions pays at least
    # `free_bits` nats of batch-mean KL (0: off; objective "elbo" only)
    free_bits: float = field(default=0.0, metadata={"ge": 0})
    free_bits_group: int = field(default=1, metadata={"ge": 1})


@dataclass
class VAEConfig:
    """The sections a VAE run adds to [data] and [train]."""

    model: VAEModelConfig = field(default_factory=VAEModelConfig)
    vae: VAEObjectiveConfig = field(default_factory=VAEObjectiveConfig)


@dataclass
class AEConfig:
    """The sections a plain-autoencoder run adds to [data] and [train]."""

    model: VAEModelConfig = field(default_factory=VAEModelConfig)
    ae: AEObjectiveConfig = field(default_factory=AEObjectiveConfig)


def binarize_images(x: Tensor, *, mode: Binarize, uniform: Tensor | None = None) -> Tensor:
    """Images x in [-1, 1] -> {-1, 1}: threshold at grey 1/2, or keep a pixel where u < (x + 1) / 2 (stochastic).

    x: (B, *item); `uniform` (B, *item) in [0, 1) is required for the stochastic mode (its source fixes the result).
    """
    if mode == "none":
        return x
    if mode == "threshold":
        return torch.where(x > 0, 1.0, -1.0).to(x.dtype)
    if uniform is None or uniform.shape != x.shape:
        raise ModelInputError(f"stochastic binarisation needs uniform noise of shape {tuple(x.shape)}")
    return torch.where(uniform < (x + 1.0) * 0.5, 1.0, -1.0).to(x.dtype)


class VAEFamily:
    """Variational autoencoder (Kingma & Welling 2014) with a beta-weighted KL (Higgins et al. 2017)."""

    name: ClassVar[str] = "vae"
    Config: ClassVar[type] = VAEConfig
    ema_modules: tuple[str, ...] = ("vae",)
    sample_options: ClassVar[frozenset[str]] = frozenset({"temperature"})
    has_likelihood: ClassVar[bool] = True
    can_sample: ClassVar[bool] = True
    deterministic: ClassVar[bool] = False

    def __init__(self, config: Any, *, data: DataInfo, train: TrainConfig) -> None:
        self.config = config
        self.data = data
        self.train = train
        self.objective: AEObjectiveConfig = config.ae if self.deterministic else config.vae
        m = config.model
        if m.latent_dim < 1:
            raise ConfigError(f"model.latent_dim must be at least 1, got {m.latent_dim}")
        if m.arch in ("conv", "conv_map") and data.kind != "image":
            raise ConfigError(f"model.arch = '{m.arch}' needs images, the data are vectors of shape {data.shape}")
        if m.arch == "conv_map" and m.latent_channels < 1:
            raise ConfigError(f"model.latent_channels must be at least 1, got {m.latent_channels}")
        if not (m.hidden if m.arch == "mlp" else m.channels):
            raise ConfigError(f"model.{'hidden' if m.arch == 'mlp' else 'channels'} must list at least one width")
        section = "ae" if self.deterministic else "vae"
        kind = self.objective.likelihood
        if kind == "auto":
            kind = "bernoulli" if data.kind == "image" else "gaussian"
        if kind == "bernoulli" and data.kind != "image":
            raise ConfigError(f"{section}.likelihood = 'bernoulli' needs images in [0, 255], the data are vectors: "
                              f"use {section}.likelihood=gaussian")
        if kind == "gaussian" and not self.objective.c > 0:
            raise ConfigError(f"{section}.c must be > 0 (the Gaussian variance), got {self.objective.c}")
        self.px_given_z: Likelihood = (BernoulliLikelihood() if kind == "bernoulli"
                                       else GaussianLikelihood(self.objective.c))
        # Binarised targets only make sense for the Bernoulli likelihood on images.
        self.binarize: Binarize = self.objective.binarize if kind == "bernoulli" else "none"
        if not self.deterministic:
            v = config.vae
            if v.beta < 0 or v.kl_warmup < 0:
                raise ConfigError(f"vae.beta and vae.kl_warmup must be >= 0, got {v.beta} and {v.kl_warmup}")
            if v.k < 1:
                raise ConfigError(f"vae.k must be at least 1 (importance samples per item), got {v.k}")
            if v.free_bits < 0:
                raise ConfigError(f"vae.free_bits must be >= 0 nats, got {v.free_bits}")
            if v.free_bits > 0 and v.objective != "elbo":
                raise ConfigError(f"vae.free_bits acts on the ELBO's KL term: it needs vae.objective = 'elbo', "
                                  f"got '{v.objective}'")
            if v.free_bits > 0 and m.arch != "conv_map" and m.latent_dim % v.free_bits_group:
                raise ConfigError(f"vae.free_bits_group = {v.free_bits_group} must divide model.latent_dim = "
                                  f"{m.latent_dim}")

    def build_models(self) -> dict[str, nn.Module]:
        m = self.config.model
        vae = build_vae(self.data.shape, arch=m.arch, latent_dim=m.latent_dim, hidden=m.hidden, channels=m.channels,
                        likelihood=self.px_given_z, deterministic=self.deterministic,
                        latent_channels=m.latent_channels)
        return {"vae": vae}

    def warm_start(self, models: Mapping[str, nn.Module]) -> None:
        """Nothing: a VAE starts from the seeded initialisation."""

    def phases(self) -> list[Phase]:
        tc = self.train
        return [Phase("elbo" if not self.deterministic else "reconstruct", ("vae",), lr=tc.lr,
                      weight_decay=tc.weight_decay, grad_clip=tc.grad_clip or None)]

    def beta(self, step: int) -> float:
        """The KL weight at optimiser step `step` (the loop passes it in every Batch)."""
        v = self.config.vae
        return beta_at(step, beta=v.beta, warmup=v.kl_warmup)

    def loss(self, phase: str, models: Mapping[str, nn.Module], batch: Batch) -> tuple[Tensor, dict[str, float]]:
        """Negative ELBO per item, -E_q[log p(x|z)] + beta KL(q(z|x) || p(z)), or the negative IWAE bound
        -L_k (Burda et al. 2016, eq. 8), averaged over the batch (nats)."""
        vae: VAE = models["vae"]  # type: ignore[assignment]
        x = batch.x
        if self.binarize == "stochastic":
            x = binarize_images(x, mode="stochastic", uniform=batch.rng.rand(*x.shape[1:]))
        else:
            x = binarize_images(x, mode=self.binarize)
        mu, logvar = vae.encode(x)
        if logvar is None:
            recon = -vae.likelihood.log_prob(vae.decode(mu), x)
            return recon.mean(), {"recon": recon.mean().item()}
        v = self.config.vae
        beta = self.beta(batch.step)
        if v.objective == "iwae":
            eps = batch.rng.randn(v.k, vae.latent_dim).transpose(0, 1)          # (k, B, d)
            z = reparameterize(mu, logvar, eps.to(mu.device))
            log_px_z = vae.likelihood.log_prob(vae.decode(z), x)
            bound = iwae_objective(log_px_z, log_prior_over_posterior(z, mu, logvar), beta=beta)
            kl = kl_standard_normal(mu, logvar)
            return -bound.mean(), {"recon": -log_px_z.mean().item(), "kl": kl.mean().item(),
                                   "neg_elbo": (kl - log_px_z.mean(0)).mean().item(),
                                   f"neg_iwae{v.k}": -bound.mean().item(), "beta": beta}
        z = reparameterize(mu, logvar, batch.rng.randn(vae.latent_dim))
        recon = -vae.likelihood.log_prob(vae.decode(z), x)
        kl_dims = kl_per_dim(mu, logvar)
        kl = kl_dims.sum(1)
        penalty = free_bits_kl(kl_dims, v.free_bits, group=v.free_bits_group) if v.free_bits > 0 else kl.mean()
        loss = recon.mean() + beta * penalty
        return loss, {"recon": recon.mean().item(), "kl": kl.mean().item(), "neg_elbo": (recon + kl).mean().item(),
                      "beta": beta}

    def as_trained(self, x: Tensor, *, seed: int = 0) -> Tensor:
        """Items x (N, *shape) in [-1, 1] as the likelihood scored them in training: binarised once (stochastically
        with `seed`, or by threshold) for a Bernoulli run on binarised images, unchanged otherwise."""
        if self.binarize == "stochastic":
            uniform = torch.rand(x.shape, generator=torch.Generator().manual_seed(seed)).to(x.device)
            return binarize_images(x, mode="stochastic", uniform=uniform)
        return binarize_images(x, mode=self.binarize)

    def likelihood(self, models: Mapping[str, nn.Module], x: Tensor, *, batch_size: int = 100, seed: int = 0,
                   k: int = 50, progress: bool = True) -> dict[str, Any]:
        """ELBO and IWAE(k) bounds in nats per item of x: uint8 images or float items (N, *shape); what `genlab eval
        --metrics nll` reports. Bernoulli runs on binarised images score x binarised once with `seed`."""
        from genlab.data import to_float
        from genlab.vae.likelihood import likelihood_bounds

        if self.deterministic:
            raise ModelInputError("a plain autoencoder has no q(z|x) and no prior term: it has no ELBO or IWAE bound")
        x = to_float(x) if x.dtype == torch.uint8 else x.float()
        vae: VAE = models["vae"]  # type: ignore[assignment]
        result = likelihood_bounds(vae, self.as_trained(x, seed=seed), k=k, batch_size=batch_size,
                                   generator=torch.Generator().manual_seed(seed + 1), progress=progress)
        return {**result, "likelihood": self.px_given_z.name, "binarize": self.binarize}

    @torch.no_grad()
    def sample(self, models: Mapping[str, nn.Module], n: int, *, generator: torch.Generator,
               temperature: float = 1.0, **options: Any) -> Tensor:
        """n items E[x|z], z ~ N(0, temperature^2 I): images (n, C, H, W) in [-1, 1] or vectors (n, D)."""
        if options:
            raise ModelInputError(f"a {self.name} run has no sampling option {', '.join(sorted(options))} "
                                  f"(those are for diffusion runs)")
        vae: VAE = models["vae"]  # type: ignore[assignment]
        device = next(vae.parameters()).device
        z = temperature * torch.randn((n, vae.latent_dim), generator=generator)
        return vae.decode_mean(z.to(device))


class AEFamily(VAEFamily):
    """The plain deterministic autoencoder (seed 002's baseline): z = encoder(x), loss = -log p(x|z), no prior term.

    Its samples decode z ~ N(0, I) like a VAE's: nothing pulled its codes towards that prior, which is the point.
    """

    name: ClassVar[str] = "ae"
    Config: ClassVar[type] = AEConfig
    deterministic: ClassVar[bool] = True
    has_likelihood: ClassVar[bool] = False
