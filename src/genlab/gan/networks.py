"""Generators and discriminators: the notes' MLP pair (and its deeper 2-D toy version) and DCGAN.

Every generator maps z: (B, latent_dim) and optional labels y: (B,) to data (B, *shape); every discriminator
maps x: (B, *shape) and optional y to one raw score per item (B,). Class conditioning (Mirza & Osindero 2014)
feeds G the one-hot label concatenated to z, or (DCGAN, g_norm "cbn") through conditional batch norm: a gain
and bias per class (de Vries et al. 2017; Miyato & Koyama 2018). D gets it concatenated to its input
("concat"), through a projection term <embed(y), phi(x)> added to its score (Miyato & Koyama 2018, eq. 3),
or not at all ("acgan"): D then predicts the class from x with an auxiliary head (Odena et al. 2017).
"""
from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from genlab.errors import ConfigError, ModelInputError
from genlab.gan.packing import PackedFourierFeatures
from genlab.nn.embeddings import FourierFeatures

Condition = Literal["none", "concat", "projection", "acgan"]
Norm = Literal["batch", "layer", "none"]
GNorm = Literal["batch", "cbn"]


def _labels(y: Tensor | None, batch: int, num_classes: int | None) -> Tensor | None:
    """Check the labels handed to a conditional network (or their absence for an unconditional one)."""
    if num_classes is None:
        if y is not None:
            raise ModelInputError("this network is unconditional but was given labels")
        return None
    if y is None:
        raise ModelInputError(f"this network is conditional on {num_classes} classes; pass labels y: (B,)")
    if y.shape != (batch,) or y.dtype not in (torch.int64, torch.int32):
        raise ModelInputError(f"labels must be integers of shape ({batch},), got {y.dtype} {tuple(y.shape)}")
    if batch and (int(y.min()) < 0 or int(y.max()) >= num_classes):
        raise ModelInputError(f"labels must lie in [0, {num_classes - 1}], got {int(y.min())}..{int(y.max())}")
    return y.long()


def _d_labels(y: Tensor | None, batch: int, num_classes: int | None, condition: str) -> Tensor | None:
    """A discriminator's checked labels; an AC-GAN D reads only x, so its labels may be left out."""
    return None if condition == "acgan" and y is None else _labels(y, batch, num_classes)


def _class_count(num_classes: int | None, condition: str) -> int:
    """The number of classes of a network conditioned by `condition` ("concat", "projection", "acgan" or "cbn")."""
    if num_classes is None:
        raise ConfigError(f"condition = {condition!r} needs num_classes")
    return num_classes


def _one_hot(y: Tensor | None, num_classes: int | None) -> Tensor:
    """One-hot labels (B, num_classes) of a conditional network; y and num_classes are both given there."""
    if y is None or num_classes is None:
        raise ModelInputError("one-hot conditioning needs labels y: (B,) and num_classes")
    return F.one_hot(y, num_classes)


def _check_z(z: Tensor, latent_dim: int) -> None:
    if z.ndim != 2 or z.shape[1] != latent_dim:
        raise ModelInputError(f"generator expects z of shape (B, {latent_dim}), got {tuple(z.shape)}")


def _check_x(x: Tensor, shape: tuple[int, ...], what: str) -> None:
    if tuple(x.shape[1:]) != shape:
        raise ModelInputError(f"{what} expects x of shape (B, {', '.join(map(str, shape))}), got {tuple(x.shape)}")


def _input_features(dim: int, fourier: float, groups: int = 0) -> tuple[nn.Module, int]:
    """An MLP's input map and its output width: Fourier features of scale `fourier` (groups >= 1: per packed
    sample), or (0) the identity, which adds no buffer, so checkpoints of MLPs without the option load unchanged."""
    if fourier <= 0:
        return nn.Identity(), dim
    features: FourierFeatures | PackedFourierFeatures = (
        PackedFourierFeatures(dim, groups=groups, scale=fourier) if groups else FourierFeatures(dim, scale=fourier))
    return features, features.out_dim


