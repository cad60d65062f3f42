"""One entry point for every data source: built-in names, toy sets and user paths (`load_dataset`)."""
from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Literal

from genlab.data.arrays import load_csv, load_npz
from genlab.data.builtin import MNIST_PACKAGE, load_digits, load_mnist, mnist_file
from genlab.data.cifar import is_cifar10_folder, load_cifar10
from genlab.data.dataset import Dataset, DatasetInfo, subset_indices
from genlab.data.folder import load_image_folder
from genlab.data.idx import is_idx_source, load_idx
from genlab.data.imaging import check_image_options, conform
from genlab.data.moving_mnist import NAME as MOVING_MNIST
from genlab.data.moving_mnist import load_moving_mnist
from genlab.data.toy import TOY_SETS, sample_toy
from genlab.data.video_files import VIDEO_PREFIX, load_video_source
from genlab.errors import DataError

Split = Literal["train", "test"]

BUILTIN_IMAGES = ("digits", "mnist")

USER_SOURCES = (
    ("path/to/folder", "image files of any size (class sub-folders give labels; train/ and test/ give splits)"),
    ("path/to/file.npz", "array 'x' (uint8 images NCHW/NHWC, or vectors N x D) and optional integer 'y'"),
    ("path/to/prefix", "IDX pair prefix-images-idx3-ubyte[.gz] + prefix-labels-idx1-ubyte[.gz], or a folder of them"),
    ("path/to/file.csv", "numeric columns as vectors; a column named 'label' or 'y' gives labels"),
    ("cifar10:path/to/cifar-10-batches-bin", "CIFAR-10 binary batches (data_batch_1..5.bin, test_batch.bin)"),
    ("path/to/clip.gif", "an animated GIF: one video clip (frames T, C, H, W)"),
    ("video:path/to/folder", "a folder of GIFs or of frame folders: one clip each, all of one length and size"),
)


def known_names() -> list[str]:
    """Names load_dataset accepts without a path."""
    return [*BUILTIN_IMAGES, MOVING_MNIST, *TOY_SETS]


def list_datasets() -> list[DatasetInfo]:
    """The built-in datasets with shapes, sources and whether they can be loaded here."""
    mnist_path = mnist_file()
    infos = [
        DatasetInfo("digits", "image", (1, 8, 8), 10, "scikit-learn 8x8 handwritten digits, 1,437 train / 360 test",
                    "scikit-learn (bundled)", True),
        DatasetInfo("mnist", "image", (1, 28, 28), 10, "MNIST handwritten digits, 60,000 train / 10,000 test",
                    str(mnist_path) if mnist_path else f"pip package {MNIST_PACKAGE} (not installed)",
                    mnist_path is not None),
    ]
    for name, toy in TOY_SETS.items():
        infos.append(DatasetInfo(name, "vector", (2,), toy.num_classes, toy.description, "exact sampler", True))
    infos.append(DatasetInfo(MOVING_MNIST, "video", (8, 1, 32, 32), 10,
                             "Moving MNIST made from MNIST (Srivastava et al. 2015), 10,000 / 2,000 clips; options "
                             "moving-mnist:frames=16,size=48,digits=2,digit_size=20,speed=3,n=500 (stills=1: frames as "
                             "images)",
                             "made on the fly from MNIST", mnist_path is not None))
    infos.append(DatasetInfo("cifar10:PATH", "image", (3, 32, 32), 10, "CIFAR-10 binary version, 50,000 / 10,000",
                             "your copy of cifar-10-batches-bin (never downloaded)", False))
    return infos


