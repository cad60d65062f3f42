"""Inception Score exp(E_x KL(p(y|x) || p(y))) over splits (Salimans et al. 2016, sec. 4).

The split convention is torch-fidelity's: optionally permute the N rows with
`np.random.RandomState(seed).permutation(N)`, cut them into `splits` chunks `[i*N//splits, (i+1)*N//splits)`,
take p(y) as each chunk's mean prediction, and report the mean and population standard deviation of the
per-chunk scores.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import rel_entr

from genlab.errors import ModelInputError
from genlab.metrics.inputs import as_float64


def inception_score(probs: Any, splits: int = 10, *, shuffle: bool = True, seed: int = 2020) -> tuple[float, float]:
    """Mean and std over `splits` of exp(mean KL(p(y|x) || p(y))); probs: (N, K) rows summing to 1
    (Salimans et al. 2016)."""
    p = as_float64(probs, "probs")
    if p.ndim != 2:
        raise ModelInputError(f"probs must be (N, num_classes), got shape {p.shape}")
    n = p.shape[0]
    if not 1 <= splits <= n:
        raise ModelInputError(f"splits must be between 1 and the number of samples ({n}), got {splits}")
    if p.min() < 0 or not np.allclose(p.sum(axis=1), 1.0, atol=1e-4):
        raise ModelInputError("probs must be probabilities (non-negative rows summing to 1); "
                              "apply softmax to logits first")
    if shuffle:
        p = p[np.random.RandomState(seed).permutation(n)]
    scores = []
    for i in range(splits):
        chunk = p[i * n // splits:(i + 1) * n // splits]
        marginal = chunk.mean(axis=0, keepdims=True)
        mean_kl = rel_entr(chunk, marginal).sum(axis=1).mean()
        scores.append(np.exp(mean_kl))
    return float(np.mean(scores)), float(np.std(scores))
