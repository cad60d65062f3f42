"""The in-memory dataset every loader returns, and the catalogue entry `genlab datasets` prints."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from genlab.data.order import seeded_generator
from genlab.errors import DataError

Kind = Literal["image", "vector", "video"]
ITEM_NDIM: dict[str, int] = {"image": 3, "video": 4, "vector": 1}   # dims of one item: (C, H, W), (T, C, H, W), (D,)


@dataclass(frozen=True)
class Dataset:
    """Items and optional labels: images uint8 (N, C, H, W), videos uint8 (N, T, C, H, W) or vectors float32 (N, D);
    labels int64 (N,)."""

    x: np.ndarray
    y: np.ndarray | None
    name: str
    kind: Kind
    num_classes: int | None
    source: str
    class_names: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.kind not in ITEM_NDIM:
            raise DataError(f"{self.name}: data kind {self.kind!r} is not one of {', '.join(ITEM_NDIM)}")
        want_dtype = np.float32 if self.kind == "vector" else np.uint8
        want_ndim = 1 + ITEM_NDIM[self.kind]
        if self.x.dtype != want_dtype or self.x.ndim != want_ndim:
            raise DataError(f"{self.name}: {self.kind} data must be {np.dtype(want_dtype)} with {want_ndim} dims, "
                            f"got {self.x.dtype} {self.x.shape}")
        if self.y is not None and (self.y.dtype != np.int64 or self.y.shape != (len(self.x),)):
            raise DataError(f"{self.name}: labels must be int64 ({len(self.x)},), got {self.y.dtype} {self.y.shape}")

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of one item: (C, H, W), (T, C, H, W) or (D,)."""
        return tuple(self.x.shape[1:])

    def __len__(self) -> int:
        return len(self.x)


@dataclass(frozen=True)
class DatasetInfo:
    """One built-in dataset as `genlab datasets` lists it."""

    name: str
    kind: Kind
    shape: tuple[int, ...]
    num_classes: int | None
    description: str
    source: str
    available: bool


def labels_from(y: np.ndarray, *, where: str, n: int) -> np.ndarray:
    """Check user labels: integral, non-negative, one per item; returned as int64 (N,)."""
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != n:
        raise DataError(f"{where}: labels must be one integer per item, shape ({n},), got {y.shape}")
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
            raise DataError(f"{where}: labels must be whole numbers, found fractional or non-finite values")
    elif y.dtype.kind not in "iub":
        raise DataError(f"{where}: labels must be integers, got dtype {y.dtype}")
    if n and y.min() < 0:
        raise DataError(f"{where}: labels must be >= 0, found {y.min()}")
    return y.astype(np.int64)


def num_classes_of(y: np.ndarray | None) -> int | None:
    """Number of classes implied by labels 0..K-1 (K = max + 1), or None without labels."""
    return None if y is None or len(y) == 0 else int(y.max()) + 1


def subset_indices(n: int, *, limit: int | None, seed: int) -> np.ndarray:
    """A seeded random subset of `limit` of n indices, kept in source order (all n when limit is None)."""
    if limit is None or limit >= n:
        return np.arange(n)
    if limit < 1:
        raise DataError(f"limit must be a positive number of items, got {limit}")
    return np.sort(seeded_generator(seed).choice(n, size=limit, replace=False))
