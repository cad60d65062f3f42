"""Inpainting masks: the convention m = 1 known (kept), m = 0 to fill, named masks, PNG masks and the exact paste.

A named mask says which region is *filled*: "left-half" hides the left half of the image and keeps the right,
"center" hides a central box of half the side, "border" hides everything outside that box (uncropping,
Saharia et al. 2022, sec. 4). A PNG mask is read as grey levels: white (>= 128) = keep, black = fill, and
must have the run's image size (no resizing: a mask is a statement about pixels). Every inpainting method
ends with `keep_known`, so the known pixels of its output are the given ones, bit for bit.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from genlab.errors import DataError, ModelInputError

MASK_NAMES: tuple[str, ...] = ("center", "left-half", "right-half", "top-half", "bottom-half", "border")
"""Named masks, each named after the region it fills."""


def named_mask(name: str, height: int, width: int) -> Tensor:
    """The named mask as (1, 1, height, width) float: 1 = keep, 0 = fill (the region the name says)."""
    fill = torch.zeros(height, width, dtype=torch.bool)
    h2, w2 = height // 2, width // 2
    top, left = (height - h2) // 2, (width - w2) // 2          # the central box of half the side
    if name == "left-half":
        fill[:, :w2] = True
    elif name == "right-half":
        fill[:, width - w2:] = True
    elif name == "top-half":
        fill[:h2] = True
    elif name == "bottom-half":
        fill[height - h2:] = True
    elif name in ("center", "border"):
        fill[top:top + h2, left:left + w2] = True
        fill = ~fill if name == "border" else fill
    else:
        raise ModelInputError(f"unknown mask {name!r}; expected a PNG file (white = keep, black = fill) or one of: "
                              f"{', '.join(MASK_NAMES)}")
    return (~fill).float()[None, None]


def load_mask_png(path: str | Path, height: int, width: int) -> Tensor:
    """A mask image as (1, 1, height, width) float: grey level >= 128 (white) = 1 keep, below (black) = 0 fill."""
    from PIL import Image, UnidentifiedImageError

    p = Path(path)
    if not p.is_file():
        raise DataError(f"mask {p} not found; expected a PNG (white = keep, black = fill) or one of: "
                        f"{', '.join(MASK_NAMES)}")
    try:
        with Image.open(p) as img:
            size = img.size
            grey = torch.frombuffer(bytearray(img.convert("L").tobytes()), dtype=torch.uint8)
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError):
        raise DataError(f"mask {p} is not an image PIL can read (expected a PNG, white = keep)") from None
    if size != (width, height):
        raise ModelInputError(f"mask {p} is {size[0]}x{size[1]} pixels; this run's images are {width}x{height}")
    return (grey.reshape(1, 1, height, width) >= 128).float()


def resolve_mask(mask: str | Path | Tensor, height: int, width: int) -> Tensor:
    """A mask given by name, PNG path or tensor (1 or n, 1, H, W) as float {0, 1}: (1 or n, 1, height, width)."""
    if isinstance(mask, Tensor):
        if mask.ndim != 4 or mask.shape[1] != 1 or tuple(mask.shape[2:]) != (height, width):
            raise ModelInputError(f"a mask tensor must be (1 or n, 1, {height}, {width}), got {tuple(mask.shape)}")
        return (mask > 0.5).float()
    if isinstance(mask, str) and mask in MASK_NAMES:
        return named_mask(mask, height, width)
    if isinstance(mask, str) and not mask.lower().endswith((".png", ".jpg", ".jpeg", ".bmp")) \
            and not Path(mask).exists():
        named_mask(mask, height, width)                         # an unknown name: the one-line list of names
    return load_mask_png(mask, height, width)


def check_known(known: Tensor, mask: str | Path | Tensor, shape: tuple[int, ...], n: int) -> tuple[Tensor, Tensor]:
    """known (1 or n, C, H, W) in [-1, 1] and a mask (name, PNG or (1 or n, 1, H, W)), checked against the run's
    (C, H, W): (known, mask (1 or n, 1, H, W) float in {0, 1})."""
    c, h, w = shape
    if known.ndim != 4 or known.shape[0] not in (1, n) or tuple(known.shape[1:]) != (c, h, w):
        got = tuple(known.shape)
        what = (f"{got[1]} channel(s)" if known.ndim == 4 and got[1] != c and tuple(got[2:]) == (h, w)
                else f"shape {got}")
        raise ModelInputError(f"the images to inpaint have {what}; this run's images are (1 or {n}, {c}, {h}, {w})")
    mask = resolve_mask(mask, h, w)
    if mask.shape[0] not in (1, n):
        raise ModelInputError(f"{mask.shape[0]} masks for {n} images; expected 1 or {n}")
    return known.float(), mask


def masked_condition(known: Tensor, mask: Tensor) -> Tensor:
    """Palette's condition (Saharia et al. 2022, sec. 3): the known pixels and the mask, (B, C + 1, H, W)."""
    mask = mask.expand(known.shape[0], 1, -1, -1).to(known.dtype)
    return torch.cat([known * mask, mask], dim=1)


def keep_known(x: Tensor, known: Tensor, mask: Tensor) -> Tensor:
    """m * known + (1 - m) * x, exactly: the known pixels are copied, not computed. x: (B, C, H, W)."""
    return torch.where(mask.to(x.device) > 0.5, known.to(x.device, x.dtype), x)
