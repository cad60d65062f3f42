"""Kernel Inception Distance: unbiased MMD^2 with the polynomial kernel over random subsets
(Binkowski et al. 2018, sec. 3).

    k(x, y) = (gamma <x, y> + coef0)^degree, gamma = 1 / d by default (the cubic kernel of the paper)

Subsets are drawn exactly as torch-fidelity draws them: one `np.random.RandomState(seed)` and, per subset,
`choice(n1, m, replace=False)` then `choice(n2, m, replace=False)`, so the same seed gives the same numbers.
"""
from __future__ import annotations

import functools
from typing import Any

import numpy as np

from genlab.errors import ModelInputError
from genlab.metrics.inputs import feature_matrices


def polynomial_kernel(x: np.ndarray, y: np.ndarray, *, degree: int = 3, gamma: float | None = None,
                      coef0: float = 1.0) -> np.ndarray:
    """Gram matrix (n, m) of k(x, y) = (gamma <x, y> + coef0)^degree for x: (n, d), y: (m, d)."""
    gamma = 1.0 / x.shape[1] if gamma is None else gamma
    return (x @ y.T * gamma + coef0) ** degree


def mmd2_unbiased(k_xx: np.ndarray, k_xy: np.ndarray, k_yy: np.ndarray) -> float:
    """Unbiased MMD^2 from Gram matrices of two equal-size samples (m, m) (Gretton et al. 2012, eq. 3)."""
    m = k_xx.shape[0]
    within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    return float(within - 2.0 * k_xy.sum() / (m * m))


def kernel_inception_distance(feats1: Any, feats2: Any, *, subsets: int = 100, subset_size: int = 1000,
                              degree: int = 3, gamma: float | None = None, coef0: float = 1.0,
                              seed: int = 2020) -> tuple[float, float]:
    """Mean and std over `subsets` random subsets of the unbiased polynomial-kernel MMD^2; feats: (N, d)
    (Binkowski et al. 2018)."""
    x, y = feature_matrices(feats1, feats2, ("feats1", "feats2"))
    if not 2 <= subset_size <= min(len(x), len(y)):
        raise ModelInputError(f"KID subset_size must be between 2 and the smaller sample size "
                              f"({min(len(x), len(y))}), got {subset_size}")
    rng = np.random.RandomState(seed)
    values = np.empty(subsets)
    for i in range(subsets):
        a = x[rng.choice(len(x), subset_size, replace=False)]
        b = y[rng.choice(len(y), subset_size, replace=False)]
        kernel = functools.partial(polynomial_kernel, degree=degree, gamma=gamma, coef0=coef0)
        values[i] = mmd2_unbiased(kernel(a, a), kernel(a, b), kernel(b, b))
    return float(values.mean()), float(values.std())
