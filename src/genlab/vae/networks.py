"""VAE networks: MLP and convolutional encoders/decoders, the likelihoods p(x|z), and the VAE module holding them.

An encoder maps items (B, *shape) to 2d numbers (mu and log sigma^2 of q(z|x), Kingma & Welling 2014, App. C.2)
or to d numbers for the plain autoencoder; a decoder maps z (B, d) to the parameters of p(x|z) (B, *shape):
logits for a Bernoulli, the mean for a Gaussian of variance c. Likelihoods hold no weights.
"""
from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor, nn

from genlab.errors import ModelInputError
from genlab.vae.objective import bernoulli_log_likelihood, gaussian_log_likelihood


class BernoulliLikelihood:
    """p(x|z) = prod_i Bernoulli(t_i; sigmoid(logit_i)) on targets t = (x + 1) / 2 of items x in [-1, 1] (seed 002)."""

    name = "bernoulli"

    def log_prob(self, logits: Tensor, x: Tensor) -> Tensor:
        """logits: (B, *item) or (K, B, *item); x: (B, *item) in [-1, 1] -> (B,) or (K, B) nats."""
        return bernoulli_log_likelihood(logits, (x + 1.0) * 0.5)

    def mean(self, logits: Tensor) -> Tensor:
        """E[x|z] mapped back to [-1, 1]: 2 sigmoid(logits) - 1."""
        return 2.0 * torch.sigmoid(logits) - 1.0


class GaussianLikelihood:
    """p(x|z) = N(x; decoder(z), c I) with a fixed variance c (seed 000: the loss 1/2 ||x - x~||^2 / c)."""

    name = "gaussian"

    def __init__(self, c: float) -> None:
        if not c > 0:
            raise ModelInputError(f"the Gaussian likelihood needs a variance c > 0, got {c}")
        self.c = c

    def log_prob(self, mean: Tensor, x: Tensor) -> Tensor:
        """mean: (B, *item) or (K, B, *item); x: (B, *item) -> (B,) or (K, B) nats."""
        return gaussian_log_likelihood(mean, x, c=self.c)

    def mean(self, mean: Tensor) -> Tensor:
        return mean


Likelihood = BernoulliLikelihood | GaussianLikelihood


class MLPEncoder(nn.Module):
    """Flatten -> [Linear, SiLU] per hidden width -> Linear(out): x (B, *shape) -> (B, out)."""

    def __init__(self, shape: tuple[int, ...], *, hidden: tuple[int, ...], out: int) -> None:
        super().__init__()
        widths = (math.prod(shape), *hidden)
        layers: list[nn.Module] = [nn.Flatten()]
        for a, b in zip(widths[:-1], widths[1:], strict=True):
            layers += [nn.Linear(a, b), nn.SiLU()]
        layers.append(nn.Linear(widths[-1], out))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class MLPDecoder(nn.Module):
    """z (B, d) -> [Linear, SiLU] per hidden width -> Linear -> (B, *shape); widths mirror the encoder's."""

    def __init__(self, latent_dim: int, shape: tuple[int, ...], *, hidden: tuple[int, ...]) -> None:
        super().__init__()
        self.shape = shape
        widths = (latent_dim, *reversed(hidden))
        layers: list[nn.Module] = []
        for a, b in zip(widths[:-1], widths[1:], strict=True):
            layers += [nn.Linear(a, b), nn.SiLU()]
        layers.append(nn.Linear(widths[-1], math.prod(shape)))
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z).view(-1, *self.shape)


