"""DDPM as a family of the training loop: a denoiser network + a noise schedule (Ho et al. 2020).

Training is Algorithm 1 (L_simple on the chosen parameterisation). With a [condition] section the network also
sees a class, a prompt or a low-resolution image, dropped with probability label_dropout in training so that
sampling can apply classifier-free guidance (genlab.diffusion.conditioning). Sampling is genlab.diffusion.pipeline
over the registry of samplers, from the EMA network.

The hooks `encode_batch` and `decode` are identities here; latent diffusion (genlab.latent.family) overrides
them with an autoencoder, so the same loss and samplers run on its latents.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from genlab.config import TrainConfig
from genlab.diffusion import pipeline
from genlab.diffusion.conditioning import check_condition_config, drop_mask, training_condition
from genlab.diffusion.config import DDPMConfig
from genlab.diffusion.denoiser import Denoiser
from genlab.diffusion.losses import l_simple
from genlab.diffusion.networks import build_network
from genlab.diffusion.samplers import get_sampler
from genlab.diffusion.schedules import NoiseSchedule
from genlab.errors import ConfigError, ModelInputError
from genlab.training.objective import Batch, DataInfo, Phase


class DiffusionFamily:
    """Denoising diffusion (Ho et al. 2020) on images or vectors."""

    name: ClassVar[str] = "ddpm"
    Config: ClassVar[type] = DDPMConfig
    ema_modules: tuple[str, ...] = ("model",)
    sample_options: ClassVar[frozenset[str]] = pipeline.SAMPLE_OPTIONS
    has_likelihood: ClassVar[bool] = True
    can_sample: ClassVar[bool] = True

    def __init__(self, config: DDPMConfig, *, data: DataInfo, train: TrainConfig) -> None:
        self.config = config
        self.data = data
        self.train = train
        d = config.diffusion
        self.schedule = NoiseSchedule.from_name(d.schedule, T=d.T)
        self.shape: tuple[int, ...] = tuple(data.shape)     # what the diffusion runs on (latents for ldm)
        self.bounded = data.kind == "image"                  # x0 may be clipped to [-1, 1] while sampling
        check_condition_config(config.condition, num_classes=data.num_classes, kind=data.kind)
        if get_sampler(d.sampler).inputs:                    # an unknown name fails before any training, too
            raise ConfigError(f"diffusion.sampler = '{d.sampler}' inpaints given images, so it cannot be a run's "
                              "default sampler; choose it per call (genlab inpaint --method)")

    def build_models(self) -> dict[str, nn.Module]:
        return {"model": build_network(self.config.model, self.config.condition, self.data, self.shape)}

    def phases(self) -> list[Phase]:
        tc = self.train
        return [Phase("denoise", ("model",), lr=tc.lr, weight_decay=tc.weight_decay, grad_clip=tc.grad_clip or None)]

    def warm_start(self, models: Mapping[str, nn.Module]) -> None:
        """Nothing: a diffusion run starts from the seeded initialisation."""

    def encode_batch(self, models: Mapping[str, nn.Module], batch: Batch) -> Tensor:
        """The x0 the diffusion runs on for a training batch: the items themselves here (latents for ldm)."""
        return batch.x

    def decode(self, models: Mapping[str, nn.Module], x0: Tensor) -> Tensor:
        """Samples of the diffusion (n, *self.shape) -> data space; the identity here."""
        return x0

    def denoiser(self, net: Any, *, precision: str = "fp32") -> Denoiser:
        """A network function net(x_t, t) of this run as a denoiser (its schedule and parameterisation)."""
        return Denoiser(net, self.schedule, prediction=self.config.diffusion.prediction,
                        precision=precision)  # type: ignore[arg-type]

    def loss(self, phase: str, models: Mapping[str, nn.Module], batch: Batch) -> tuple[Tensor, dict[str, float]]:
        """L_simple of Algorithm 1 with t ~ U{0..T-1} and eps ~ N(0, I) drawn by the loop's batch randomness.

        A conditional model sees the batch's condition, replaced by the null one where u ~ U[0, 1) < label_dropout
        (classifier-free guidance training, Ho & Salimans 2022, Algorithm 1).
        """
        x0 = self.encode_batch(models, batch)
        t = batch.rng.randint(self.schedule.T)
        noise = batch.rng.randn(*x0.shape[1:])
        c = self.config.condition
        net: Any = models["model"]
        if c.kind != "none":
            cond = training_condition(c, batch)
            drop = drop_mask(batch.rng.rand(), c.label_dropout)
            conditional = net
            net = lambda x_t, t_: conditional(x_t, t_, cond, drop=drop)  # noqa: E731
        loss = l_simple(self.denoiser(net), x0, t=t, noise=noise, weighting=self.config.diffusion.weighting)
        return loss, {}

    def sample(self, models: Mapping[str, nn.Module], n: int, *, generator: torch.Generator,
               **options: Any) -> Tensor:
        """n samples (n, *data shape) through genlab.diffusion.pipeline.sample; options: `sample_options`."""
        unknown = sorted(set(options) - self.sample_options)
        if unknown:
            raise ModelInputError(f"sampling option {unknown[0]!r} does not apply to a '{self.name}' run; "
                                  f"expected some of: {', '.join(sorted(self.sample_options))}")
        return pipeline.sample(self, models, n, generator=generator, **options)

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
        if self.config.condition.kind != "none":
            raise ModelInputError("bits/dim is reported for unconditional runs; this run is conditional")
        if tuple(x.shape[1:]) != tuple(self.data.shape):
            raise ModelInputError(f"images of shape {tuple(x.shape[1:])} given to a model of {tuple(self.data.shape)}")
        denoiser = self.denoiser(models["model"])
        gen = torch.Generator().manual_seed(seed)
        if num_terms is not None and num_terms >= self.schedule.T - 1:
            num_terms = None                                   # as many terms as there are: the exact sum
        bounds = [bits_per_dim(denoiser, to_float(chunk), variance=self.config.diffusion.variance,
                               num_terms=num_terms, generator=gen)
                  for chunk in tqdm(x.split(batch_size), desc="bits/dim", unit="batch", disable=not progress,
                                    leave=False)]
        total = torch.cat([b.total for b in bounds]).double()
        return {"bpd": total.mean().item(), "bpd_stderr": (total.std() / len(total) ** 0.5).item(),
                "bpd_prior": torch.cat([b.prior for b in bounds]).mean().item(),
                "bpd_decoder": torch.cat([b.decoder for b in bounds]).mean().item(),
                "bpd_images": len(total), "bpd_terms": num_terms or self.schedule.T}
