"""Inpainting a diffusion run: the three methods `genlab inpaint` offers and the images they take.

  replace  any unconditional (or conditional) pixel-space run, no training: the known pixels are replaced
           by a draw of q(x_t | x_0) at every step (Song et al. 2021, app. I); one network call per step
  repaint  the same plus RePaint's jumps back (Lugmayr et al. 2022, sec. 4.2): jump_length, resample
  palette  a run trained with condition.kind = "masked" (Saharia et al. 2022): the network sees the known pixels
           and the mask, and samples with the run's own sampler (DDIM by default); one call per step

Every method returns images whose known pixels are the given ones exactly (genlab.diffusion.masks.keep_known).
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from torch import Tensor

from genlab.errors import DataError, ModelInputError

if TYPE_CHECKING:
    from genlab.training.run import Run

Method = Literal["replace", "repaint", "palette"]
METHODS: tuple[str, ...] = ("replace", "repaint", "palette")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")


def method_options(kind: str, method: str, *, steps: int | None = None, jump_length: int | None = None,
                   resample: int | None = None) -> dict[str, Any]:
    """The sampling options of an inpainting method for a run whose condition.kind is `kind`."""
    if method not in METHODS:
        raise ModelInputError(f"unknown inpainting method {method!r}; expected one of: {', '.join(METHODS)}")
    if method != "repaint" and (jump_length is not None or resample is not None):
        flag = "--jump-length" if jump_length is not None else "--resample"
        raise ModelInputError(f"{flag} applies to --method repaint, not {method}")
    if method == "palette" and kind != "masked":
        raise ModelInputError(f"--method palette needs a run trained with condition.kind = 'masked'; this run's "
                              f"condition.kind is '{kind}': use --method replace or repaint")
    options: dict[str, Any] = {"steps": steps}
    if method != "palette":
        options["sampler"] = method
    if method == "repaint":
        options.update(jump_length=jump_length, resample=resample)
    return {k: v for k, v in options.items() if v is not None}


def inpaint(run: Run, known: Tensor, mask: Tensor | str | Path, *, method: Method = "repaint", seed: int = 0,
            steps: int | None = None, jump_length: int | None = None, resample: int | None = None,
            batch_size: int = 256, progress: bool = False) -> Tensor:
    """Fill the mask-0 pixels of known (N, C, H, W) in [-1, 1]; mask (1 or N, 1, H, W), 1 = keep, or a mask name or
    PNG path (genlab.diffusion.masks). Returns (N, C, H, W) in [-1, 1], equal to `known` where the mask is 1."""
    if "known" not in run.family.sample_options:
        raise ModelInputError(f"{run.path} is a '{run.config.family}' run; inpainting needs a diffusion run")
    kind = getattr(getattr(run.family, "config", None), "condition", None)
    options = method_options(getattr(kind, "kind", "none"), method, steps=steps, jump_length=jump_length,
                             resample=resample)
    return run.sample(len(known), seed=seed, batch_size=batch_size, progress=progress, known=known, mask=mask,
                      **options)


def load_images(spec: str | Path, shape: tuple[int, ...], *, n: int) -> tuple[Tensor, np.ndarray | None]:
    """Images to inpaint as (N, C, H, W) in [-1, 1] and their labels (or None), checked against the run's (C, H, W).

    `spec`: one image file (PNG/JPEG, converted to the run's channels; inpainted n times), or a folder of images,
    an .npz with `x`, or a built-in image set (its test split): its first n images.
    """
    from genlab.data import load_dataset, to_float

    c, h, w = shape
    path = Path(spec).expanduser()
    if path.suffix.lower() in IMAGE_SUFFIXES:
        x, y = _one_image(path, channels=c), None
        x = np.repeat(x, n, axis=0)
    else:
        data = load_dataset(str(spec), split="test", channels=c if path.is_dir() else None, limit=None)
        if data.kind != "image":
            raise DataError(f"{spec} holds vectors of shape {data.shape}; inpainting needs images")
        x, y = data.x[:n], None if data.y is None else np.asarray(data.y[:n])
    if x.shape[1] != c:
        raise ModelInputError(f"{spec} has {x.shape[1]}-channel images; this run's have {c} channel(s)")
    if tuple(x.shape[2:]) != (h, w):
        raise ModelInputError(f"{spec} has images of {x.shape[3]}x{x.shape[2]} pixels; this run's are {w}x{h}")
    return to_float(torch.as_tensor(np.ascontiguousarray(x))), y


def _one_image(path: Path, *, channels: int) -> np.ndarray:
    """One image file as uint8 (1, channels, H, W), at its own size."""
    from PIL import Image, UnidentifiedImageError

    from genlab.data.imaging import pil_to_chw

    if not path.is_file():
        raise DataError(f"image {path} not found (expected a PNG/JPEG, a folder, an .npz or a built-in set)")
    try:
        with Image.open(path) as img:
            return pil_to_chw(img, channels=channels, size=None)[None]
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError):
        raise DataError(f"{path} is not an image PIL can read (expected a PNG or JPEG file)") from None
