"""PacGAN packing (Lin et al. 2018): the discriminator judges m samples of one source at a time.

A batch of B samples becomes B / m packed inputs, each the m samples of one group concatenated along the
first feature axis: vectors (B, D) -> (B / m, m * D), images (B, C, H, W) -> (B / m, m * C, H, W). Real and
generated samples are packed separately, so no packed input mixes the two sources (Lin et al. 2018, sec. 3).
"""
from __future__ import annotations

from torch import Tensor

from genlab.errors import ConfigError, ModelInputError

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
