"""Frechet distance between two Gaussians fitted to features (Heusel et al. 2017, FID; Dowson & Landau 1982).

    d^2 = ||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^{1/2})

Only the *trace* of the matrix square root is needed, and the eigenvalues of S1 S2 are those of the
symmetric positive semi-definite L^T S2 L (S1 = L L^T) or S1^{1/2} S2 S1^{1/2} (similar matrices). So a
Cholesky factor and one symmetric eigenvalue solve replace pytorch-fid's `scipy.linalg.sqrtm` (a Schur
method on a non-symmetric matrix): faster, never complex, and stable when a covariance is singular (fewer
samples than dimensions), where rounding only produces tiny eigenvalues of either sign, set to zero.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from genlab.errors import ModelInputError
from genlab.metrics.inputs import as_float64


def _check_gaussian(mu: np.ndarray, sigma: np.ndarray, which: str) -> None:
    if mu.ndim != 1:
        raise ModelInputError(f"mu{which} must be a vector (d,), got shape {mu.shape}")
    d = mu.shape[0]
    if sigma.shape != (d, d):
        raise ModelInputError(f"sigma{which} must be ({d}, {d}) to match mu{which}, got shape {sigma.shape}")


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """tr((S1 S2)^{1/2}) for symmetric PSD S1, S2: (d, d), from the eigenvalues of a symmetric PSD similar matrix.

    Fast path: S1 = L L^T (Cholesky), and L^T S2 L is similar to S1 S2. When neither covariance is
    numerically positive definite (fewer samples than dimensions), S1^{1/2} S2 S1^{1/2} from an
    eigendecomposition of S1 is used instead. No matrix is inverted on either path.
    """
    s1 = 0.5 * (sigma1 + sigma1.T)
    s2 = 0.5 * (sigma2 + sigma2.T)
    for a, b in ((s1, s2), (s2, s1)):
        try:
            factor = np.linalg.cholesky(a)
        except np.linalg.LinAlgError:
            continue
        return _trace_sqrt_psd(factor.T @ b @ factor)
    w, v = np.linalg.eigh(s1)
    root1 = (v * np.sqrt(_drop_rounding_noise(w))) @ v.T          # S1^{1/2}, symmetric
    return _trace_sqrt_psd(root1 @ s2 @ root1)


def _trace_sqrt_psd(m: np.ndarray) -> float:
    """Sum of the square roots of the eigenvalues of a symmetric PSD matrix m: (d, d)."""
    return float(np.sqrt(_drop_rounding_noise(np.linalg.eigvalsh(0.5 * (m + m.T)))).sum())


def _drop_rounding_noise(eig: np.ndarray) -> np.ndarray:
    """Zero the eigenvalues a PSD matrix only has through rounding (below d * eps * max, as numpy's matrix_rank).

    Their square roots would otherwise add ~sqrt(eps) each and make the distance of identical singular
    statistics come out visibly negative.
    """
    tol = eig.size * np.finfo(np.float64).eps * max(float(eig.max()), 0.0)
    return np.where(eig > tol, eig, 0.0)


def frechet_distance(mu1: Any, sigma1: Any, mu2: Any, sigma2: Any) -> float:
    """Squared Frechet distance of N(mu1, sigma1) and N(mu2, sigma2); mu: (d,), sigma: (d, d)
    (FID, Heusel et al. 2017, eq. 6)."""
    mu1, sigma1 = as_float64(mu1, "mu1"), as_float64(sigma1, "sigma1")
    mu2, sigma2 = as_float64(mu2, "mu2"), as_float64(sigma2, "sigma2")
    _check_gaussian(mu1, sigma1, "1")
    _check_gaussian(mu2, sigma2, "2")
    if mu1.shape != mu2.shape:
        raise ModelInputError(f"feature sizes differ: {mu1.shape[0]} vs {mu2.shape[0]}; "
                              "both statistics must come from the same feature extractor")
    diff = mu1 - mu2
    covariance_term = np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_sqrt_product(sigma1, sigma2)
    return float(diff @ diff + covariance_term)
