"""Bring images to one channel count and size: shorter side resized, then centre-cropped to a square."""
from __future__ import annotations

import numpy as np
from PIL import Image

from genlab.errors import DataError


def fit_square(img: Image.Image, size: int) -> Image.Image:
    """Resize so the shorter side is `size` (bicubic, antialiased), then crop the centre size x size square."""
    w, h = img.size
    if (w, h) != (size, size):
        scale = size / min(w, h)
        new_w, new_h = max(size, round(w * scale)), max(size, round(h * scale))
        img = img.resize((new_w, new_h), Image.Resampling.BICUBIC)
        left, top = (new_w - size) // 2, (new_h - size) // 2
        img = img.crop((left, top, left + size, top + size))
    return img


def to_mode(img: Image.Image, channels: int) -> Image.Image:
    """Convert to "L" (1 channel) or "RGB" (3), laying transparent pixels over white; 16-bit grey is scaled by 1/257."""
    if img.mode.startswith("I;16"):  # PIL's own convert("L") would clip every level above 255 to white
        levels = np.asarray(img, dtype=np.float64) / 257.0
        img = Image.fromarray(np.round(levels).clip(0, 255).astype(np.uint8), "L")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    return img.convert("L" if channels == 1 else "RGB")


def pil_to_chw(img: Image.Image, *, channels: int, size: int | None) -> np.ndarray:
    """A PIL image as uint8 (C, H, W) with the given channels, fitted to size x size when size is set."""
    img = to_mode(img, channels)
    if size is not None:
        img = fit_square(img, size)
    arr = np.asarray(img, dtype=np.uint8)
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


def luminance(x: np.ndarray) -> np.ndarray:
    """RGB uint8 (N, 3, H, W) -> grey uint8 (N, 1, H, W) with the ITU-R 601-2 weights PIL uses for mode "L"."""
    r, g, b = (x[:, i].astype(np.uint32) for i in range(3))
    return ((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16).astype(np.uint8)[:, None]


def check_image_options(*, image_size: int | None, channels: int | None, where: str) -> None:
    """Refuse an image_size below one pixel or a channel count other than 1 or 3, before any file is read."""
    if channels is not None and channels not in (1, 3):
        raise DataError(f"{where}: channels must be 1 or 3, got {channels}")
    if image_size is not None and image_size < 1:
        raise DataError(f"{where}: image_size must be a positive number of pixels, got {image_size}")


def conform(x: np.ndarray, *, image_size: int | None, channels: int | None, where: str) -> np.ndarray:
    """uint8 (N, C, H, W) -> uint8 (N, channels, image_size, image_size); unset options keep what is there."""
    check_image_options(image_size=image_size, channels=channels, where=where)
    c = x.shape[1]
    if channels is not None and channels != c:
        if c == 1:
            x = np.repeat(x, 3, axis=1)
        elif c == 3:
            x = luminance(x)
        else:
            raise DataError(f"{where}: cannot convert {c}-channel images to {channels} channels (expected 1 or 3)")
    if image_size is not None and x.shape[2:] != (image_size, image_size):
        out = np.empty((len(x), x.shape[1], image_size, image_size), dtype=np.uint8)
        for i, item in enumerate(x):
            hw_or_hwc = item[0] if x.shape[1] == 1 else item.transpose(1, 2, 0)
            out[i] = pil_to_chw(Image.fromarray(np.ascontiguousarray(hw_or_hwc)), channels=x.shape[1], size=image_size)
        x = out
    return np.ascontiguousarray(x)
