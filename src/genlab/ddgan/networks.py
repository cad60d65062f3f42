"""DDGAN's networks: a generator G(x_t, t, z) -> x0 and a time-conditional discriminator D(x_{t-1}, x_t, t).

Images: G is a small U-Net whose residual blocks take the sum of a time embedding and a mapped latent through
adaptive group norm, the z-as-style design of Xiao et al. (2022, app. C; AdaGN of Dhariwal & Nichol 2021);
D sees x_{t-1} and x_t stacked as channels and adds a projection of the time embedding in every down block
(Xiao et al. 2022, app. C, "time-dependent discriminator"). Vectors: MLPs with the same conditioning. The
timestep t is the integer index 0..T-1 of genlab's schedules. Networks know nothing of the noise schedule.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from genlab.errors import ConfigError, ModelInputError
from genlab.nn import Downsample, ResBlock, TimeEmbedding, Upsample
from genlab.nn.embeddings import FourierFeatures
from genlab.nn.norm import GroupNorm


def _check(x: Tensor, shape: tuple[int, ...], t: Tensor, what: str) -> None:
    if tuple(x.shape[1:]) != shape or x.shape[0] == 0:
        raise ModelInputError(f"{what} expects x of shape (B, {', '.join(map(str, shape))}), got {tuple(x.shape)}")
    if t.shape != (x.shape[0],):
        raise ModelInputError(f"{what} expects timesteps t of shape ({x.shape[0]},), got {tuple(t.shape)}")


class LatentMapping(nn.Module):
    """z -> style embedding: normalise z to the unit sphere's radius sqrt(dim), then a 2-layer MLP
    (the mapping network of Karras et al. 2019, sec. 2, short, as in Xiao et al. 2022, app. C)."""

    def __init__(self, latent_dim: int, emb_dim: int) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.net = nn.Sequential(nn.Linear(latent_dim, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))

    def forward(self, z: Tensor) -> Tensor:
        """z: (B, latent_dim) -> (B, emb_dim)."""
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ModelInputError(f"the generator expects z of shape (B, {self.latent_dim}), got {tuple(z.shape)}")
        z = z * torch.rsqrt(z.pow(2).mean(dim=1, keepdim=True) + 1e-8)
        return self.net(z)


class ConvGenerator(nn.Module):
    """x0 = G(x_t, t, z) for images: a U-Net of len(channels) levels, one AdaGN residual block each (plus one in
    the middle), stride-2 down-sampling, skips by concatenation, tanh output in [-1, 1]."""

    def __init__(self, *, shape: tuple[int, int, int], latent_dim: int, channels: tuple[int, ...] = (32, 64, 64),
                 groups: int = 8, patch: int = 1) -> None:
        super().__init__()
        if shape[1] % patch or shape[2] % patch:
            raise ConfigError(f"model.patch = {patch} must divide the image size {shape[1]}x{shape[2]}")
        if not channels or any(c % groups for c in channels):
            raise ConfigError(f"every entry of model.channels={list(channels)} must be divisible by "
                              f"model.groups={groups}")
        self.shape, self.latent_dim = tuple(shape), latent_dim
        emb = 4 * channels[0]
        self.time_embed = TimeEmbedding(channels[0], emb)
        self.z_embed = LatentMapping(latent_dim, emb)
        self.patch = patch
        self.conv_in = nn.Conv2d(shape[0] * patch**2, channels[0], 3, padding=1)
        widths = [channels[0], *channels]
        self.down = nn.ModuleList(ResBlock(a, b, emb, groups=groups)
                                  for a, b in zip(widths[:-1], widths[1:], strict=True))
        self.downsample = nn.ModuleList(Downsample(c) for c in channels[:-1])
        self.mid = ResBlock(channels[-1], channels[-1], emb, groups=groups)
        self.up = nn.ModuleList(ResBlock(2 * c, c, emb, groups=groups) for c in reversed(channels))
        self.upsample = nn.ModuleList(Upsample(channels[j], channels[j - 1], conv_first=True)
                                      for j in reversed(range(1, len(channels))))
        self.norm_out = GroupNorm(groups, channels[0])
        self.conv_out = nn.Conv2d(channels[0], shape[0] * patch**2, 3, padding=1)

    def forward(self, x: Tensor, t: Tensor, z: Tensor) -> Tensor:
        """x: (B, C, H, W) at step t: (B,) long, z: (B, latent_dim) -> x0 (B, C, H, W) in [-1, 1]."""
        _check(x, self.shape, t, "the generator")
        emb = self.time_embed(t) + self.z_embed(z)
        h = self.conv_in(F.pixel_unshuffle(x, self.patch) if self.patch > 1 else x)
        skips = []
        for i, block in enumerate(self.down):
            h = block(h, emb)
            skips.append(h)
            if i < len(self.downsample):
                h = self.downsample[i](h)
        h = self.mid(h, emb)
        for i, block in enumerate(self.up):
            h = block(torch.cat([h, skips.pop()], dim=1), emb)
            if i < len(self.upsample):
                h = self.upsample[i](h, skips[-1].shape[2:])
        out = self.conv_out(F.silu(self.norm_out(h)))
        return torch.tanh(F.pixel_shuffle(out, self.patch) if self.patch > 1 else out)


class _DownBlock(nn.Module):
    """LeakyReLU-conv, + dense(t_emb), LeakyReLU, stride-2 conv; a 1x1 skip; the sum over sqrt 2
    (Xiao et al. 2022, app. C, after StyleGAN2's residual discriminator)."""

    def __init__(self, c_in: int, c_out: int, emb: int, slope: float) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.dense_t = nn.Linear(emb, c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 4, stride=2, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1, bias=False)
        self.slope = slope

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        """x: (B, C_in, H, W), emb: (B, E) -> (B, C_out, H // 2, W // 2)."""
        h = self.conv1(F.leaky_relu(x, self.slope)) + self.dense_t(emb)[:, :, None, None]
        h = self.conv2(F.leaky_relu(h, self.slope))
        skip = self.skip(F.avg_pool2d(x, 2))
        return (h + skip) / math.sqrt(2.0)


class ConvDiscriminator(nn.Module):
    """D(x_{t-1}, x_t, t) for images: the pair as 2C channels (pixel-unshuffled by `patch`), residual down blocks
    conditioned on t, a sum over positions and a linear score (B,)."""

    def __init__(self, *, shape: tuple[int, int, int], channels: tuple[int, ...] = (32, 64, 128),
                 slope: float = 0.2, patch: int = 1) -> None:
        super().__init__()
        if not channels:
            raise ConfigError("model.d_channels must list at least one width")
        if shape[1] % patch or shape[2] % patch:
            raise ConfigError(f"model.patch = {patch} must divide the image size {shape[1]}x{shape[2]}")
        self.shape, self.patch = tuple(shape), patch
        emb = 4 * channels[0]
        self.time_embed = TimeEmbedding(channels[0], emb)
        self.conv_in = nn.Conv2d(2 * shape[0] * patch**2, channels[0], 1)
        widths = [channels[0], *channels]
        self.blocks = nn.ModuleList(_DownBlock(a, b, emb, slope) for a, b in zip(widths[:-1], widths[1:], strict=True))
        self.score = nn.Linear(channels[-1], 1)
        self.slope = slope

    def forward(self, x_prev: Tensor, x_t: Tensor, t: Tensor) -> Tensor:
        """x_prev, x_t: (B, C, H, W), t: (B,) long -> scores (B,) (logits)."""
        _check(x_prev, self.shape, t, "the discriminator")
        _check(x_t, self.shape, t, "the discriminator")
        emb = F.leaky_relu(self.time_embed(t), self.slope)
        pair = torch.cat([x_prev, x_t], dim=1)
        h = self.conv_in(F.pixel_unshuffle(pair, self.patch) if self.patch > 1 else pair)
        for block in self.blocks:
            h = block(h, emb)
        return self.score(F.leaky_relu(h, self.slope).sum(dim=(2, 3))).squeeze(1)


class MLPGenerator(nn.Module):
    """x0 = G(x_t, t, z) for vectors: [x_t, z] in, `layers` SiLU layers of width `hidden` with the time embedding
    added before each, a linear output."""

    def __init__(self, *, dim: int, latent_dim: int, hidden: int = 256, layers: int = 3,
                 fourier: float = 0.0) -> None:
        super().__init__()
        self.shape, self.latent_dim = (dim,), latent_dim
        self.time_embed = TimeEmbedding(64, hidden)
        self.features = FourierFeatures(dim, scale=fourier)
        self.inp = nn.Linear(self.features.out_dim + latent_dim, hidden)
        self.hidden = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(layers))
        self.out = nn.Linear(hidden, dim)

    def forward(self, x: Tensor, t: Tensor, z: Tensor) -> Tensor:
        """x: (B, D) at step t: (B,) long, z: (B, latent_dim) -> x0 (B, D)."""
        _check(x, self.shape, t, "the generator")
        if z.shape != (x.shape[0], self.latent_dim):
            raise ModelInputError(f"the generator expects z of shape ({x.shape[0]}, {self.latent_dim}), "
                                  f"got {tuple(z.shape)}")
        emb = self.time_embed(t)
        h = self.inp(torch.cat([self.features(x), z], dim=1))
        for layer in self.hidden:
            h = layer(F.silu(h + emb))
        return self.out(F.silu(h))


