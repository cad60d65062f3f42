"""Data order as a pure function of (seed, step), so a resumed run draws exactly the batches it would have drawn.

The stream of item indices is epoch 0's permutation, then epoch 1's, and so on; global batch `step` is the
slice [step * batch_size, (step + 1) * batch_size) of that stream, crossing an epoch boundary when it must.
"""
from __future__ import annotations

import numpy as np

from genlab.errors import DataError


def seeded_generator(seed: int, *streams: int) -> np.random.Generator:
    """numpy's generator for (seed, *streams); a negative seed is a one-line DataError, not numpy's ValueError."""
    if seed < 0:
        raise DataError(f"seed must be a non-negative integer, got {seed}")
    return np.random.default_rng([seed, *streams])


def epoch_permutation(n: int, *, seed: int, epoch: int) -> np.ndarray:
    """The order of the n items in `epoch`: int64 (n,), a permutation seeded by (seed, epoch)."""
    if n < 1 or epoch < 0:
        raise DataError(f"epoch_permutation needs n >= 1 and epoch >= 0, got n={n}, epoch={epoch}")
    return seeded_generator(seed, epoch).permutation(n).astype(np.int64)


def batch_indices(n: int, *, batch_size: int, step: int, seed: int) -> np.ndarray:
    """Indices int64 (batch_size,) of global batch number `step` in the epoch-by-epoch permuted stream."""
    if n < 1 or batch_size < 1 or step < 0:
        raise DataError(f"batch_indices needs n >= 1, batch_size >= 1, step >= 0; got n={n}, "
                        f"batch_size={batch_size}, step={step}")
    start, stop = step * batch_size, (step + 1) * batch_size
    parts = []
    for epoch in range(start // n, (stop - 1) // n + 1):
        lo, hi = max(start - epoch * n, 0), min(stop - epoch * n, n)
        parts.append(epoch_permutation(n, seed=seed, epoch=epoch)[lo:hi])
    return np.concatenate(parts)
