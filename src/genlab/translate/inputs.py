"""The images `genlab translate` reads: a folder of pictures, an .npz (`x`, or `a` and `b`), or a built-in task's
test split; with the targets where the source has them (a pairs .npz, a paired task)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from genlab.data.arrays import load_npz
from genlab.data.folder import image_files, load_image_folder
from genlab.data.pairs import load_sides, pairs_npz
from genlab.data.translation_tasks import TASKS
from genlab.errors import DataError
from genlab.translate.family import Direction


@dataclass
class TranslationInputs:
    """uint8 images x (N, C, H, W) to translate, their targets (N, C', H, W) if known, labels (N,) if any, and
    a file name for each output."""

    x: Tensor
    target: Tensor | None
    y: Tensor | None
    names: list[str]


def read_inputs(spec: str, *, direction: Direction = "a2b", n: int | None = None) -> TranslationInputs:
    """The first n images of `spec` (all when n is None), the input side chosen by `direction`."""
    path = Path(spec).expanduser()
    if spec in TASKS or pairs_npz(path):
        sides = load_sides(spec, split="test")
        src, dst = (sides.a, sides.b) if direction == "a2b" else (sides.b, sides.a)
        x, y = src.x[:n], src.y[:n] if src.y is not None else None
        target = dst.x[:n] if sides.paired else None
        names = [f"{i:05d}.png" for i in range(len(x))]
    elif path.is_dir():
        data = load_image_folder(path, image_size=None, channels=None, limit=None, seed=0)
        x, y, target = data.x[:n], None, None
        names = [str(p.relative_to(path).with_suffix(".png")) for p in image_files(path)][:n]
    elif path.is_file() and path.suffix.lower() == ".npz":
        data = load_npz(path)
        if data.kind != "image":
            raise DataError(f"{path}: 'x' holds vectors; expected uint8 images to translate")
        x, y, target = data.x[:n], data.y[:n] if data.y is not None else None, None
        names = [f"{i:05d}.png" for i in range(len(x))]
    else:
        raise DataError(f"{spec}: expected images to translate: a folder of pictures, an .npz with 'x' (or 'a' and "
                        f"'b'), or a built-in task ({', '.join(TASKS)})")
    return TranslationInputs(x=torch.from_numpy(np.ascontiguousarray(x)),
                             target=None if target is None else torch.from_numpy(np.ascontiguousarray(target)),
                             y=None if y is None else torch.from_numpy(y), names=names)
