"""DDPM as a family of the training loop: a denoiser network + a noise schedule (Ho et al. 2020).

Training is Algorithm 1 (L_simple on the chosen parameterisation); sampling is Algorithm 2 (ancestral) or
DDIM (Song et al. 2021) on a sub-sequence of steps, from the EMA network.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Literal, Mapping

import torch
from torch import Tensor, nn

from genlab.config import TrainConfig
from genlab.diffusion.losses import l_simple
from genlab.diffusion.schedules import NoiseSchedule
from genlab.errors import ConfigError, ModelInputError
from genlab.training.objective import Batch, DataInfo, Phase


@dataclass
class DenoiserConfig:
    """The network: a U-Net for images, an MLP for vectors. Sizes for the U-Net follow genlab.nn.UNet."""

    arch: Literal["auto", "unet", "mlp"] = "auto"      # auto: unet for images, mlp for vectors
    channels: tuple[int, ...] = (32, 64, 64)
    blocks_per_level: int = 1
    attention_levels: tuple[int, ...] = ()
    mid_attention: bool = True
    heads: int = 4
    groups: int = 32
    time_embedding: Literal["scale_shift", "add"] = "scale_shift"
    dropout: float = 0.0
    hidden: int = 256                                    # MLP width
    layers: int = 4                                      # MLP depth


@dataclass
class DiffusionConfig:
    """The noise process, the training target and the default sampler."""

    schedule: Literal["linear", "cosine", "sigmoid", "scaled_linear", "geodiff_sigmoid"] = "linear"
    T: int = 1000
    prediction: Literal["eps", "x0", "v"] = "eps"
    weighting: Literal["none", "min_snr"] = "none"
    sampler: Literal["ddim", "ancestral"] = "ddim"
    sample_steps: int = 50
    eta: float = 0.0
    spacing: Literal["leading", "trailing", "linspace"] = "leading"
    variance: Literal["beta", "beta_tilde"] = "beta_tilde"
    clip_x0: bool = True


@dataclass
class DDPMConfig:
    """The sections a DDPM run adds to [data] and [train]."""

    model: DenoiserConfig = field(default_factory=DenoiserConfig)
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)


class DiffusionFamily:
    """Denoising diffusion (Ho et al. 2020) on images or vectors."""

    name: ClassVar[str] = "ddpm"
    Config: ClassVar[type] = DDPMConfig
    ema_modules = ("model",)

    def __init__(self, config: DDPMConfig, *, data: DataInfo, train: TrainConfig) -> None:
        self.config = config
        self.data = data
        self.train = train
        d = config.diffusion
        self.schedule = NoiseSchedule.from_name(d.schedule, T=d.T)

    def build_models(self) -> dict[str, nn.Module]:
        m, info = self.config.model, self.data
        arch = m.arch if m.arch != "auto" else ("unet" if info.kind == "image" else "mlp")
        if arch == "unet":
            if info.kind != "image":
                raise ConfigError(f"model.arch = 'unet' needs images, the data are vectors of shape {info.shape}")
            from genlab.nn.unet import UNet
            net: nn.Module = UNet(in_channels=info.shape[0], channels=m.channels, blocks_per_level=m.blocks_per_level,
                                  attention_levels=m.attention_levels, mid_attention=m.mid_attention, heads=m.heads,
                                  groups=m.groups, time_embedding=m.time_embedding, dropout=m.dropout)
        else:
            if info.kind != "vector":
                raise ConfigError(f"model.arch = 'mlp' needs vectors, the data are images of shape {info.shape}")
            from genlab.nn.mlp import MLPDenoiser
            net = MLPDenoiser(dim=info.shape[0], hidden=m.hidden, layers=m.layers)
        return {"model": net}

    def phases(self) -> list[Phase]:
        tc = self.train
        return [Phase("denoise", ("model",), lr=tc.lr, weight_decay=tc.weight_decay, grad_clip=tc.grad_clip or None)]

    def loss(self, phase: str, models: Mapping[str, nn.Module], batch: Batch) -> tuple[Tensor, dict[str, float]]:
        """L_simple of Algorithm 1 with t ~ U{0..T-1} and eps ~ N(0, I) drawn by the loop's batch randomness."""
        x0 = batch.x
        t = batch.rng.randint(self.schedule.T)
        noise = batch.rng.randn(*x0.shape[1:])
        d = self.config.diffusion
        loss = l_simple(models["model"], self.schedule, x0, t=t, noise=noise, prediction=d.prediction,
                        weighting=d.weighting)
        return loss, {}

    def model_fn(self, model: nn.Module, *, precision: str = "fp32") -> Callable[[Tensor, Tensor], Tensor]:
        """The network as a sampler's model_fn(x_t, t), under bf16 autocast when asked."""
        if precision == "fp32":
            return model
        device = next(model.parameters()).device

        def fn(x: Tensor, t: Tensor) -> Tensor:
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16):
                return model(x, t).float()
        return fn

    @torch.no_grad()
    def sample(self, models: Mapping[str, nn.Module], n: int, *, generator: torch.Generator,
               sampler: str | None = None, steps: int | None = None, eta: float | None = None,
               spacing: str | None = None, variance: str | None = None, clip_x0: bool | None = None,
               precision: str | None = None, callback: Callable[..., None] | None = None,
               noise: Tensor | None = None) -> Tensor:
        """n samples (n, *shape) by DDIM or ancestral sampling; unset options take the run's [diffusion] values."""
        from genlab.diffusion.sampling import sample_ancestral, sample_ddim
        from genlab.diffusion.timesteps import timesteps as make_timesteps

        d = self.config.diffusion
        sampler = sampler or d.sampler
        steps = steps or (d.sample_steps if sampler == "ddim" else d.T)
        if not 1 <= steps <= d.T:
            raise ModelInputError(f"sampling steps must be between 1 and T={d.T}, got {steps}")
        model = models["model"]
        device = next(model.parameters()).device
        x = noise if noise is not None else torch.randn((n, *self.data.shape), generator=generator)
        x = x.to(device)
        ts = make_timesteps(d.T, steps, spacing=spacing or d.spacing)
        fn = self.model_fn(model, precision=precision or self.train.precision)
        clip = (d.clip_x0 and self.data.kind == "image") if clip_x0 is None else clip_x0  # vectors are unbounded
        if sampler == "ddim":
            return sample_ddim(fn, x, self.schedule, ts, prediction=d.prediction, eta=d.eta if eta is None else eta,
                               clip_x0=clip, generator=generator, callback=callback)
        if sampler == "ancestral":
            return sample_ancestral(fn, x, self.schedule, ts, prediction=d.prediction,
                                    variance=variance or d.variance, clip_x0=clip, generator=generator,
                                    callback=callback)
        raise ConfigError(f"unknown sampler {sampler!r}; expected 'ddim' or 'ancestral'")

    @torch.no_grad()
    def likelihood(self, models: Mapping[str, nn.Module], x: Tensor, *, batch_size: int = 100, seed: int = 0,
                   num_terms: int | None = 100, progress: bool = True) -> dict[str, float]:
        """Variational bound in bits/dim of uint8 images x: (N, C, H, W) (Ho et al. 2020, eq. 5 and sec. 4.2).

        With `num_terms`, each image's sum over the T-1 KL terms is estimated from that many random timesteps
        (unbiased; L_T and L_0 exact); None evaluates all T terms (T network calls per batch).
        """
        from tqdm.auto import tqdm

        from genlab.data import to_float
        from genlab.diffusion.likelihood import bits_per_dim

        if self.data.kind != "image":
            raise ModelInputError("bits/dim is defined here for 8-bit images; this run models vectors")
        if tuple(x.shape[1:]) != tuple(self.data.shape):
            raise ModelInputError(f"images of shape {tuple(x.shape[1:])} given to a model of {tuple(self.data.shape)}")
        model = models["model"]
        gen = torch.Generator().manual_seed(seed)
        d = self.config.diffusion
        if num_terms is not None and num_terms >= self.schedule.T - 1:
            num_terms = None                                   # as many terms as there are: the exact sum
        totals, priors, decoders = [], [], []
        for chunk in tqdm(x.split(batch_size), desc="bits/dim", unit="batch", disable=not progress, leave=False):
            bound = bits_per_dim(model, self.schedule, to_float(chunk), prediction=d.prediction,
                                 variance=d.variance, num_terms=num_terms, generator=gen)
            totals.append(bound.total)
            priors.append(bound.prior)
            decoders.append(bound.decoder)
        total = torch.cat(totals).double()
        return {"bpd": total.mean().item(), "bpd_stderr": (total.std() / len(total) ** 0.5).item(),
                "bpd_prior": torch.cat(priors).mean().item(), "bpd_decoder": torch.cat(decoders).mean().item(),
                "bpd_images": len(total), "bpd_terms": num_terms or self.schedule.T}