def conv_sizes(size: int, levels: int) -> list[int]:
    """Spatial sizes after each stride-2, padding-1, 3x3 convolution: size, ceil(size/2), ... (levels + 1 values)."""
    sizes = [size]
    for _ in range(levels):
        sizes.append((sizes[-1] + 1) // 2)
    return sizes


class ConvEncoder(nn.Module):
    """[Conv 3x3 stride 2, SiLU] per level -> flatten -> Linear(out): x (B, C, H, W) -> (B, out)."""

    def __init__(self, shape: tuple[int, ...], *, channels: tuple[int, ...], out: int) -> None:
        super().__init__()
        c, h, w = shape
        layers: list[nn.Module] = []
        for a, b in zip((c, *channels[:-1]), channels, strict=True):
            layers += [nn.Conv2d(a, b, 3, stride=2, padding=1), nn.SiLU()]
        hs, ws = conv_sizes(h, len(channels)), conv_sizes(w, len(channels))
        layers += [nn.Flatten(), nn.Linear(channels[-1] * hs[-1] * ws[-1], out)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class ConvDecoder(nn.Module):
    """z (B, d) -> Linear -> (C_L, h_L, w_L) -> [ConvTranspose 3x3 stride 2, SiLU] per level -> Conv 3x3
    -> (B, C, H, W).

    Each transposed convolution's output padding is chosen so the sizes retrace the encoder's exactly (odd sizes too).
    """

    def __init__(self, latent_dim: int, shape: tuple[int, ...], *, channels: tuple[int, ...]) -> None:
        super().__init__()
        c, h, w = shape
        self.hs, self.ws = conv_sizes(h, len(channels)), conv_sizes(w, len(channels))
        self.top = (channels[-1], self.hs[-1], self.ws[-1])
        self.fc = nn.Linear(latent_dim, math.prod(self.top))
        layers: list[nn.Module] = [nn.SiLU()]
        rev = tuple(reversed(channels))
        for i, (a, b) in enumerate(zip(rev, (*rev[1:], rev[-1]), strict=True)):
            level = len(channels) - i            # from size index `level` up to `level - 1`
            pad = (self.hs[level - 1] - (2 * self.hs[level] - 1), self.ws[level - 1] - (2 * self.ws[level] - 1))
            layers += [nn.ConvTranspose2d(a, b, 3, stride=2, padding=1, output_padding=pad), nn.SiLU()]
        layers.append(nn.Conv2d(rev[-1], c, 3, padding=1))
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(self.fc(z).view(-1, *self.top))


class ConvMapEncoder(nn.Module):
    """Fully convolutional: Conv 3x3, then [Conv 3x3 stride 2, SiLU, Conv 3x3, SiLU] per level, Conv 1x1 to `out`
    maps: x (B, C, H, W) -> (B, out * h * w) flattened channel-major, so mu and log-variance maps are its two halves.

    The latent is a small image (28x28 -> 7x7 with two levels), the first stage of latent diffusion (Rombach et al.
    2022, sec. 3.1, a downsampling factor f = 2^levels).
    """

    def __init__(self, shape: tuple[int, ...], *, channels: tuple[int, ...], out: int) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(shape[0], channels[0], 3, padding=1), nn.SiLU()]
        for a, b in zip((channels[0], *channels[:-1]), channels, strict=True):
            layers += [nn.Conv2d(a, b, 3, stride=2, padding=1), nn.SiLU(), nn.Conv2d(b, b, 3, padding=1), nn.SiLU()]
        layers += [nn.Conv2d(channels[-1], out, 1), nn.Flatten()]
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class ConvMapDecoder(nn.Module):
    """z (B, c * h * w) viewed as (c, h, w) maps -> Conv 3x3 -> [Conv 3x3, SiLU, ConvTranspose 3x3 stride 2, SiLU]
    per level -> Conv 3x3 -> (B, C, H, W), retracing ConvMapEncoder's sizes (odd sizes too)."""

    def __init__(self, latent_channels: int, shape: tuple[int, ...], *, channels: tuple[int, ...]) -> None:
        super().__init__()
        c, h, w = shape
        hs, ws = conv_sizes(h, len(channels)), conv_sizes(w, len(channels))
        self.top = (latent_channels, hs[-1], ws[-1])
        rev = tuple(reversed(channels))
        layers: list[nn.Module] = [nn.Conv2d(latent_channels, rev[0], 3, padding=1), nn.SiLU()]
        for i, (a, b) in enumerate(zip(rev, (*rev[1:], rev[-1]), strict=True)):
            level = len(channels) - i
            pad = (hs[level - 1] - (2 * hs[level] - 1), ws[level - 1] - (2 * ws[level] - 1))
            layers += [nn.Conv2d(a, a, 3, padding=1), nn.SiLU(),
                       nn.ConvTranspose2d(a, b, 3, stride=2, padding=1, output_padding=pad), nn.SiLU()]
        layers.append(nn.Conv2d(rev[-1], c, 3, padding=1))
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z.reshape(-1, *self.top))


def latent_map_shape(shape: tuple[int, ...], *, channels: tuple[int, ...],
                     latent_channels: int) -> tuple[int, int, int]:
    """(c, h, w) of a conv_map VAE's latent for images of `shape` (C, H, W): each level halves H and W (rounding up)."""
    return (latent_channels, conv_sizes(shape[1], len(channels))[-1], conv_sizes(shape[2], len(channels))[-1])


