"""Seed mixing: every random stream in genlab is seeded by a pure function of integers (seed, stream ids).

One rule, two mixers, both kept bit for bit because stored results depend on them:

- `mix_seed(*parts)`: the training loop's streams (seed, step, phase, repeat, micro-batch), a SplitMix64-style
  hash. Every training result (the demo's loss and samples, the shipped classifier weights, the README and
  BENCHMARKS figures) was drawn from it, so it cannot change without retraining them all.
- `stream_seed(seed, *streams)`: inference streams, numpy's SeedSequence([seed, *streams]); sampling chunk k
  draws from stream_seed(seed, k), so the samples of existing run folders stay byte-identical. The data
  order (`genlab.data.order`) uses the same SeedSequence keying through numpy's default_rng.
"""
from __future__ import annotations

import numpy as np

_MASK64 = 0xFFFFFFFFFFFFFFFF
_GOLDEN = 0x9E3779B97F4A7C15


def mix_seed(*parts: int) -> int:
    """A 63-bit seed mixing integers (SplitMix-style), so nearby steps get unrelated streams."""
    h = _GOLDEN
    for p in parts:
        h = (h ^ (p + _GOLDEN + (h << 6) + (h >> 2))) & _MASK64
        h = (h * 0xBF58476D1CE4E5B9) & _MASK64
        h ^= h >> 31
    return h & 0x7FFFFFFFFFFFFFFF


def stream_seed(seed: int, *streams: int) -> int:
    """A 64-bit seed for stream (seed, *streams): the first word of numpy's SeedSequence of the tuple."""
    return int(np.random.SeedSequence([seed, *streams]).generate_state(1, dtype=np.uint64)[0])