class MLPGenerator(nn.Module):
    """z (+ one-hot y) -> ReLU layers of widths `hidden` -> data; tanh output for images (the notes' 100-128-784).
    fourier > 0 feeds [z, sin(2 pi z B), cos(2 pi z B)] instead of z (Tancik et al. 2020, eq. 5); skip = s > 0
    adds s z to the output (vectors with latent_dim = data dim), so that G starts near N(0, s^2 I)."""

    def __init__(self, *, latent_dim: int, shape: tuple[int, ...], hidden: tuple[int, ...],
                 num_classes: int | None = None, tanh: bool = True, fourier: float = 0.0, skip: float = 0.0) -> None:
        super().__init__()
        self.latent_dim, self.shape, self.num_classes, self.skip = latent_dim, tuple(shape), num_classes, skip
        out_dim = math.prod(shape)
        if skip and (tanh or latent_dim != out_dim):
            raise ConfigError(f"model.g_skip = {skip} adds z to G's output: it needs vector data with "
                              f"model.latent_dim equal to the data's dimension, got latent_dim {latent_dim} for "
                              f"{'images' if tanh else 'vectors'} of shape {tuple(shape)}")
        self.fourier, z_dim = _input_features(latent_dim, fourier)
        widths = (z_dim + (num_classes or 0), *hidden)
        layers: list[nn.Module] = []
        for a, b in zip(widths[:-1], widths[1:], strict=True):
            layers += [nn.Linear(a, b), nn.ReLU()]
        layers.append(nn.Linear(widths[-1], out_dim))
        if tanh:
            layers.append(nn.Tanh())
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        """z: (B, latent_dim), y: (B,) -> (B, *shape)."""
        _check_z(z, self.latent_dim)
        y = _labels(y, z.shape[0], self.num_classes)
        h = self.fourier(z)
        if y is not None:
            h = torch.cat([h, _one_hot(y, self.num_classes).to(z.dtype)], dim=1)
        out = self.net(h)
        return (out + self.skip * z if self.skip else out).view(z.shape[0], *self.shape)


