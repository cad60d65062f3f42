"""Latent diffusion (Rombach et al. 2022) as a family of the one loop: DDPM on the latents of a trained autoencoder.

The diffusion family is reused whole: its loss, samplers, guidance and conditioning run on z = codec(x)
instead of x, and samples are decoded to pixels. The codec (the autoencoder's weights and the measured
latent scale) is stored in every checkpoint as a frozen network, so a run samples from its own files once
built; building it reads the autoencoder run's config for the architecture.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor, nn

from genlab.config import TrainConfig
from genlab.diffusion.config import DDPMConfig
from genlab.diffusion.family import DiffusionFamily
from genlab.errors import ModelInputError
from genlab.latent.codec import LatentCodec, first_stage_codec, load_first_stage
from genlab.training.objective import Batch, DataInfo


@dataclass
class LatentConfig:
    """The first stage: which autoencoder run, and the latent scale (0: measured when training starts)."""

    autoencoder: str = ""              # run folder of a `vae` run with model.arch = "conv_map"
    # latents are multiplied by it; 0 -> 1 / std on the training data
    scale_factor: float = field(default=0.0, metadata={"ge": 0})
    posterior: Literal["sample", "mean"] = "sample"   # train on z ~ q(z|x) (Rombach et al.) or on its mean


@dataclass
class LDMConfig(DDPMConfig):
    """DDPM's sections plus [latent]."""

    latent: LatentConfig = field(default_factory=LatentConfig)


class LatentDiffusionFamily(DiffusionFamily):
    """Diffusion in the latent space of a KL autoencoder, decoded to pixels (Rombach et al. 2022, sec. 3)."""

    name: ClassVar[str] = "ldm"
    Config: ClassVar[type] = LDMConfig
    has_likelihood: ClassVar[bool] = False
    config: LDMConfig

    def __init__(self, config: LDMConfig, *, data: DataInfo, train: TrainConfig) -> None:
        super().__init__(config, data=data, train=train)
        self.autoencoder, self.latent_shape = load_first_stage(config.latent.autoencoder, image_shape=data.shape)
        self.shape = self.latent_shape
        self.bounded = False

    def build_models(self) -> dict[str, nn.Module]:
        models = super().build_models()
        models["codec"] = first_stage_codec(self.autoencoder, self.config.latent, latent_shape=self.latent_shape)
        return models

    def encode_batch(self, models: Mapping[str, nn.Module], batch: Batch) -> Tensor:
        """Scaled latents of the batch, z = scale (mu + sigma eps) with eps from the batch randomness: (b, c, h, w)."""
        codec: LatentCodec = models["codec"]  # type: ignore[assignment]
        noise = batch.rng.randn(codec.vae.latent_dim) if self.config.latent.posterior == "sample" else None
        with torch.no_grad():
            return codec.encode(batch.x, noise=noise).float()

    def decode(self, models: Mapping[str, nn.Module], x0: Tensor) -> Tensor:
        """Latents (n, c, h, w) -> images (n, C, H, W) in [-1, 1] through the autoencoder's decoder."""
        return models["codec"].decode(x0)  # type: ignore[operator]

    def likelihood(self, models: Mapping[str, nn.Module], x: Tensor, **options: Any) -> dict[str, float]:
        raise ModelInputError("bits/dim of a latent diffusion run would bound the latents' likelihood, not the "
                              "images': use sample metrics (fid, ...) instead")
