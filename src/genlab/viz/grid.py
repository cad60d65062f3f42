"""Image grids and strips (denoising trajectories, interpolations) written as PNG with PIL, optionally with
row and column labels (class per row, strength or t per column) drawn in PIL's embedded default font."""
from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from torch import Tensor

from genlab.data.transforms import to_uint8
from genlab.errors import ModelInputError
from genlab.files import atomic_target

ImageBatch = Tensor | np.ndarray
Labels = Sequence[str] | None
LABEL_GAP = 3                    # pixels between a label and its cells


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


def tile(rows: Sequence[np.ndarray], *, padding: int, scale: int, pad_value: int, row_labels: Labels = None,
         col_labels: Labels = None, title: str | None = None) -> np.ndarray:
    """Rows of uint8 images (K_i, C, H, W) -> one picture uint8 (H_total, W_total, C); short rows end in padding.

    Each image is enlarged `scale` times (nearest neighbour) and surrounded by `padding` pixels of `pad_value`.
    `row_labels` (one per row) go in a left margin, `col_labels` (one per column, "" for none) and `title` in a
    top margin; without them the picture is the bare grid.
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
    if row_labels is None and col_labels is None and title is None:
        return canvas
    if row_labels is not None and len(row_labels) != len(rows):
        raise ModelInputError(f"expected one row label per row ({len(rows)}), got {len(row_labels)}")
    if col_labels is not None and len(col_labels) > ncol:
        raise ModelInputError(f"expected at most one column label per column ({ncol}), got {len(col_labels)}")
    return _labelled(canvas, row_labels=row_labels, col_labels=col_labels, title=title, cell=(cell_h, cell_w),
                     padding=padding, pad_value=pad_value)


def _line_height(font: ImageFont.FreeTypeFont | ImageFont.ImageFont) -> int:
    """Pixels of one line of labels: the font's height plus a gap."""
    return int(ImageDraw.Draw(Image.new("L", (1, 1))).textbbox((0, 0), "Ag0", font=font)[3]) + LABEL_GAP


def label_margins(*, row_labels: Labels = None, col_labels: Labels = None, title: str | None = None) -> tuple[int, int]:
    """(top, left): the pixels labels add above a grid (a line for column labels, one for a title) and to its left
    (the widest row label and a gap either side). A long title may also widen the picture on the right."""
    font = ImageFont.load_default()
    measure = ImageDraw.Draw(Image.new("L", (1, 1)))
    left = max(int(measure.textlength(t, font=font)) for t in row_labels) + 2 * LABEL_GAP if row_labels else 0
    return _line_height(font) * ((col_labels is not None) + (title is not None)), left


