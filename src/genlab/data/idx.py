"""IDX files (the MNIST distribution format, LeCun et al.), plain or gzipped, parsed with numpy.

Header: two zero bytes, a type code, the number of dimensions, then one big-endian uint32 per dimension.
"""
from __future__ import annotations

import gzip
from pathlib import Path
from typing import Literal

import numpy as np

from genlab.data.arrays import images_to_nchw
from genlab.data.dataset import Dataset, labels_from, num_classes_of
from genlab.errors import DataError

IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
SPLIT_PREFIX = {"train": "train", "test": "t10k"}


def read_idx(path: Path) -> np.ndarray:
    """One IDX file as an array of its declared type and shape."""
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as err:
        raise DataError(f"{path}: expected a readable IDX file ({err})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_TYPES:
        raise DataError(f"{path}: expected IDX magic 00 00 <type> <ndim>, found {raw[:4].hex(' ') or 'an empty file'}")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: IDX header declares {ndim} dimensions but the file ends after {len(raw)} bytes")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(IDX_TYPES[raw[2]])
    expected = header + dtype.itemsize * int(np.prod(shape))
    if len(raw) != expected:
        raise DataError(f"{path}: IDX header declares shape {shape} ({expected} bytes), file has {len(raw)} bytes")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def _existing(candidates: list[Path]) -> Path | None:
    return next((p for p in candidates if p.is_file()), None)


def idx_pair(spec: Path, split: Literal["train", "test"]) -> tuple[Path, Path | None]:
    """Find (images, labels) from a folder of MNIST-named files, a prefix, or the images file itself."""
    if spec.is_dir():
        base = spec / SPLIT_PREFIX[split]
    elif "images" in spec.name and spec.is_file():
        labels_name = spec.name.replace("images", "labels").replace("idx3", "idx1")
        return spec, _existing([spec.with_name(labels_name)])
    else:
        base = spec
    images = _existing([Path(f"{base}-images-idx3-ubyte{gz}") for gz in ("", ".gz")]
                       + [Path(f"{base}-images.idx3-ubyte{gz}") for gz in ("", ".gz")])
    if images is None:
        raise DataError(f"{spec}: expected IDX images at {base}-images-idx3-ubyte[.gz]")
    labels = _existing([Path(f"{base}-labels-idx1-ubyte{gz}") for gz in ("", ".gz")]
                       + [Path(f"{base}-labels.idx1-ubyte{gz}") for gz in ("", ".gz")])
    return images, labels


def is_idx_source(spec: Path) -> bool:
    """Does the path name IDX images: a file with 'idx' in its name, an MNIST-style prefix, or a folder of them."""
    if spec.is_file():
        return "idx" in spec.name
    if spec.is_dir():
        return any(spec.glob("*-images*idx3-ubyte*"))
    return any(spec.parent.glob(f"{spec.name}-images*idx3-ubyte*")) if spec.parent.is_dir() else False


def load_idx(spec: Path, *, split: Literal["train", "test"]) -> Dataset:
    """IDX images uint8 (N, H, W) -> (N, 1, H, W), with labels from the matching labels file when present."""
    images_path, labels_path = idx_pair(spec, split)
    x = read_idx(images_path)
    if x.dtype != np.uint8:
        raise DataError(f"{images_path}: expected unsigned-byte IDX images (type 0x08), got {x.dtype}")
    x = np.ascontiguousarray(images_to_nchw(x, where=str(images_path)))
    y = None
    if labels_path is not None:
        y = labels_from(read_idx(labels_path), where=str(labels_path), n=len(x))
    source = f"IDX files {images_path}" + (f" + {labels_path.name}" if labels_path else " (no labels file)")
    return Dataset(x=x, y=y, name=images_path.name.split("-")[0], kind="image", num_classes=num_classes_of(y),
                   source=source)
