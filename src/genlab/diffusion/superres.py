"""Super-resolution by concatenation (Saharia et al. 2021, SR3; the "switch" of Rombach et al. 2022, sec. 3.3):
the low-resolution input, resized, is concatenated to the noisy image; scored by PSNR against the original."""
from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import Tensor

from genlab.errors import DataError, ModelInputError


def psnr(x: Tensor, ref: Tensor) -> Tensor:
    """Peak signal-to-noise ratio in dB of images x against ref, both (B, C, H, W) in [-1, 1] (peak-to-peak 2): (B,)."""
    if x.shape != ref.shape:
        raise ModelInputError(f"PSNR needs images of one shape, got {tuple(x.shape)} and {tuple(ref.shape)}")
    mse = (x.double() - ref.double()).pow(2).flatten(1).mean(dim=1)
    return 10.0 * torch.log10(4.0 / mse.clamp_min(1e-20))


def low_res_path(path: str | Path) -> Path:
    """The path of a readable low-resolution condition image (header only read), else a one-line DataError."""
    from PIL import Image, UnidentifiedImageError

    p = Path(path)
    if not p.is_file():
        raise DataError(f"low-resolution image {p} not found (expected a PNG or JPEG file)")
    try:
        with Image.open(p):
            pass
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError):
        raise DataError(f"{p} is not an image PIL can read (expected a PNG or JPEG file)") from None
    return p


def load_low_res(path: str | Path, *, channels: int, size: int) -> Tensor:
    """A PNG/JPEG as a low-resolution condition (1, channels, size, size) in [-1, 1], resized to size x size."""
    from PIL import Image, UnidentifiedImageError

    from genlab.data.imaging import pil_to_chw

    p = low_res_path(path)
    try:
        with Image.open(p) as img:
            arr = pil_to_chw(img, channels=channels, size=size)
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError):
        raise DataError(f"{p} is not an image PIL can read (expected a PNG or JPEG file)") from None
    return torch.tensor(arr, dtype=torch.float32)[None] / 127.5 - 1.0


def psnr_mean(values: Tensor) -> float:
    """Mean PSNR over images, in dB (the mean of per-image values, as SR3 reports)."""
    return float(values.mean()) if len(values) else math.nan
