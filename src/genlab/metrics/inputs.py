"""Input checks shared by the metric functions: float64 arrays, finite values, matching feature sizes."""
from __future__ import annotations

from typing import Any

import numpy as np

from genlab.errors import ModelInputError


def as_float64(a: Any, name: str) -> np.ndarray:
    """`a` (numpy array, torch tensor or nested list) as a float64 numpy array; rejects NaN and inf."""
    if hasattr(a, "detach"):
        a = a.detach().cpu().numpy()
    out = np.asarray(a, dtype=np.float64)
    if not np.all(np.isfinite(out)):
        raise ModelInputError(f"{name} contains NaN or inf values; expected finite numbers")
    return out


def feature_matrices(a: Any, b: Any, names: tuple[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """Two feature sets as float64 (N, d) and (M, d) matrices with the same d."""
    x, y = as_float64(a, names[0]), as_float64(b, names[1])
    if x.ndim != 2 or y.ndim != 2:
        raise ModelInputError(f"{names[0]} and {names[1]} must be (N, d) matrices, got shapes {x.shape} and {y.shape}")
    if x.shape[1] != y.shape[1]:
        raise ModelInputError(f"feature sizes differ: {x.shape[1]} vs {y.shape[1]}; "
                              "both sets must come from the same feature extractor")
    return x, y
