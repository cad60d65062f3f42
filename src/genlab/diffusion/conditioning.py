"""Conditions for a diffusion denoiser: classes and text through cross-attention, images by concatenation.

This is the "switch" of the latent diffusion paper (Rombach et al. 2022, sec. 3.3 and fig. 3): a sequence
condition (a class token, the tokens of a prompt) enters the U-Net through cross-attention; a spatial
condition (a low-resolution image) is resized to the input's size and concatenated to its channels, and so is
Palette's inpainting condition (Saharia et al. 2022): the known pixels and the mask, C + 1 channels. Every
condition has a "null" value so one network also learns the unconditional model that classifier-free
guidance needs (Ho & Salimans 2022, sec. 3.2): a null class token, a learned null prompt token, a zero image,
an all-zero mask ("nothing known").
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from genlab.errors import ConfigError, ModelInputError
from genlab.labels import class_labels
from genlab.training.objective import Batch, DataInfo

ConditionKind = Literal["none", "class", "text", "image", "masked"]
Condition = Tensor | tuple[Tensor, Tensor]
"""labels (B,) long | (context (B, L, D), mask (B, L) bool) | low-resolution images (B, C, h, w)
| known pixels and mask (B, C + 1, H, W)."""


@dataclass
class ConditionConfig:
    """What the denoiser is conditioned on, how, and how often the condition is dropped for guidance."""

    kind: ConditionKind = "none"
    via: Literal["cross_attention", "embedding"] = "cross_attention"   # for classes: a context token or AdaGN
    # p(condition replaced by null) per training item (Ho & Salimans 2022)
    label_dropout: float = field(default=0.1, metadata={"ge": 0, "lt": 1})
    # default guidance scale w at sampling (1: the conditional model)
    guidance: float = field(default=1.0, metadata={"ge": 0})
    # width of the class tokens (text uses the encoder's width)
    context_dim: int = field(default=64, metadata={"ge": 1})
    # image condition: the side the images are reduced to (28 -> 7 is 4x)
    low_res: int = field(default=7, metadata={"ge": 1})


def check_condition_config(c: ConditionConfig, *, num_classes: int | None, kind: str) -> None:
    """One-line errors for a [condition] section that cannot work with these data."""
    if not 0.0 <= c.label_dropout < 1.0:
        raise ConfigError(f"condition.label_dropout must be in [0, 1), got {c.label_dropout}")
    if c.kind in ("class", "text") and not num_classes:
        raise ConfigError(f"condition.kind = '{c.kind}' needs labelled data (labels drive the "
                          f"{'captions' if c.kind == 'text' else 'classes'}); this dataset has none")
    if c.kind != "none" and kind != "image":
        raise ConfigError(f"condition.kind = '{c.kind}' needs images; the data are vectors")
    if c.kind == "image" and c.low_res < 1:
        raise ConfigError(f"condition.low_res must be at least 1, got {c.low_res}")


def downsample_images(x: Tensor, size: int) -> Tensor:
    """x: (B, C, H, W) -> (B, C, size, size) by area averaging (each low-res pixel is a block mean)."""
    return F.adaptive_avg_pool2d(x, size)


def upsample_images(x: Tensor, size: tuple[int, int], *, mode: Literal["bicubic", "nearest"] = "bicubic") -> Tensor:
    """x: (B, C, h, w) -> (B, C, *size) by bicubic (a = -0.75, as PIL/OpenCV) or nearest interpolation."""
    if mode == "nearest":
        return F.interpolate(x, size=size, mode="nearest")
    return F.interpolate(x, size=size, mode="bicubic", align_corners=False)


class ConditionalUNet(nn.Module):
    """eps_theta(x_t, t, c) around a genlab U-Net: class or text context by cross-attention, images by concatenation.

    `drop` (B,) bool selects the null condition row by row, which is how training drops the condition and
    how guidance asks for the unconditional prediction in the same batch.
    """

    def __init__(self, unet: nn.Module, *, kind: ConditionKind, num_classes: int | None = None,
                 via: Literal["cross_attention", "embedding"] = "cross_attention", context_dim: int | None = None,
                 out_channels: int | None = None) -> None:
        super().__init__()
        if kind == "none":
            raise ConfigError("ConditionalUNet needs a condition kind: class, text, image or masked")
        self.unet, self.kind, self.via, self.num_classes = unet, kind, via, num_classes
        self.out_channels = out_channels
        if kind == "class" and via == "cross_attention":
            if num_classes is None or context_dim is None:
                raise ConfigError("class tokens need num_classes and context_dim")
            self.class_tokens = nn.Embedding(num_classes + 1, context_dim)   # row num_classes = null class
        if kind == "text":
            if context_dim is None:
                raise ConfigError("a text-conditional model needs context_dim")
            self.null_token = nn.Parameter(torch.zeros(1, context_dim))     # the empty prompt, learned

    def _classes(self) -> int:
        """num_classes of a class-conditional model (the null class is row num_classes)."""
        if self.num_classes is None:
            raise ModelInputError("a class-conditional model needs num_classes")
        return self.num_classes

    def _class_context(self, y: Tensor, drop: Tensor) -> tuple[Tensor, Tensor]:
        labels = torch.where(drop, torch.full_like(y, self._classes()), y)
        return self.class_tokens(labels)[:, None, :], torch.ones(len(y), 1, dtype=torch.bool, device=y.device)

    def _text_context(self, context: Tensor, mask: Tensor, drop: Tensor) -> tuple[Tensor, Tensor]:
        null = torch.zeros_like(context)
        null[:, 0] = self.null_token.to(context.dtype)
        null_mask = torch.zeros_like(mask)
        null_mask[:, 0] = True
        return torch.where(drop[:, None, None], null, context), torch.where(drop[:, None], null_mask, mask)

    def forward(self, x: Tensor, t: Tensor, cond: Condition, *, drop: Tensor | None = None) -> Tensor:
        """x: (B, C, H, W), t: (B,), cond (see Condition), drop: (B,) bool -> (B, C_out, H, W)."""
        b = x.shape[0]
        drop = torch.zeros(b, dtype=torch.bool, device=x.device) if drop is None else drop.to(x.device)
        if self.kind == "class":
            y = cond
            if not isinstance(y, Tensor) or y.shape != (b,) or y.dtype != torch.long:
                raise ModelInputError(f"a class-conditional model takes labels of shape ({b},) int64")
            num_classes = self._classes()
            if bool(((y < 0) | (y >= num_classes)).any()):
                raise ModelInputError(f"labels must be in 0..{num_classes - 1}, got {sorted(set(y.tolist()))}")
            if self.via == "embedding":
                return self.unet(x, t, y=torch.where(drop, torch.full_like(y, num_classes), y))
            context, mask = self._class_context(y, drop)
            return self.unet(x, t, context=context, context_mask=mask)
        if self.kind == "text":
            context, mask = cond
            context, mask = self._text_context(context, mask, drop)
            return self.unet(x, t, context=context, context_mask=mask)
        if self.kind == "masked":
            if not isinstance(cond, Tensor) or cond.ndim != 4 or cond.shape[0] != b or cond.shape[2:] != x.shape[2:]:
                raise ModelInputError(f"a mask-conditional model takes known pixels and mask (B={b}, C + 1, "
                                      f"{x.shape[2]}, {x.shape[3]})")
            cond = torch.where(drop[:, None, None, None], torch.zeros_like(cond), cond.to(x.dtype))
            return self.unet(torch.cat([x, cond], dim=1), t)
        low = cond
        if not isinstance(low, Tensor) or low.ndim != 4 or low.shape[0] != b:
            raise ModelInputError(f"an image-conditional model takes low-resolution images (B={b}, C, h, w)")
        low = upsample_images(low, (x.shape[2], x.shape[3])).to(x.dtype)
        low = torch.where(drop[:, None, None, None], torch.zeros_like(low), low)
        return self.unet(torch.cat([x, low], dim=1), t)


def drop_mask(uniform: Tensor, p: float) -> Tensor:
    """Rows whose condition is dropped in training: uniform (B,) in [0, 1) -> (B,) bool, True with probability p."""
    return uniform < p


@lru_cache(maxsize=1)
def _caption_bank() -> tuple[Tensor, Tensor, int]:
    """Encoded training captions, class-major (classes * per_class, L, D) with masks, and captions per class."""
    from genlab.text.captions import training_captions
    from genlab.text.encoder import encode_prompts
    captions, per_class = training_captions()
    context, mask = encode_prompts(captions)
    return context, mask, per_class


def training_condition(c: ConditionConfig, batch: Batch) -> Condition:
    """The condition of a training batch: its labels, one caption of each label (drawn per item), its images
    made small, or its images behind random masks (genlab.diffusion.random_masks)."""
    if c.kind == "image":
        return downsample_images(batch.x, c.low_res)
    if c.kind == "masked":
        from genlab.diffusion.masks import masked_condition
        from genlab.diffusion.random_masks import random_masks
        return masked_condition(batch.x, random_masks(batch.rng, batch.x.shape[2], batch.x.shape[3]))
    if batch.y is None:
        raise ModelInputError(f"condition.kind = '{c.kind}' needs labels in every batch; this dataset has none")
    if c.kind == "class":
        return batch.y
    context, mask, k = _caption_bank()
    index = (batch.y * k + batch.rng.randint(k).to(batch.y.device)).cpu()
    return context[index].to(batch.x.device), mask[index].to(batch.x.device)


_OPTION_OF_KIND = {"class": "label", "text": "prompt", "image": "low_res"}
_KIND_OF_OPTION = {"label": "class", "prompt": "text", "low_res": "image"}
_WHAT = {"none": "unconditional", "class": "class-conditional", "text": "text-conditional",
         "image": "image-conditional (super-resolution)", "masked": "mask-conditional (Palette inpainting)"}


def sampling_condition(c: ConditionConfig, info: DataInfo, n: int, *, label: Any = None, prompt: str | None = None,
                       low_res: Tensor | str | Path | None = None,
                       masked: Tensor | None = None) -> tuple[Condition | None, bool]:
    """The condition of n samples from the sampling options, and whether it is the null one (no condition given).

    `low_res` is a tensor (1 or n, C, h, w) in [-1, 1] or the path of a PNG/JPEG, reduced to condition.low_res.
    `masked` (1 or n, C + 1, H, W) is the known pixels and mask of genlab.diffusion.masks.masked_condition; only a
    mask-conditional run takes it as its condition (other runs leave inpainting to their sampler).
    """
    given = {"label": label is not None, "prompt": prompt is not None, "low_res": low_res is not None}
    for option, present in given.items():
        if present and option != _OPTION_OF_KIND.get(c.kind):
            raise ModelInputError(f"this run is {_WHAT[c.kind]}: --{option.replace('_', '-')} needs a run trained "
                                  f"with condition.kind = '{_KIND_OF_OPTION[option]}'")
    if c.kind == "none":
        return None, False
    if c.kind == "class":
        return class_labels(label, n, int(info.num_classes or 0)), False    # None: a grid row of every class
    if c.kind == "text":
        from genlab.text.captions import default_prompt
        from genlab.text.encoder import encode_prompts
        prompts = [prompt] * n if prompt is not None else [default_prompt(i) for i in range(n)]
        return encode_prompts(prompts), False
    if c.kind == "masked":
        if masked is None:
            return torch.zeros(n, info.shape[0] + 1, *info.shape[1:]), True
        return masked.float().expand(n, -1, -1, -1), False
    if low_res is None:
        return torch.zeros(n, info.shape[0], c.low_res, c.low_res), True
    if isinstance(low_res, (str, Path)):
        from genlab.diffusion.superres import load_low_res
        low_res = load_low_res(low_res, channels=info.shape[0], size=c.low_res)
    if low_res.ndim != 4 or low_res.shape[0] not in (1, n) or low_res.shape[1] != info.shape[0]:
        raise ModelInputError(f"low-resolution images must be (1 or {n}, {info.shape[0]}, h, w) in [-1, 1], "
                              f"got {tuple(low_res.shape)}")
    if tuple(low_res.shape[2:]) != (c.low_res, c.low_res):         # as training saw them: area-averaged
        low_res = downsample_images(low_res.float(), c.low_res)
    return low_res.float().expand(n, -1, -1, -1), False


def repeat_condition(cond: Condition, times: int) -> Condition:
    """The condition of a batch stacked `times` times along the batch (for a guided, doubled batch)."""
    if isinstance(cond, tuple):
        return tuple(torch.cat([c] * times) for c in cond)  # type: ignore[return-value]
    return torch.cat([cond] * times)


def condition_to(cond: Condition, device: torch.device) -> Condition:
    """A condition moved to `device`."""
    if isinstance(cond, tuple):
        return tuple(c.to(device) for c in cond)  # type: ignore[return-value]
    return cond.to(device)
