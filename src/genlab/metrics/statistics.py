"""Streaming feature statistics (mean, covariance) and a cache of reference statistics on disk.

`RunningStatistics` merges batches with Chan et al.'s pairwise update of the mean and the centred scatter
matrix (Chan, Golub & LeVeque 1979), in float64: its state is O(d^2) whatever the number of images, and it
does not lose precision when the mean is large against the spread, as sum-of-squares accumulation does.
"""
from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from genlab.errors import DataError, ModelInputError
from genlab.files import write_npz_atomic
from genlab.metrics.frechet import frechet_distance
from genlab.metrics.inputs import as_float64


@dataclass(frozen=True)
class FeatureStatistics:
    """Gaussian fit of n feature vectors: mu (d,), sigma (d, d) with the unbiased (n - 1) normalisation, as np.cov."""

    mu: np.ndarray
    sigma: np.ndarray
    n: int

    def frechet_distance(self, other: FeatureStatistics) -> float:
        """Frechet distance between this fit and `other`."""
        return frechet_distance(self.mu, self.sigma, other.mu, other.sigma)

    def save(self, path: str | Path, **meta: str) -> None:
        """Write mu, sigma, n and string metadata to an .npz file (atomically: temp file then rename)."""
        meta_arrays: dict[str, Any] = {f"meta_{k}": np.str_(v) for k, v in meta.items()}
        write_npz_atomic(path, mu=self.mu, sigma=self.sigma, n=np.int64(self.n), **meta_arrays)

    @classmethod
    def load(cls, path: str | Path) -> FeatureStatistics:
        """Read statistics written by `save` (no pickles are loaded)."""
        try:
            with np.load(path, allow_pickle=False) as f:
                return cls(mu=f["mu"], sigma=f["sigma"], n=int(f["n"]))
        except (OSError, KeyError, ValueError) as exc:
            raise DataError(f"{path} is not a statistics .npz with mu, sigma and n "
                            f"({exc.__class__.__name__})") from None


class RunningStatistics:
    """Mean and covariance of feature batches seen one at a time; memory O(d^2), independent of the count."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.n = 0
        self._mean = np.zeros(dim)
        self._scatter = np.zeros((dim, dim))          # sum of (x - mean)(x - mean)^T

    def update(self, features: Any) -> None:
        """Add a batch of features: (B, d)."""
        x = as_float64(features, "features")
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ModelInputError(f"expected a feature batch of shape (B, {self.dim}), got {x.shape}")
        b = x.shape[0]
        if b == 0:
            return
        batch_mean = x.mean(axis=0)
        centred = x - batch_mean
        delta = batch_mean - self._mean
        total = self.n + b
        self._scatter += centred.T @ centred + np.outer(delta, delta) * (self.n * b / total)
        self._mean += delta * (b / total)
        self.n = total

    @property
    def mean(self) -> np.ndarray:
        """Mean (d,) of all features seen."""
        return self._mean.copy()

    @property
    def covariance(self) -> np.ndarray:
        """Unbiased covariance (d, d) of all features seen (needs at least two)."""
        if self.n < 2:
            raise ModelInputError(f"a covariance needs at least 2 feature vectors, got {self.n}")
        return self._scatter / (self.n - 1)

    def result(self) -> FeatureStatistics:
        """The statistics as a `FeatureStatistics`."""
        return FeatureStatistics(mu=self.mean, sigma=self.covariance, n=self.n)


def default_cache_dir() -> Path:
    """`$GENLAB_CACHE/stats`, or `~/.cache/genlab/stats`."""
    root = os.environ.get("GENLAB_CACHE")
    return (Path(root) if root else Path.home() / ".cache" / "genlab") / "stats"


def stats_key(*, dataset: str, split: str, extractor: str, resize: str, n: int | None = None) -> str:
    """File-name-safe cache key naming what the statistics depend on."""
    parts = [dataset, split, extractor, resize, "all" if n is None else f"n{n}"]
    return "__".join(re.sub(r"[^A-Za-z0-9_.+-]", "-", p) for p in parts)


class StatisticsCache:
    """Reference statistics as .npz files in one directory, keyed by dataset, split, extractor and resize policy."""

    def __init__(self, directory: str | Path | None = None) -> None:
        self.directory = Path(directory) if directory is not None else default_cache_dir()

    def path(self, key: str) -> Path:
        return self.directory / f"{key}.npz"

    def get_or_compute(self, key: str, compute: Callable[[], FeatureStatistics]) -> FeatureStatistics:
        """The cached statistics for `key`, computing and saving them first if absent."""
        path = self.path(key)
        if path.is_file():
            return FeatureStatistics.load(path)
        stats = compute()
        stats.save(path, key=key)
        return stats