def _labelled(canvas: np.ndarray, *, row_labels: Labels, col_labels: Labels, title: str | None,
              cell: tuple[int, int], padding: int, pad_value: int) -> np.ndarray:
    """`canvas` (H, W, C) with a left margin of right-aligned row labels and a top margin of centred column labels
    under a left-aligned title, dark ink on a light `pad_value` (light on dark)."""
    font = ImageFont.load_default()
    line = _line_height(font)
    top, left = label_margins(row_labels=row_labels, col_labels=col_labels, title=title)
    height, width, channels = canvas.shape
    measure = ImageDraw.Draw(Image.new("L", (1, 1)))
    title_width = 0 if title is None else left + padding + int(measure.textlength(title, font=font)) + LABEL_GAP
    img = Image.new("L" if channels == 1 else "RGB", (max(width + left, title_width), height + top),
                    pad_value if channels == 1 else (pad_value,) * 3)
    img.paste(Image.fromarray(canvas[..., 0] if channels == 1 else canvas), (left, top))
    draw = ImageDraw.Draw(img)
    ink = 0 if pad_value > 127 else 255
    fill = ink if channels == 1 else (ink,) * 3
    cell_h, cell_w = cell
    if title is not None:
        draw.text((left + padding, line // 2), title, fill=fill, font=font, anchor="lm")
    for j, text in enumerate(col_labels or ()):
        draw.text((left + padding + j * cell_w + (cell_w - padding) // 2, top - line // 2), text, fill=fill,
                  font=font, anchor="mm")
    for i, text in enumerate(row_labels or ()):
        draw.text((left - LABEL_GAP, top + padding + i * cell_h + (cell_h - padding) // 2), text, fill=fill,
                  font=font, anchor="rm")
    out = np.asarray(img, dtype=np.uint8)
    return out[..., None] if channels == 1 else out


def save_picture(canvas: np.ndarray, path: str | os.PathLike[str]) -> Path:
    """Write uint8 (H, W, C) as an image file (format from the suffix, PNG by default), atomically."""
    path = Path(path)
    img = Image.fromarray(canvas[..., 0] if canvas.shape[2] == 1 else canvas)
    image_format = Image.registered_extensions().get(path.suffix.lower(), "PNG")
    with atomic_target(path) as tmp:
        img.save(tmp, format=image_format)
    return path


def path_positions(steps: int) -> list[str]:
    """Column labels of an interpolation path with `steps` points, endpoints included: t = 0 ... 1."""
    return [f"t={t:.2g}" if i == 0 else f"{t:.2g}" for i, t in enumerate(np.linspace(0.0, 1.0, steps))]


def class_columns(n: int, classes: int, *, title: str = "column: label") -> dict[str, Any]:
    """`save_grid` options for n samples whose labels cycle 0..classes-1: one column per label, headed by it."""
    columns = min(classes, n)
    return {"nrow": columns, "col_labels": [str(k) for k in range(columns)], "title": title}


def readable_scale(height: int, *, target: int = 56) -> int:
    """The whole-number upscaling that shows an image of `height` pixels at least `target` pixels tall (MNIST: 2)."""
    return max(1, math.ceil(target / max(1, height)))


def save_grid(images: ImageBatch, path: str | os.PathLike[str], *, nrow: int | None = None, padding: int = 2,
              scale: int = 1, pad_value: int = 255, row_labels: Labels = None, col_labels: Labels = None,
              title: str | None = None) -> Path:
    """Images (N, C, H, W), uint8 or float in [-1, 1], as a grid of `nrow` per row (default ceil(sqrt(N))),
    optionally labelled (see `tile`)."""
    x = as_uint8_images(images)
    if len(x) == 0:
        raise ModelInputError("save_grid needs at least one image, got none")
    if nrow is not None and nrow < 1:
        raise ModelInputError(f"save_grid needs nrow >= 1 images per row, got {nrow}")
    nrow = nrow or math.ceil(math.sqrt(len(x)))
    rows = [x[i:i + nrow] for i in range(0, len(x), nrow)]
    return save_picture(tile(rows, padding=padding, scale=scale, pad_value=pad_value, row_labels=row_labels,
                             col_labels=col_labels, title=title), path)


def save_strip(rows: Sequence[ImageBatch], path: str | os.PathLike[str], *, padding: int = 2, scale: int = 1,
               pad_value: int = 255, row_labels: Labels = None, col_labels: Labels = None,
               title: str | None = None) -> Path:
    """One picture row per entry of `rows` (each (K, C, H, W)): e.g. x_T ... x_0 of a few samples; optionally
    labelled (see `tile`)."""
    if not rows:
        raise ModelInputError("save_strip needs at least one row of images, got none")
    return save_picture(tile([as_uint8_images(r) for r in rows], padding=padding, scale=scale,
                             pad_value=pad_value, row_labels=row_labels, col_labels=col_labels, title=title), path)


def save_side_by_side(columns: Sequence[ImageBatch], path: str | os.PathLike[str], *, rows: int = 16,
                      padding: int = 2, scale: int = 1, pad_value: int = 255, names: Labels = None) -> Path:
    """Item i of every column next to each other (e.g. input | output | target), `rows` items down, further
    items in further groups to the right, a blank cell between groups; columns: (N, C, H, W) each; `names`
    (one per column) head every group."""
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
    if names is not None and len(names) != len(cols):
        raise ModelInputError(f"expected one name per column ({len(cols)}), got {len(names)}")
    groups = -(-n // rows)
    heads = None if names is None else ([*names, ""] * groups)[:groups * (len(cols) + 1) - 1]
    return save_picture(tile(lines, padding=padding, scale=scale, pad_value=pad_value, col_labels=heads), path)