def _load_path(path: Path, split: Split, *, image_size: int | None, channels: int | None, limit: int | None,
               seed: int) -> tuple[Dataset, bool]:
    """Load a user path; also say whether the source has real train/test splits."""
    if path.is_dir():
        if is_cifar10_folder(path):
            return load_cifar10(path, split=split), True
        if is_idx_source(path):
            return load_idx(path, split=split), True
        if (path / "train").is_dir() and (path / "test").is_dir():
            data = load_image_folder(path / split, image_size=image_size, channels=channels, limit=limit, seed=seed)
            return replace(data, name=path.name), True
        return load_image_folder(path, image_size=image_size, channels=channels, limit=limit, seed=seed), False
    suffix = path.suffix.lower()
    if path.is_file() and suffix == ".npz":
        return load_npz(path), False
    if path.is_file() and suffix == ".csv":
        return load_csv(path), False
    if path.is_file() and suffix == ".gif":
        return load_video_source(str(path)), False
    if is_idx_source(path):
        return load_idx(path, split=split), False
    if path.exists():
        raise DataError(f"{path}: unsupported data file; expected one of: "
                        + "; ".join(f"{form} ({what})" for form, what in USER_SOURCES))
    raise DataError(f"{path}: no such file or folder; expected a built-in name ({', '.join(known_names())}) "
                    "or a path to an image folder, .npz, .csv, idx files or cifar10:folder")


def load_dataset(spec: str | os.PathLike[str], *, split: Split = "train", image_size: int | None = None,
                 channels: int | None = None,
                 limit: int | None = None, seed: int = 0, n_toy: int = 50_000) -> Dataset:
    """Load a built-in set (`digits`, `mnist`, a toy set) or user data from a path; images come out uint8 NCHW.

    `image_size`/`channels` convert images (shorter side resized, centre-cropped; grey <-> RGB); `limit` keeps a
    seeded random subset in source order; toy sets draw `n_toy` samples with `seed`. A source without its own
    test split returns the same items for both splits, and says so in `source`.
    """
    spec = os.fspath(spec)
    if not spec.strip():
        raise DataError(f"expected a dataset: a built-in name ({', '.join(known_names())}) or a path, got {spec!r}")
    if seed < 0:
        raise DataError(f"{spec}: seed must be a non-negative integer, got {seed}")
    if split not in ("train", "test"):
        raise DataError(f"{spec}: split must be 'train' or 'test', got {split!r}")
    check_image_options(image_size=image_size, channels=channels, where=spec)
    has_splits = True
    if spec in TOY_SETS:
        data = sample_toy(spec, n_toy, seed=seed, split=split)
    elif spec == "digits":
        data = load_digits(split)
    elif spec == "mnist":
        data = load_mnist(split)
    elif spec == MOVING_MNIST or spec.startswith(MOVING_MNIST + ":"):
        data = load_moving_mnist(spec, split=split, seed=seed)
    elif spec.startswith(VIDEO_PREFIX):
        data, has_splits = load_video_source(spec), False
    elif spec == "cifar10" or spec.startswith("cifar10:"):
        folder = spec.partition(":")[2]
        if not folder:
            raise DataError("cifar10: give the folder of the binary batches, e.g. cifar10:/data/cifar-10-batches-bin "
                            "(genlab does not download)")
        data = load_cifar10(Path(folder).expanduser(), split=split)
    else:
        data, has_splits = _load_path(Path(spec).expanduser(), split, image_size=image_size, channels=channels,
                                      limit=limit, seed=seed)
    return _finish(data, has_splits=has_splits, image_size=image_size, channels=channels, limit=limit, seed=seed)


def _finish(data: Dataset, *, has_splits: bool, image_size: int | None, channels: int | None, limit: int | None,
            seed: int) -> Dataset:
    """Apply the subset and image conversion every source shares."""
    if data.kind != "image" and (image_size is not None or channels is not None):
        raise DataError(f"{data.name}: image_size and channels apply to images, but this source holds "
                        f"{data.kind}s of shape {data.shape}")
    keep = subset_indices(len(data), limit=limit, seed=seed)
    x = data.x if len(keep) == len(data) else data.x[keep]
    y = None if data.y is None else (data.y if len(keep) == len(data) else data.y[keep])
    if data.kind == "image":
        x = conform(x, image_size=image_size, channels=channels, where=data.name)
    if len(x) == 0:
        raise DataError(f"{data.source}: expected at least one item, found none")
    source = data.source if has_splits else f"{data.source}; single split, same items for train and test"
    return Dataset(x=x, y=y, name=data.name, kind=data.kind, num_classes=data.num_classes, source=source,
                   class_names=data.class_names)
