"""Pixel transforms between stored uint8 images and the float range [-1, 1] models see (Ho et al. 2020, sec. 3.3)."""
from __future__ import annotations

import torch
from torch import Tensor

from genlab.errors import ModelInputError


def to_float(x: Tensor) -> Tensor:
    """uint8 images (..., C, H, W) in 0..255 -> float32 in [-1, 1], the same shape: x / 127.5 - 1."""
    if x.dtype != torch.uint8:
        raise ModelInputError(f"to_float expects uint8 images, got {x.dtype}")
    return x.to(torch.float32) / 127.5 - 1.0


def to_uint8(x: Tensor) -> Tensor:
    """Float images in [-1, 1] (any shape) -> uint8 0..255, clamped and rounded to nearest; inverse of to_float."""
    if not x.is_floating_point():
        raise ModelInputError(f"to_uint8 expects floating-point images in [-1, 1], got {x.dtype}")
    return ((x.to(torch.float32) + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8)
