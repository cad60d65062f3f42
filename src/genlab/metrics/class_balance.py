"""How much of a Frechet distance the class shares of the samples explain.

A classifier labels every generated and every reference image. Re-weighting one set so that its class
histogram matches the other's (importance weights p_target(k) / p_source(k) per sample of predicted class k)
splits the Frechet distance (Heusel et al. 2017, eq. 6) into two diagnostics:

* `fd_class_shares`: the reference set re-weighted to the generator's class histogram, against itself: the
  distance wrong class shares alone would cause if every digit were drawn perfectly;
* `fd_class_balanced`: the generated set re-weighted to the reference histogram, against the reference: the
  distance left if the generator had the right class shares.
"""
from __future__ import annotations

import numpy as np

from genlab.errors import ModelInputError
from genlab.metrics.frechet import frechet_distance


def class_histogram(predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """Predicted classes (N,) in [0, K) -> shares (K,) summing to 1."""
    predicted = np.asarray(predicted)
    if predicted.ndim != 1 or len(predicted) == 0 or predicted.min() < 0 or predicted.max() >= num_classes:
        raise ModelInputError(f"expected a non-empty vector of classes in [0, {num_classes - 1}], got shape "
                              f"{predicted.shape}")
    return np.bincount(predicted, minlength=num_classes) / len(predicted)


def weighted_gaussian(features: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Features (N, d) and weights (N,) >= 0 -> weighted mean (d,) and covariance (d, d), scaled by N / (N - 1)
    like np.cov, so equal weights give np.mean and np.cov exactly."""
    x, w = np.asarray(features, np.float64), np.asarray(weights, np.float64)
    if x.ndim != 2 or w.shape != (len(x),) or len(x) < 2 or (w < 0).any() or w.sum() <= 0:
        raise ModelInputError(f"expected features (N, d) with N >= 2 and weights (N,) >= 0 not all zero, got "
                              f"{x.shape} and {w.shape}")
    w = w / w.sum()
    mu = w @ x
    centred = x - mu
    return mu, (centred * w[:, None]).T @ centred * (len(x) / (len(x) - 1))


def class_share_frechet(fake: np.ndarray, fake_classes: np.ndarray, ref: np.ndarray, ref_classes: np.ndarray,
                        num_classes: int) -> dict[str, float]:
    """fake (N, d), ref (M, d) features and their predicted classes (N,), (M,) -> fd (the plain Frechet
    distance), fd_class_shares and fd_class_balanced (module docstring). A class the generator never draws keeps
    weight 0 in the balanced set (it cannot be re-weighted into existence)."""
    h_fake, h_ref = class_histogram(fake_classes, num_classes), class_histogram(ref_classes, num_classes)
    if (h_ref == 0).any():
        raise ModelInputError(f"every class must occur in the reference set; shares {np.round(h_ref, 3).tolist()}")
    ref_gauss = weighted_gaussian(ref, np.ones(len(ref)))
    to_fake = (h_fake / h_ref)[ref_classes]
    to_ref = np.divide(h_ref, h_fake, out=np.zeros(num_classes), where=h_fake > 0)[fake_classes]
    return {"fd": frechet_distance(*weighted_gaussian(fake, np.ones(len(fake))), *ref_gauss),
            "fd_class_shares": frechet_distance(*weighted_gaussian(ref, to_fake), *ref_gauss),
            "fd_class_balanced": frechet_distance(*weighted_gaussian(fake, to_ref), *ref_gauss)}
