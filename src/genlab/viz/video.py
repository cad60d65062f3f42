"""Clips as pictures: an animated GIF (each frame a grid of the clips) and a frame strip PNG (a row per clip)."""
from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
from PIL import Image
from torch import Tensor

from genlab.errors import ModelInputError
from genlab.files import atomic_target
from genlab.viz.grid import as_uint8_images, save_picture, tile


def _clip_bytes(clips: Tensor | np.ndarray) -> np.ndarray:
    """Clips (N, T, C, H, W), uint8 or float in [-1, 1] -> uint8 numpy of that shape."""
    if clips.ndim != 5 or clips.shape[0] == 0 or clips.shape[1] == 0:
        raise ModelInputError(f"expected clips (N, T, C, H, W) with N, T >= 1, got shape {tuple(clips.shape)}")
    n, t = clips.shape[:2]
    flat = clips.reshape(n * t, *clips.shape[2:])
    return as_uint8_images(flat).reshape(n, t, *clips.shape[2:])


def save_strip_png(clips: Tensor | np.ndarray, path: str | os.PathLike[str], *, scale: int = 2,
                   padding: int = 2) -> Path:
    """Clips (N, T, C, H, W) as one PNG: clip i on row i, frame f in column f."""
    x = _clip_bytes(clips)
    return save_picture(tile(list(x), padding=padding, scale=scale, pad_value=255), path)


def save_gif(clips: Tensor | np.ndarray, path: str | os.PathLike[str], *, nrow: int | None = None, scale: int = 2,
             padding: int = 2, frame_ms: int = 120) -> Path:
    """Clips (N, T, C, H, W) as an animated GIF looping forever: frame f shows frame f of every clip in a grid."""
    x = _clip_bytes(clips)
    n = len(x)
    nrow = nrow or math.ceil(math.sqrt(n))
    pictures = []
    for f in range(x.shape[1]):
        rows = [x[i:i + nrow, f] for i in range(0, n, nrow)]
        canvas = tile(rows, padding=padding, scale=scale, pad_value=255)
        pictures.append(Image.fromarray(canvas[..., 0] if canvas.shape[2] == 1 else canvas))
    path = Path(path)
    with atomic_target(path) as tmp:
        pictures[0].save(tmp, format="GIF", save_all=True, append_images=pictures[1:], duration=frame_ms, loop=0)
    return path