class MLPDiscriminator(nn.Module):
    """D(x_{t-1}, x_t, t) for vectors: the pair concatenated, LeakyReLU layers with the time embedding added before
    each, a linear score (B,)."""

    def __init__(self, *, dim: int, hidden: int = 256, layers: int = 3, slope: float = 0.2,
                 fourier: float = 0.0) -> None:
        super().__init__()
        self.shape, self.slope = (dim,), slope
        self.time_embed = TimeEmbedding(64, hidden)
        self.features = FourierFeatures(2 * dim, scale=fourier)
        self.inp = nn.Linear(self.features.out_dim, hidden)
        self.hidden = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(layers))
        self.score = nn.Linear(hidden, 1)

    def forward(self, x_prev: Tensor, x_t: Tensor, t: Tensor) -> Tensor:
        """x_prev, x_t: (B, D), t: (B,) long -> scores (B,) (logits)."""
        _check(x_prev, self.shape, t, "the discriminator")
        _check(x_t, self.shape, t, "the discriminator")
        emb = self.time_embed(t)
        h = self.inp(self.features(torch.cat([x_prev, x_t], dim=1)))
        for layer in self.hidden:
            h = layer(F.leaky_relu(h + emb, self.slope))
        return self.score(F.leaky_relu(h, self.slope)).squeeze(1)
