"""PacGAN packing (Lin et al. 2018): the discriminator judges m samples of one source at a time.

A batch of B samples becomes B / m packed inputs, each the m samples of one group concatenated along the
first feature axis: vectors (B, D) -> (B / m, m * D), images (B, C, H, W) -> (B / m, m * C, H, W). Real and
generated samples are packed separately, so no packed input mixes the two sources (Lin et al. 2018, sec. 3).
PackedFourierFeatures gives an MLP discriminator Fourier features of each packed sample alone.
"""
from __future__ import annotations

from torch import Tensor, nn

from genlab.errors import ConfigError, ModelInputError
from genlab.nn.embeddings import FourierFeatures

PACK_SIZES = (1, 2, 3, 4)


def packed_shape(shape: tuple[int, ...], m: int) -> tuple[int, ...]:
    """The shape of one packed input of m samples of `shape`: (D,) -> (m D,), (C, H, W) -> (m C, H, W)."""
    check_pack(m)
    return (m * shape[0], *shape[1:])


def check_pack(m: int) -> None:
    if m not in PACK_SIZES:
        raise ConfigError(f"gan.pack must be one of {', '.join(map(str, PACK_SIZES))} (samples per D input), got {m}")


def pack(x: Tensor, m: int) -> Tensor:
    """x: (B, F, ...) -> (B / m, m * F, ...); packed input i holds samples i*m .. i*m + m - 1 in order."""
    if x.shape[0] % m:
        raise ModelInputError(f"packing m = {m} samples per D input needs a batch divisible by {m}, "
                              f"got {x.shape[0]} (set train.batch_size to a multiple of gan.pack)")
    return x.reshape(x.shape[0] // m, m * x.shape[1], *x.shape[2:])


class PackedFourierFeatures(nn.Module):
    """The same Fourier map on each of the m samples of a packed input, which it leaves unmixed:
    (B, m d) -> (B, m (d + 2 F)) (Tancik et al. 2020, eq. 5, per sample; Lin et al. 2018 for the packing)."""

    def __init__(self, dim: int, *, groups: int, scale: float) -> None:
        super().__init__()
        if groups < 1 or dim % groups:
            raise ConfigError(f"per-sample Fourier features need an input width divisible by the {groups} packed "
                              f"samples, got {dim}")
        self.groups = groups
        self.sample = FourierFeatures(dim // groups, scale=scale)
        self.out_dim = groups * self.sample.out_dim

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, m d) -> (B, m (d + 2 F)), sample i's features at [i (d + 2 F), (i + 1) (d + 2 F))."""
        return self.sample(x.reshape(x.shape[0] * self.groups, -1)).reshape(x.shape[0], -1)
