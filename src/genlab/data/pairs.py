"""Two image sources for image-to-image translation: an a side and a b side, aligned row by row or not.

Where two sides come from: a built-in task (`genlab.data.translation_tasks`), an .npz holding arrays `a` and `b`
(paired), or two sources `data.name` (a) and `data.b` (b). Two folders whose image files have the same relative
names are paired by name; any other two sources (folders, .npz, IDX, built-in names) are unpaired and may hold
different numbers of images. Both sides are brought to `image_size`/`channels` like any source.
"""
from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from genlab.data.arrays import images_to_nchw
from genlab.data.dataset import Dataset, labels_from, num_classes_of, subset_indices
from genlab.data.folder import image_files
from genlab.data.imaging import conform
from genlab.data.registry import load_dataset
from genlab.data.translation_tasks import TASKS
from genlab.errors import DataError

Split = Literal["train", "test"]


@dataclass(frozen=True)
class Sides:
    """uint8 images of the a side (N, C, H, W) and the b side (M, C', H', W'); N = M and rows aligned if `paired`."""

    a: Dataset
    b: Dataset
    paired: bool
    source: str


def pairs_npz(path: Path) -> bool:
    """Whether `path` is an .npz archive holding arrays named `a` and `b`."""
    if path.suffix.lower() != ".npz" or not path.is_file() or not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as z:
        names = {n.removesuffix(".npy") for n in z.namelist()}
    return {"a", "b"} <= names


def is_two_sided(name: str, b: str | None) -> bool:
    """Whether a data config names two sides: `data.b` set, a built-in task, or an .npz with arrays a and b."""
    return b is not None or name in TASKS or pairs_npz(Path(name).expanduser())


def _load_pairs_npz(path: Path) -> tuple[Dataset, Dataset]:
    """Arrays `a` and `b`: uint8 images (N, H, W), (N, C, H, W) or (N, H, W, C), one N; optional labels `y` (N,)."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            a, b = archive["a"], archive["b"]
            y = archive["y"] if "y" in archive.files else None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise DataError(f"{path}: expected a numpy .npz archive with arrays 'a' and 'b' ({err})") from None
    for key, arr in (("a", a), ("b", b)):
        if arr.dtype != np.uint8 or arr.ndim < 3:
            raise DataError(f"{path}: '{key}' must hold uint8 images (N, H, W), (N, C, H, W) or (N, H, W, C), "
                            f"got {arr.dtype} {arr.shape}")
    if len(a) != len(b):
        raise DataError(f"{path}: 'a' and 'b' must hold one image each per pair, got {len(a)} and {len(b)}")
    y = None if y is None else labels_from(y, where=f"{path} 'y'", n=len(a))
    sides = [Dataset(x=np.ascontiguousarray(images_to_nchw(arr, where=f"{path} '{key}'")), y=y,
                     name=f"{path.stem}:{key}", kind="image", num_classes=num_classes_of(y),
                     source=f"npz file {path} array '{key}'") for key, arr in (("a", a), ("b", b))]
    return sides[0], sides[1]


def _relative_images(spec: str, split: Split) -> list[Path] | None:
    """The relative image file names of a folder source (its split sub-folder when it has train/ and test/)."""
    root = Path(spec).expanduser()
    if not root.is_dir():
        return None
    if (root / "train").is_dir() and (root / "test").is_dir():
        root = root / split
    return [p.relative_to(root) for p in image_files(root)]


def _two_sources(a_spec: str, b_spec: str, split: Split) -> tuple[Dataset, Dataset, bool]:
    """Sides from two sources; paired when both are folders of images with the same relative file names."""
    a, b = load_dataset(a_spec, split=split), load_dataset(b_spec, split=split)
    for spec, side in ((a_spec, a), (b_spec, b)):
        if side.kind != "image":
            raise DataError(f"{spec}: image-to-image translation needs images, this source holds vectors")
    names_a, names_b = _relative_images(a_spec, split), _relative_images(b_spec, split)
    return a, b, names_a is not None and names_a == names_b


def _fit(side: Dataset, keep: np.ndarray, *, image_size: int | None, channels: int | None) -> Dataset:
    """A side cut to the rows `keep` and brought to image_size/channels."""
    x = conform(side.x[keep], image_size=image_size, channels=channels, where=side.name)
    y = None if side.y is None else side.y[keep]
    return Dataset(x=x, y=y, name=side.name, kind="image", num_classes=side.num_classes, source=side.source)


def load_sides(name: str, b: str | None = None, *, split: Split = "train", image_size: int | None = None,
               channels: int | None = None, limit: int | None = None, seed: int = 0) -> Sides:
    """The two sides named by `name` (a task, a pairs .npz, or the a source) and `b` (the b source, if any).

    `limit` keeps a seeded subset of each side (the same rows of both when paired).
    """
    if b is None and name in TASKS:
        task = TASKS[name].load(split)
        a_side, b_side, paired, source = task.a, task.b, task.paired, f"built-in task {name} ({split})"
    elif b is None:
        path = Path(name).expanduser()
        if not pairs_npz(path):
            raise DataError(f"{name}: expected two image sources: a built-in task ({', '.join(TASKS)}), an .npz "
                            "with arrays 'a' and 'b', or data.b (--data-b) naming the b side")
        (a_side, b_side), paired, source = _load_pairs_npz(path), True, f"pairs in {path}"
    else:
        a_side, b_side, paired = _two_sources(name, b, split)
        source = f"{a_side.source} <-> {b_side.source}" + (" (paired by file name)" if paired else "")
    keep_a = subset_indices(len(a_side), limit=limit, seed=seed)
    keep_b = keep_a if paired else subset_indices(len(b_side), limit=limit, seed=seed + 1)
    return Sides(a=_fit(a_side, keep_a, image_size=image_size, channels=channels),
                 b=_fit(b_side, keep_b, image_size=image_size, channels=channels), paired=paired, source=source)
