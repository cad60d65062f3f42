"""Image grids and strips (denoising trajectories, interpolations) written as PNG with PIL."""
from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from genlab.data.transforms import to_uint8
from genlab.errors import ModelInputError
from genlab.files import atomic_target

ImageBatch = Tensor | np.ndarray


def as_uint8_images(images: ImageBatch) -> np.ndarray:
    """Images (N, C, H, W), C in {1, 3}: bytes (any integer dtype, 0..255) or float in [-1, 1] -> uint8 numpy."""
    x = torch.as_tensor(images).detach().cpu()
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise ModelInputError(f"expected images (N, C, H, W) with C = 1 or 3, got shape {tuple(x.shape)}")
    if x.is_floating_point():
        return to_uint8(x).numpy()
    if x.dtype != torch.uint8 and x.numel() and (x.min() < 0 or x.max() > 255):
        raise ModelInputError(f"integer images must hold bytes 0..255, got {x.dtype} values "
                              f"{x.min().item()}..{x.max().item()} (pass float images in [-1, 1] instead)")
    return x.to(torch.uint8).numpy()


def tile(rows: Sequence[np.ndarray], *, padding: int, scale: int, pad_value: int) -> np.ndarray:
    """Rows of uint8 images (K_i, C, H, W) -> one picture uint8 (H_total, W_total, C); short rows end in padding.

    Each image is enlarged `scale` times (nearest neighbour) and surrounded by `padding` pixels of `pad_value`.
    """
    if scale < 1 or padding < 0 or not 0 <= pad_value <= 255:
        raise ModelInputError(f"expected scale >= 1, padding >= 0 and pad_value in 0..255, got scale={scale}, "
                              f"padding={padding}, pad_value={pad_value}")
    shapes = {r.shape[1:] for r in rows if len(r)}
    if len(shapes) != 1:
        raise ModelInputError(f"expected non-empty rows of images sharing one (C, H, W), got {sorted(shapes)}")
    (c, h, w), = shapes
    cell_h, cell_w = h * scale + padding, w * scale + padding
    ncol = max(len(r) for r in rows)
    canvas = np.full((padding + len(rows) * cell_h, padding + ncol * cell_w, c), pad_value, dtype=np.uint8)
    for i, row in enumerate(rows):
        for j, img in enumerate(row):
            big = img.transpose(1, 2, 0).repeat(scale, axis=0).repeat(scale, axis=1)
            top, left = padding + i * cell_h, padding + j * cell_w
            canvas[top:top + h * scale, left:left + w * scale] = big
    return canvas


def save_picture(canvas: np.ndarray, path: str | os.PathLike[str]) -> Path:
    """Write uint8 (H, W, C) as an image file (format from the suffix, PNG by default), atomically."""
    path = Path(path)
    img = Image.fromarray(canvas[..., 0] if canvas.shape[2] == 1 else canvas)
    image_format = Image.registered_extensions().get(path.suffix.lower(), "PNG")
    with atomic_target(path) as tmp:
        img.save(tmp, format=image_format)
    return path


def readable_scale(height: int, *, target: int = 56) -> int:
    """The whole-number upscaling that shows an image of `height` pixels at least `target` pixels tall (MNIST: 2)."""
    return max(1, math.ceil(target / max(1, height)))


def save_grid(images: ImageBatch, path: str | os.PathLike[str], *, nrow: int | None = None, padding: int = 2,
              scale: int = 1, pad_value: int = 255) -> Path:
    """Images (N, C, H, W), uint8 or float in [-1, 1], as a grid of `nrow` per row (default ceil(sqrt(N)))."""
    x = as_uint8_images(images)
    if len(x) == 0:
        raise ModelInputError("save_grid needs at least one image, got none")
    if nrow is not None and nrow < 1:
        raise ModelInputError(f"save_grid needs nrow >= 1 images per row, got {nrow}")
    nrow = nrow or math.ceil(math.sqrt(len(x)))
    rows = [x[i:i + nrow] for i in range(0, len(x), nrow)]
    return save_picture(tile(rows, padding=padding, scale=scale, pad_value=pad_value), path)


def save_strip(rows: Sequence[ImageBatch], path: str | os.PathLike[str], *, padding: int = 2, scale: int = 1,
               pad_value: int = 255) -> Path:
    """One picture row per entry of `rows` (each (K, C, H, W)): e.g. x_T ... x_0 of a few samples."""
    if not rows:
        raise ModelInputError("save_strip needs at least one row of images, got none")
    return save_picture(tile([as_uint8_images(r) for r in rows], padding=padding, scale=scale,
                             pad_value=pad_value), path)


def save_side_by_side(columns: Sequence[ImageBatch], path: str | os.PathLike[str], *, rows: int = 16,
                      padding: int = 2, scale: int = 1, pad_value: int = 255) -> Path:
    """Item i of every column next to each other (e.g. input | output | target), `rows` items down, further
    items in further groups to the right, a blank cell between groups; columns: (N, C, H, W) each."""
    cols = [as_uint8_images(c) for c in columns]
    if not cols or len({len(c) for c in cols}) != 1 or len(cols[0]) == 0:
        raise ModelInputError(f"save_side_by_side needs columns of one non-zero length, got {[len(c) for c in cols]}")
    if len({c.shape[1] for c in cols}) > 1:                      # grey next to colour: show the grey as RGB
        cols = [np.repeat(c, 3, axis=1) if c.shape[1] == 1 else c for c in cols]
    n = len(cols[0])
    blank = np.full_like(cols[0][:1], pad_value)
    lines = []
    for r in range(min(rows, n)):
        cells = []
        for start in range(r, n, rows):
            cells += [*(c[start:start + 1] for c in cols), blank]
        lines.append(np.concatenate(cells[:-1]))
    return save_picture(tile(lines, padding=padding, scale=scale, pad_value=pad_value), path)
