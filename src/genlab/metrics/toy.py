"""Mode coverage on 2-D toy mixtures (ring of 8, grid of 25 Gaussians): the VEEGAN / PacGAN protocol.

A sample is *high quality* if it lies within `n_std` (3) standard deviations of its nearest mode centre
(Srivastava et al. 2017, VEEGAN, sec. 5.1). A mode is *covered* if at least `min_count` high-quality
samples are nearest to it. PacGAN (Lin et al. 2018, sec. 5.1) draws 2,500 samples and counts a mode as
lost below 20 such samples; by default genlab keeps that rate: min_count = ceil(20 * N / 2500).
"""
from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from genlab.errors import ModelInputError
from genlab.metrics.inputs import as_float64


class ModeCoverage(NamedTuple):
    modes_covered: int
    num_modes: int
    high_quality: float            # share of samples within n_std standard deviations of a centre
    counts: np.ndarray             # (K,) high-quality samples per mode


def _nearest_centre(x: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of each sample's nearest centre and the distance to it: x (N, D), c (K, D) -> (N,), (N,)."""
    distances = np.sqrt(((x[:, None, :] - c[None, :, :]) ** 2).sum(axis=2))      # (N, K)
    nearest = distances.argmin(axis=1)
    return nearest, distances[np.arange(len(x)), nearest]


def mode_coverage(samples: Any, centres: Any, std: float, *, n_std: float = 3.0,
                  min_count: int | None = None) -> ModeCoverage:
    """Modes covered and share of high-quality samples; samples: (N, D), centres: (K, D) (VEEGAN/PacGAN protocol)."""
    x, c = as_float64(samples, "samples"), as_float64(centres, "centres")
    if x.ndim != 2 or c.ndim != 2 or x.shape[1] != c.shape[1]:
        raise ModelInputError(f"samples (N, D) and centres (K, D) must share D, got shapes {x.shape} and {c.shape}")
    if std <= 0:
        raise ModelInputError(f"std must be positive, got {std}")
    if min_count is None:
        min_count = max(1, math.ceil(20 * len(x) / 2500))
    nearest, dist = _nearest_centre(x, c)
    good = dist <= n_std * std
    counts = np.bincount(nearest[good], minlength=len(c))
    return ModeCoverage(int((counts >= min_count).sum()), len(c), float(good.mean()), counts)


def mode_spread(samples: Any, centres: Any, std: float, *, n_std: float = 3.0) -> dict[str, float]:
    """Where samples (N, D) lie around centres (K, D): the shares within n_std std of the nearest centre (high
    quality), in the halo out to a quarter of the closest centres' spacing, and beyond it (between modes), with the
    per-coordinate std of the residuals within a quarter spacing, as an RMS and robustly (1.4826 median |r|)."""
    x, c = as_float64(samples, "samples"), as_float64(centres, "centres")
    if x.ndim != 2 or c.ndim != 2 or x.shape[1] != c.shape[1] or len(c) < 2:
        raise ModelInputError(f"samples (N, D) and at least 2 centres (K, D) must share D, got shapes {x.shape} and "
                              f"{c.shape}")
    gaps = np.sqrt(((c[:, None, :] - c[None, :, :]) ** 2).sum(axis=2)) + np.diag(np.full(len(c), np.inf))
    quarter = 0.25 * float(gaps.min())
    nearest, dist = _nearest_centre(x, c)
    residual = (x - c[nearest])[dist <= quarter]
    return {"high_quality": float((dist <= n_std * std).mean()),
            "halo": float(((dist > n_std * std) & (dist <= quarter)).mean()),
            "between": float((dist > quarter).mean()), "quarter_spacing": quarter,
            "std_rms": float(np.sqrt((residual ** 2).mean())) if residual.size else float("nan"),
            "std_robust": 1.4826 * float(np.median(np.abs(residual))) if residual.size else float("nan")}
