"""The first stage of latent diffusion: a trained KL autoencoder as a frozen codec, latents scaled to unit variance.

Rombach et al. 2022 (sec. 3.1, app. G) rescale the latents by 1 / std measured on the training data, so the
diffusion's N(0, I) endpoint matches the data's spread whatever the autoencoder's KL weight made it.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from genlab.errors import CheckpointError, ConfigError, ModelInputError
from genlab.vae.networks import VAE

if TYPE_CHECKING:
    from genlab.latent.family import LatentConfig
    from genlab.training.run import Run

SCALE_ITEMS = 5000     # training images of the autoencoder's data the latent scale is measured on


class LatentCodec(nn.Module):
    """x (B, C, H, W) <-> z (B, c, h, w) = scale * (mu + sigma eps) of a conv_map VAE; `scale` is a stored buffer."""

    scale: Tensor

    def __init__(self, vae: VAE, *, latent_shape: tuple[int, int, int], scale: float = 1.0) -> None:
        super().__init__()
        if vae.latent_dim != latent_shape[0] * latent_shape[1] * latent_shape[2]:
            raise CheckpointError(f"the autoencoder's latent has {vae.latent_dim} numbers, not {latent_shape}")
        self.vae = vae
        self.latent_shape = tuple(latent_shape)
        self.register_buffer("scale", torch.tensor(float(scale)))
        self.requires_grad_(False)

    def encode(self, x: Tensor, *, noise: Tensor | None = None) -> Tensor:
        """x: (B, C, H, W) in [-1, 1] -> scaled latents (B, c, h, w): scale * (mu + sigma * noise), or scale * mu
        when noise is None. noise: (B, c * h * w) standard normal."""
        mu, logvar = self.vae.encode(x)
        z = mu if noise is None or logvar is None else mu + torch.exp(0.5 * logvar) * noise
        return (z * self.scale).view(-1, *self.latent_shape)

    def decode(self, z: Tensor) -> Tensor:
        """Scaled latents z: (B, c, h, w) -> images E[x | z / scale] (B, C, H, W) in [-1, 1]."""
        if tuple(z.shape[1:]) != self.latent_shape:
            raise ModelInputError(f"latents must be (B, {', '.join(map(str, self.latent_shape))}), "
                                  f"got {tuple(z.shape)}")
        return self.vae.decode_mean((z / self.scale).reshape(len(z), -1).float())


@torch.no_grad()
def measure_scale(vae: VAE, x: Tensor, *, generator: torch.Generator, batch_size: int = 500,
                  sample: bool = True) -> float:
    """1 / std of posterior samples z = mu + sigma eps (or of the means mu when not `sample`: what a run trained on
    latent.posterior = "mean" diffuses) over images x: (N, C, H, W), to 4 significant digits.

    The standard deviation is over every latent number of every item (one scalar, as Rombach et al. 2022);
    rounding keeps the value identical when a resumed run measures it again with another thread count.
    """
    total, total_sq, count = 0.0, 0.0, 0
    for chunk in x.split(batch_size):
        mu, logvar = vae.encode(chunk)
        z = mu
        if sample and logvar is not None:
            z = mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=generator)
        z = z.double()
        total, total_sq, count = total + z.sum().item(), total_sq + z.pow(2).sum().item(), count + z.numel()
    mean = total / count
    std = max(total_sq / count - mean * mean, 0.0) ** 0.5
    if not std > 0:
        raise ModelInputError("the autoencoder maps every image to the same latent; it cannot be a first stage")
    return float(f"{1.0 / std:.4g}")


def load_first_stage(path: str, *, image_shape: tuple[int, ...], what: str = "latent diffusion"
                     ) -> tuple[Run, tuple[int, int, int]]:
    """The trained conv_map VAE run at `path` for images of `image_shape` (C, H, W), and its latent shape (c, h, w);
    one-line ConfigErrors for a missing, foreign or mismatched run."""
    from genlab.training.run import load_run
    from genlab.vae.family import VAEFamily
    from genlab.vae.networks import latent_map_shape

    if not path:
        raise ConfigError(f"{what} needs a trained autoencoder: --autoencoder RUN (or latent.autoencoder = "
                          "\"RUN\"), a `vae` run with model.arch = \"conv_map\"")
    try:
        run = load_run(path)
    except CheckpointError as err:
        raise ConfigError(f"latent.autoencoder: {err}") from None
    arch = run.family.config.model.arch if isinstance(run.family, VAEFamily) else "?"
    if run.config.family != "vae" or arch != "conv_map":
        raise ConfigError(f"latent.autoencoder {path} holds a '{run.config.family}' run with model.arch = "
                          f"'{arch}'; expected a 'vae' run with model.arch = 'conv_map'")
    assert isinstance(run.family, VAEFamily)
    if tuple(run.info.shape) != tuple(image_shape):
        raise ConfigError(f"the autoencoder {path} was trained on images of shape {tuple(run.info.shape)}, "
                          f"not {tuple(image_shape)} as the {what} needs")
    m = run.family.config.model
    return run, latent_map_shape(image_shape, channels=m.channels, latent_channels=m.latent_channels)


def first_stage_scale(run: Run, *, posterior: str = "sample") -> float:
    """1 / std of the latents (posterior samples, or means for posterior "mean") of up to SCALE_ITEMS of the
    autoencoder run's own training images (seeded, so a resumed run measures the same value)."""
    from genlab.vae.runs import run_items, vae_of

    x, _ = run_items(run, split="train", limit=SCALE_ITEMS, seed=0)
    return measure_scale(vae_of(run), x, generator=torch.Generator().manual_seed(0), sample=posterior == "sample")


def first_stage_codec(run: Run, latent: LatentConfig, *, latent_shape: tuple[int, int, int]) -> LatentCodec:
    """The frozen codec of the autoencoder run; `latent.scale_factor` 0 is measured first (first_stage_scale) and
    written back, so config.json keeps it beside the checkpoint's buffer."""
    from genlab.vae.runs import vae_of

    if not latent.scale_factor > 0:
        latent.scale_factor = first_stage_scale(run, posterior=latent.posterior)
    return LatentCodec(vae_of(run), latent_shape=latent_shape, scale=latent.scale_factor)
