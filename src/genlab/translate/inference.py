"""Translating images with a trained run: the one place that says which runs translate, and how."""
from __future__ import annotations

import itertools
from collections.abc import Callable

import torch
from torch import Tensor

from genlab.data.transforms import to_float
from genlab.errors import ModelInputError
from genlab.families import TRANSLATION_FAMILIES
from genlab.training.run import Run
from genlab.translate.family import Direction, TranslationFamily

Translator = Callable[[Tensor], Tensor]


def translator(run: Run, direction: Direction) -> tuple[Translator, tuple[int, int, int]]:
    """(f, (C, H, W)): f maps images (B, C, H, W) in [-1, 1] to translations in [-1, 1]; refuses runs that
    cannot translate in `direction`. An image-conditioned diffusion run (super-resolution, Saharia et al. 2022)
    takes images of its own size, reduces them to its condition.low_res as training did, and samples from that
    (chunk k of the input with seed k)."""
    from genlab.diffusion.family import DiffusionFamily

    family = run.family
    if isinstance(family, TranslationFamily):
        shape = family.input_shape(direction)
        return (lambda x: family.translate(run.models, x, direction=direction)), shape
    if isinstance(family, DiffusionFamily) and family.config.condition.kind == "image":
        if direction != "a2b":
            raise ModelInputError(f"{run.path} is an image-conditioned diffusion run: it translates a2b only")
        c, h, w = family.data.shape
        chunk = itertools.count()               # chunk k of the input draws from seed k: no noise shared
        return (lambda x: run.sample(len(x), seed=next(chunk), low_res=x)), (c, h, w)
    raise ModelInputError(f"{run.path} is a '{run.config.family}' run, which cannot translate images; runs that can: "
                          f"{', '.join(TRANSLATION_FAMILIES)} and image-conditioned diffusion (condition.kind = "
                          "'image')")


def translate_images(run: Run, x: Tensor, *, direction: Direction = "a2b", batch_size: int = 256,
                     where: str = "the input") -> Tensor:
    """uint8 images x: (N, C, H, W) -> translations (N, C', H, W) float in [-1, 1], in chunks of batch_size."""
    f, shape = translator(run, direction)
    if x.ndim != 4 or tuple(x.shape[1:]) != shape:
        got = "x".join(map(str, x.shape[1:]))
        raise ModelInputError(f"{where}: images are {got} (channels x height x width), but {run.path} translates "
                              f"{'x'.join(map(str, shape))} images ({direction[0]} side); convert them first")
    with torch.inference_mode():
        return torch.cat([f(to_float(chunk)) for chunk in x.split(batch_size)])
