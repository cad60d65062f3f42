"""CIFAR-10, binary version (Krizhevsky 2009): records of 1 label byte + 3,072 pixel bytes (R, G, B planes)."""
from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np

from genlab.data.dataset import Dataset
from genlab.errors import DataError

RECORD_BYTES = 1 + 3 * 32 * 32
TRAIN_FILES = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
TEST_FILES = ("test_batch.bin",)
CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def is_cifar10_folder(path: Path) -> bool:
    """Does the folder hold the binary CIFAR-10 batches?"""
    return path.is_dir() and ((path / TEST_FILES[0]).is_file() or (path / TRAIN_FILES[0]).is_file())


def read_cifar_records(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One .bin batch -> images uint8 (N, 3, 32, 32) and labels int64 (N,)."""
    try:
        raw = np.fromfile(path, dtype=np.uint8)
    except OSError as err:
        raise DataError(f"{path}: expected a readable CIFAR-10 binary batch ({err})") from None
    if raw.size == 0 or raw.size % RECORD_BYTES:
        raise DataError(f"{path}: expected whole CIFAR-10 records of {RECORD_BYTES} bytes, file has {raw.size} bytes")
    records = raw.reshape(-1, RECORD_BYTES)
    labels = records[:, 0].astype(np.int64)
    if labels.max() > 9:
        raise DataError(f"{path}: expected label bytes 0..9, found {labels.max()} (is this the binary version?)")
    return records[:, 1:].reshape(-1, 3, 32, 32), labels


def load_cifar10(folder: Path, *, split: Literal["train", "test"]) -> Dataset:
    """The 50,000 training or 10,000 test images of cifar-10-batches-bin as uint8 (N, 3, 32, 32)."""
    names = TRAIN_FILES if split == "train" else TEST_FILES
    missing = [name for name in names if not (folder / name).is_file()]
    if missing:
        raise DataError(f"cifar10: expected the binary batches {', '.join(missing)} in {folder} "
                        "(the 'CIFAR-10 binary version', cifar-10-batches-bin; genlab does not download)")
    parts = [read_cifar_records(folder / name) for name in names]
    x = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    class_names: tuple[str, ...] = CLASS_NAMES
    meta = folder / "batches.meta.txt"
    if meta.is_file():
        listed = tuple(line.strip() for line in meta.read_text().splitlines() if line.strip())
        class_names = listed if len(listed) == 10 else CLASS_NAMES
    return Dataset(x=x, y=y, name="cifar10", kind="image", num_classes=10, source=f"CIFAR-10 binary {folder} ({split})",
                   class_names=class_names)