class MLPDiscriminator(nn.Module):
    """x (flattened, + one-hot y for "concat") -> LeakyReLU layers -> score; the notes' 784-128-1 at slope 0.
    fourier > 0 reads [x, sin(2 pi x B), cos(2 pi x B)] instead of x (Tancik et al. 2020, eq. 5); fourier_groups
    = m >= 1 maps each of m packed samples by itself with one shared B (0: B mixes the whole input)."""

    def __init__(self, *, shape: tuple[int, ...], hidden: tuple[int, ...], num_classes: int | None = None,
                 condition: Condition = "none", slope: float = 0.2, fourier: float = 0.0,
                 fourier_groups: int = 0) -> None:
        super().__init__()
        self.shape, self.num_classes, self.condition = tuple(shape), num_classes, condition
        extra = num_classes if condition == "concat" else 0
        self.fourier, x_dim = _input_features(int(torch.tensor(shape).prod()), fourier, fourier_groups)
        widths = (x_dim + (extra or 0), *hidden)
        layers: list[nn.Module] = []
        for a, b in zip(widths[:-1], widths[1:], strict=True):
            layers += [nn.Linear(a, b), nn.LeakyReLU(slope)]
        self.features = nn.Sequential(*layers)
        self.score = nn.Linear(widths[-1], 1)
        self.embed = (nn.Embedding(_class_count(num_classes, condition), widths[-1]) if condition == "projection"
                      else None)
        if self.embed is not None:
            nn.init.normal_(self.embed.weight, 0.0, 0.02)
        self.classify = nn.Linear(widths[-1], _class_count(num_classes, condition)) if condition == "acgan" else None

    def score_and_logits(self, x: Tensor, y: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """x: (B, *shape), y: (B,) (optional for "acgan") -> scores (B,) and, for "acgan", class logits
        (B, num_classes), else None."""
        _check_x(x, self.shape, "discriminator")
        y = _d_labels(y, x.shape[0], self.num_classes, self.condition)
        h = self.fourier(x.flatten(1))
        if self.condition == "concat":
            h = torch.cat([h, _one_hot(y, self.num_classes).to(h.dtype)], dim=1)
        h = self.features(h)
        out = self.score(h).squeeze(1)
        if self.embed is not None:
            out = out + (self.embed(y) * h).sum(dim=1)
        return out, None if self.classify is None else self.classify(h)

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """x: (B, *shape), y: (B,) -> scores (B,)."""
        return self.score_and_logits(x, y)[0]


def dcgan_levels(size: int) -> tuple[int, int]:
    """(start size s0, number of stride-2 levels n) with size = s0 * 2^n, s0 <= 7: 28 -> (7, 2), 32 -> (4, 3)."""
    s, n = size, 0
    while s % 2 == 0 and s > 7:
        s, n = s // 2, n + 1
    if n == 0 or s < 3:
        raise ConfigError(f"DCGAN needs images whose side halves to 3..7 (e.g. 28, 32, 64), got {size}x{size}")
    return s, n


def _norm(kind: Norm, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "layer":
        return nn.GroupNorm(1, channels)       # layer norm over (C, H, W), as WGAN-GP advises for its critic
    return nn.Identity()


class ConditionalBatchNorm2d(nn.Module):
    """Batch norm without affine, then a per-class gain and bias: gamma_y * x_hat + beta_y (de Vries et al. 2017).

    x: (B, C, H, W), y: (B,) -> (B, C, H, W). gamma starts near 1 and beta at 0, so an untrained layer is batch norm.
    """

    def __init__(self, channels: int, num_classes: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=False)
        self.gain = nn.Parameter(torch.ones(num_classes, channels))
        self.bias = nn.Parameter(torch.zeros(num_classes, channels))

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        """x: (B, C, H, W), y: (B,) class indices -> (B, C, H, W)."""
        return self.bn(x) * self.gain[y][:, :, None, None] + self.bias[y][:, :, None, None]


class DCGANGenerator(nn.Module):
    """z -> (s0 x s0) by a transposed conv, then n fractionally-strided convs with batchnorm + ReLU, tanh output.

    Radford et al. 2016, sec. 3: no pooling, no hidden fully connected layers, batchnorm, ReLU in G; widths
    halve as the resolution doubles, from channels * 2^(n-1) down to `channels`. A conditional G takes the
    one-hot label concatenated to z (norm "batch") or through conditional batch norm in every layer (norm "cbn").
    """

    def __init__(self, *, latent_dim: int, shape: tuple[int, int, int], channels: int = 64,
                 num_classes: int | None = None, norm: GNorm = "batch") -> None:
        super().__init__()
        c_out, h, w = shape
        if h != w:
            raise ConfigError(f"DCGAN needs square images, got {h}x{w} (set data.image_size)")
        s0, n = dcgan_levels(h)
        self.latent_dim, self.shape, self.num_classes, self.norm = latent_dim, tuple(shape), num_classes, norm
        widths = [channels * 2 ** (n - 1 - i) for i in range(n)]
        z_in = latent_dim + ((num_classes or 0) if norm == "batch" else 0)

        def bn(c: int) -> nn.Module:
            return nn.BatchNorm2d(c) if norm == "batch" else ConditionalBatchNorm2d(c, _class_count(num_classes, "cbn"))

        layers: list[nn.Module] = [nn.ConvTranspose2d(z_in, widths[0], s0, 1, 0, bias=False), bn(widths[0]), nn.ReLU()]
        for a, b in zip(widths[:-1], widths[1:], strict=True):
            layers += [nn.ConvTranspose2d(a, b, 4, 2, 1, bias=False), bn(b), nn.ReLU()]
        layers += [nn.ConvTranspose2d(widths[-1], c_out, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        _dcgan_init(self)

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        """z: (B, latent_dim), y: (B,) -> images (B, C, H, W) in [-1, 1]."""
        _check_z(z, self.latent_dim)
        y = _labels(y, z.shape[0], self.num_classes)
        if y is not None and self.norm == "batch":
            z = torch.cat([z, _one_hot(y, self.num_classes).to(z.dtype)], dim=1)
        h = z[:, :, None, None]
        for layer in self.net:
            h = layer(h, y) if isinstance(layer, ConditionalBatchNorm2d) else layer(h)
        return h


class DCGANDiscriminator(nn.Module):
    """Strided convs with LeakyReLU(0.2) (no norm on the first), then one s0 x s0 conv to a score (Radford 2016).

    With condition "acgan" a second s0 x s0 conv gives class logits (Odena et al. 2017): see `score_and_logits`.
    """

    def __init__(self, *, shape: tuple[int, int, int], channels: int = 64, num_classes: int | None = None,
                 condition: Condition = "none", norm: Norm = "batch", slope: float = 0.2) -> None:
        super().__init__()
        c_in, h, w = shape
        if h != w:
            raise ConfigError(f"DCGAN needs square images, got {h}x{w} (set data.image_size)")
        s0, n = dcgan_levels(h)
        self.shape, self.num_classes, self.condition = tuple(shape), num_classes, condition
        widths = [channels * 2 ** i for i in range(n)]
        first = c_in + (_class_count(num_classes, condition) if condition == "concat" else 0)
        layers: list[nn.Module] = [nn.Conv2d(first, widths[0], 4, 2, 1), nn.LeakyReLU(slope)]
        for a, b in zip(widths[:-1], widths[1:], strict=True):
            layers += [nn.Conv2d(a, b, 4, 2, 1, bias=norm == "none"), _norm(norm, b), nn.LeakyReLU(slope)]
        self.features = nn.Sequential(*layers)
        self.score = nn.Conv2d(widths[-1], 1, s0, 1, 0)
        self.embed = (nn.Embedding(_class_count(num_classes, condition), widths[-1]) if condition == "projection"
                      else None)
        self.classify = (nn.Conv2d(widths[-1], _class_count(num_classes, condition), s0, 1, 0)
                         if condition == "acgan" else None)
        _dcgan_init(self)

    def score_and_logits(self, x: Tensor, y: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """x: (B, C, H, W), y: (B,) (optional for "acgan") -> scores (B,) and, for "acgan", class logits
        (B, num_classes), else None."""
        _check_x(x, self.shape, "discriminator")
        y = _d_labels(y, x.shape[0], self.num_classes, self.condition)
        if self.condition == "concat":
            planes = _one_hot(y, self.num_classes).to(x.dtype)[:, :, None, None]
            x = torch.cat([x, planes.expand(-1, -1, *x.shape[2:])], dim=1)
        h = self.features(x)
        out = self.score(h).flatten(1).squeeze(1)
        if self.embed is not None:
            out = out + (self.embed(y) * h.sum(dim=(2, 3))).sum(dim=1)
        return out, None if self.classify is None else self.classify(h).flatten(1)

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """x: (B, C, H, W), y: (B,) -> scores (B,)."""
        return self.score_and_logits(x, y)[0]


def _dcgan_init(module: nn.Module) -> None:
    """Weights (and projection embeddings) ~ N(0, 0.02), batchnorm scales ~ N(1, 0.02) (Radford et al. 2016, sec. 4)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, 0.0, 0.02)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)) and m.affine:
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
        elif isinstance(m, ConditionalBatchNorm2d):
            nn.init.normal_(m.gain, 1.0, 0.02)
            nn.init.zeros_(m.bias)