class VAE(nn.Module):
    """q(z|x) = N(mu, diag sigma^2), p(z) = N(0, I), p(x|z) (Kingma & Welling 2014);
    `deterministic` = plain autoencoder.

    `legacy_state_keys` are entries of checkpoints written by older genlab versions that are no longer state (a
    micro-batch counter for the KL warm-up, which now reads the loop's step): loading ignores them.
    """

    legacy_state_keys = ("micro_batches",)

    def __init__(self, encoder: nn.Module, decoder: nn.Module, likelihood: Likelihood, *, latent_dim: int,
                 shape: tuple[int, ...], deterministic: bool = False) -> None:
        super().__init__()
        self.encoder, self.decoder, self.likelihood = encoder, decoder, likelihood
        self.latent_dim, self.shape, self.deterministic = latent_dim, tuple(shape), deterministic

    def check_items(self, x: Tensor) -> None:
        if x.ndim != len(self.shape) + 1 or tuple(x.shape[1:]) != self.shape:
            raise ModelInputError(f"this model takes items of shape {self.shape} in batches (B, "
                                  f"{', '.join(map(str, self.shape))}), got {tuple(x.shape)}")

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        """x: (B, *shape) -> mu (B, d) and logvar (B, d); logvar is None for the plain autoencoder."""
        self.check_items(x)
        h = self.encoder(x)
        if self.deterministic:
            return h, None
        mu, logvar = h.chunk(2, dim=1)
        return mu, logvar

    def decode(self, z: Tensor) -> Tensor:
        """z: (B, d) or (K, B, d) -> parameters of p(x|z): (B, *shape) or (K, B, *shape)."""
        if z.ndim not in (2, 3) or z.shape[-1] != self.latent_dim:
            raise ModelInputError(f"latents must have shape (B, {self.latent_dim}) for this model, "
                                  f"got {tuple(z.shape)}")
        params = self.decoder(z.reshape(-1, self.latent_dim))
        return params.view(*z.shape[:-1], *self.shape)

    def decode_mean(self, z: Tensor) -> Tensor:
        """z: (B, d) -> E[x|z] (B, *shape), images clamped to [-1, 1]."""
        mean = self.likelihood.mean(self.decode(z))
        return mean.clamp(-1.0, 1.0) if len(self.shape) == 3 else mean

    def forward(self, x: Tensor) -> Tensor:
        """Reconstruction E[x | z = mu(x)]: x (B, *shape) -> (B, *shape)."""
        return self.decode_mean(self.encode(x)[0])


def build_vae(shape: tuple[int, ...], *, arch: Literal["mlp", "conv", "conv_map"], latent_dim: int,
              hidden: tuple[int, ...], channels: tuple[int, ...], likelihood: Likelihood, deterministic: bool = False,
              latent_channels: int = 4) -> VAE:
    """A VAE (or plain autoencoder) for items of `shape`: an MLP for any shape, convolutions for (C, H, W) images.

    arch = "conv_map" keeps the latent spatial, `latent_channels` maps of size H / 2^levels (latent_dim is then
    latent_channels * h * w, whatever was asked).
    """
    if arch == "conv_map":
        if len(shape) != 3:
            raise ModelInputError(f"the conv_map VAE needs images (C, H, W), the data have shape {shape}")
        maps = latent_map_shape(shape, channels=channels, latent_channels=latent_channels)
        encoder_map = ConvMapEncoder(shape, channels=channels, out=latent_channels * (1 if deterministic else 2))
        return VAE(encoder_map, ConvMapDecoder(latent_channels, shape, channels=channels), likelihood,
                   latent_dim=math.prod(maps), shape=shape, deterministic=deterministic)
    out = latent_dim if deterministic else 2 * latent_dim
    if arch == "conv":
        if len(shape) != 3:
            raise ModelInputError(f"the conv VAE needs images (C, H, W), the data have shape {shape}: "
                                  "use model.arch=mlp")
        encoder: nn.Module = ConvEncoder(shape, channels=channels, out=out)
        decoder: nn.Module = ConvDecoder(latent_dim, shape, channels=channels)
    else:
        encoder = MLPEncoder(shape, hidden=hidden, out=out)
        decoder = MLPDecoder(latent_dim, shape, hidden=hidden)
    return VAE(encoder, decoder, likelihood, latent_dim=latent_dim, shape=shape, deterministic=deterministic)
