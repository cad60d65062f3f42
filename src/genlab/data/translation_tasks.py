"""Built-in image-to-image tasks made offline from MNIST and scikit-learn's digits, with their known mappings.

Paired tasks (pix2pix, Isola et al. 2017) hold each MNIST digit twice, as the a side (a degraded view) and the
b side (the digit): `mnist-edges` (morphological gradient), `mnist-half` (bottom half blanked), `mnist-lowres`
(4x4 block means, 7x7, shown 28x28). Unpaired tasks (CycleGAN, Zhu et al. 2017) draw the two sides from
different digits: `digits-mnist` (the 8x8 digits upsampled) <-> MNIST, and `mnist-thick` (MNIST <-> strokes
thickened by a 3x3 max filter) whose training halves are disjoint but whose test split is aligned, so a->b
translations can be scored against the true b although training never sees a pair.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch.nn import functional as F

from genlab.data.builtin import load_digits, load_mnist
from genlab.data.dataset import Dataset
from genlab.data.order import seeded_generator

Split = Literal["train", "test"]
DIGITS_BOX = 20     # MNIST digits are size-normalised into a 20x20 box centred in 28x28 (LeCun et al. 1998)


def dilate(x: np.ndarray) -> np.ndarray:
    """Grey dilation by a 3x3 square: each pixel becomes the max of its 3x3 neighbourhood; uint8 (N, C, H, W)."""
    t = torch.from_numpy(x).float()
    return F.max_pool2d(t, 3, stride=1, padding=1).to(torch.uint8).numpy()


def erode(x: np.ndarray) -> np.ndarray:
    """Grey erosion by a 3x3 square: the min of the neighbourhood, outside counting as 0; uint8 (N, C, H, W)."""
    t = F.pad(torch.from_numpy(x).float(), (1, 1, 1, 1))
    return (-F.max_pool2d(-t, 3, stride=1)).to(torch.uint8).numpy()


def edges(x: np.ndarray) -> np.ndarray:
    """Morphological gradient dilate(x) - erode(x): the outline of the strokes; uint8 (N, C, H, W)."""
    return (dilate(x).astype(np.int16) - erode(x).astype(np.int16)).clip(0, 255).astype(np.uint8)


def bottom_half_blanked(x: np.ndarray) -> np.ndarray:
    """The image with its bottom half set to 0 (MNIST's background); uint8 (N, C, H, W)."""
    out = x.copy()
    out[..., x.shape[2] // 2:, :] = 0
    return out


def low_res(x: np.ndarray, factor: int = 4) -> np.ndarray:
    """factor x factor block means, shown at full size by repeating each block (28 -> 7 -> 28); uint8 (N, C, H, W)."""
    t = torch.from_numpy(x).float()
    small = F.avg_pool2d(t, factor)
    return small.round().repeat_interleave(factor, 2).repeat_interleave(factor, 3).to(torch.uint8).numpy()


def digits_as_mnist(x: np.ndarray) -> np.ndarray:
    """8x8 digits bilinearly upsampled to MNIST's 20x20 digit box and padded to 28x28; uint8 (N, 1, 28, 28)."""
    t = F.interpolate(torch.from_numpy(x).float(), size=(DIGITS_BOX, DIGITS_BOX), mode="bilinear",
                      align_corners=False)
    pad = (28 - DIGITS_BOX) // 2
    return F.pad(t, (pad, pad, pad, pad)).round().clamp(0, 255).to(torch.uint8).numpy()


@dataclass(frozen=True)
class TaskSides:
    """The two sides of a task on one split: a and b, aligned row by row when `paired`."""

    a: Dataset
    b: Dataset
    paired: bool


@dataclass(frozen=True)
class TranslationTask:
    """A built-in task: a one-line description and the loader of its two sides for a split."""

    description: str
    paired: bool                                  # whether the train split is aligned
    load: Callable[[Split], TaskSides]


def _side(x: np.ndarray, y: np.ndarray | None, name: str, source: str) -> Dataset:
    return Dataset(x=np.ascontiguousarray(x), y=y, name=name, kind="image", num_classes=10, source=source)


def _paired(name: str, degrade: Callable[[np.ndarray], np.ndarray], what: str) -> Callable[[Split], TaskSides]:
    def load(split: Split) -> TaskSides:
        m = load_mnist(split)
        return TaskSides(a=_side(degrade(m.x), m.y, f"{name}:a", f"{what} of {m.source}"),
                         b=_side(m.x, m.y, f"{name}:b", m.source), paired=True)
    return load


def halves(n: int, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two disjoint sorted index sets splitting range(n) at random (a fixed seed): the unpaired sides' digits."""
    order = seeded_generator(seed, 14).permutation(n)
    return np.sort(order[: n // 2]), np.sort(order[n // 2:])


def _load_thick(split: Split) -> TaskSides:
    """MNIST <-> dilated MNIST: disjoint halves of train (unpaired), the whole test split aligned (paired)."""
    m = load_mnist(split)
    if split == "test":
        return TaskSides(a=_side(m.x, m.y, "mnist-thick:a", m.source),
                         b=_side(dilate(m.x), m.y, "mnist-thick:b", f"3x3 dilation of {m.source}"), paired=True)
    ia, ib = halves(len(m.x))
    y = m.y if m.y is not None else np.zeros(len(m.x), dtype=np.int64)     # MNIST always has labels
    return TaskSides(a=_side(m.x[ia], y[ia], "mnist-thick:a", f"{m.source}, half A"),
                     b=_side(dilate(m.x[ib]), y[ib], "mnist-thick:b", f"3x3 dilation of {m.source}, half B"),
                     paired=False)


def _load_digits_mnist(split: Split) -> TaskSides:
    """scikit-learn digits upsampled (a) and MNIST (b): two real domains, unpaired and of different sizes."""
    d, m = load_digits(split), load_mnist(split)
    return TaskSides(a=_side(digits_as_mnist(d.x), d.y, "digits-mnist:a", f"{d.source}, upsampled to 28x28"),
                     b=_side(m.x, m.y, "digits-mnist:b", m.source), paired=False)


TASKS: dict[str, TranslationTask] = {
    "mnist-edges": TranslationTask("paired: stroke outlines (morphological gradient) -> MNIST digit", True,
                                   _paired("mnist-edges", edges, "edges")),
    "mnist-half": TranslationTask("paired: digit with its bottom half blanked -> the whole digit", True,
                                  _paired("mnist-half", bottom_half_blanked, "bottom half blanked")),
    "mnist-lowres": TranslationTask("paired: 7x7 block means shown at 28x28 -> MNIST digit", True,
                                    _paired("mnist-lowres", low_res, "4x4 block means")),
    "mnist-thick": TranslationTask("unpaired: MNIST <-> 3x3-dilated MNIST of other digits (test split aligned)",
                                   False, _load_thick),
    "digits-mnist": TranslationTask("unpaired: scikit-learn 8x8 digits upsampled to 28x28 <-> MNIST", False,
                                    _load_digits_mnist),
}
