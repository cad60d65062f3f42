"""genlab.seeding: the two mixers give the streams every stored result was drawn from, value for value."""
from __future__ import annotations

import numpy as np
import torch

from genlab.seeding import mix_seed, stream_seed
from genlab.sharding import chunk_generator


def test_training_mixer_keeps_its_values():
    # values of the loop's former _seed_for: changing them would change every training result
    assert mix_seed(0, 0, 0, 0, 0) == 4790683863997208437
    assert mix_seed(1234, 7, 1, 0, 2) == 8633133297241700739
    assert mix_seed() == 2177342782468422677
    assert all(0 <= mix_seed(s, k) < 2**63 for s in range(5) for k in range(5))
    assert mix_seed(0, 1) != mix_seed(1, 0)


def test_sampling_streams_are_numpy_seed_sequences():
    assert stream_seed(0, 0) == 15793235383387715774
    assert stream_seed(5, 3) == int(np.random.SeedSequence([5, 3]).generate_state(1, dtype=np.uint64)[0])
    a, b = chunk_generator(5, 3), torch.Generator().manual_seed(stream_seed(5, 3))
    assert torch.equal(torch.rand(4, generator=a), torch.rand(4, generator=b))
