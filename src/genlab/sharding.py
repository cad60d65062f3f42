"""Inference sharded across processes (torchrun / accelerate launch): sampling and feature extraction.

n samples are cut into fixed chunks of `batch_size`; chunk k always draws from the random stream (seed, k)
(`genlab.seeding.stream_seed`), whatever the number of processes. Rank r takes chunks r, r + world,
r + 2 world, ...; a gather puts the chunks back in order, so N processes return exactly the samples one
process would. Memory per process stays one chunk of images (plus the gathered result, which the caller
asked for). The training loop runs its own processes through Accelerate and does not use this module.
"""
from __future__ import annotations

import atexit
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from genlab.errors import ModelInputError
from genlab.seeding import stream_seed


def _close_process_group() -> None:
    """Destroy the launcher's process group before the interpreter exits: left to teardown, gloo's threads can
    abort the process ("terminate called without an active exception", seen in 1 of ~10 two-process runs)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def _process_state() -> Any:
    """Accelerate's view of this process (joins the launcher's process group when there is one)."""
    from accelerate import PartialState

    state = PartialState(cpu=not torch.cuda.is_available())
    if state.num_processes > 1:
        atexit.unregister(_close_process_group)          # registered once, however often this is called
        atexit.register(_close_process_group)
    return state


def process_rank() -> tuple[int, int]:
    """(rank, world size) of this process; joins the launcher's process group when there is one."""
    state = _process_state()
    return state.process_index, state.num_processes


def process_device() -> torch.device:
    """This process's device: cuda:LOCAL_RANK under a launcher on a GPU machine (cuda:0 alone), else the CPU."""
    return _process_state().device


def chunk_generator(seed: int, k: int) -> torch.Generator:
    """The random stream of chunk k: a function of (seed, k) only (`stream_seed`, numpy's SeedSequence)."""
    if seed < 0:
        raise ModelInputError(f"the sampling seed must be >= 0, got {seed}")
    return torch.Generator().manual_seed(stream_seed(seed, k))


def chunk_slices(n: int, batch_size: int) -> list[slice]:
    """The fixed chunks [0, b), [b, 2b), ... of n items."""
    if batch_size < 1:
        raise ModelInputError(f"batch size must be at least 1, got {batch_size}")
    return [slice(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]


def shard(n_chunks: int, *, rank: int, world: int) -> list[int]:
    """The chunk ids this rank draws: rank, rank + world, ... (round robin keeps the shares within one chunk)."""
    return list(range(rank, n_chunks, world))


def _rows(value: Any, n: int, rows: slice) -> Any:
    """A per-item option's rows of this chunk: tensors, arrays and lists of length n are cut; others pass whole."""
    if isinstance(value, (list, tuple, np.ndarray)) and len(value) == n and not isinstance(value, str):
        value = torch.as_tensor(np.asarray(value))
    if isinstance(value, Tensor) and value.ndim > 0 and len(value) == n:
        return value[rows]
    return value


def sample_chunk(family: Any, models: dict[str, nn.Module], n: int, k: int, *, seed: int, batch_size: int,
                 **options: Any) -> Tensor:
    """Chunk k of n samples ((b, C, H, W) or (b, D)); per-item options (labels (n,), noise (n, ...)) are sliced."""
    sl = chunk_slices(n, batch_size)[k]
    size = sl.stop - sl.start
    chunk = {key: _rows(v, n, sl) for key, v in options.items()}
    with torch.inference_mode():
        return family.sample(models, size, generator=chunk_generator(seed, k), **chunk).cpu()


class SamplingProgress:
    """A progress bar over sampling chunks: a tick per denoising step where the family's sample() takes a
    `callback` (the total is known once the first chunk is done), else a tick per chunk."""

    def __init__(self, family: Any, n_chunks: int, *, desc: str, enabled: bool) -> None:
        self.enabled = enabled
        self.per_step = enabled and "callback" in family.sample_options
        self.n_chunks = n_chunks
        # disable=None: shown on a terminal only, so logs and captured stderr keep one line per message
        self.bar = tqdm(total=None if self.per_step else n_chunks, desc=desc, unit="step" if self.per_step else
                        "chunk", disable=None if enabled else True, leave=False, dynamic_ncols=True)

    def options(self, options: dict[str, Any]) -> dict[str, Any]:
        """`options` with a callback that ticks the bar each step (and still calls the caller's callback)."""
        if not self.per_step:
            return options
        user = options.get("callback")

        def callback(*args: Any) -> None:
            self.bar.update(1)
            if user is not None:
                user(*args)
        return {**options, "callback": callback}

    def chunk_done(self) -> None:
        """Advance a per-chunk bar, or fix a per-step bar's total from the first chunk's step count."""
        if not self.per_step:
            self.bar.update(1)
        elif self.bar.total is None:
            self.bar.total = self.bar.n * self.n_chunks
            self.bar.refresh()

    def __enter__(self) -> SamplingProgress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.bar.close()


def gather_chunks(mine: list[tuple[int, Any]], *, world: int) -> list[Any]:
    """Every rank's (chunk id, value) pairs, gathered to all ranks and put in chunk order."""
    if world > 1:
        from accelerate.utils import gather_object

        mine = gather_object(mine)
    return [value for _, value in sorted(mine, key=lambda kv: kv[0])]


def sample_sharded(run: Any, n: int, *, seed: int = 0, batch_size: int = 256, progress: bool = False,
                   **options: Any) -> Tensor:
    """n samples of a loaded `Run`, drawn by all processes (each its share of chunks) and gathered on every rank.

    `progress` shows rank 0's bar (its share of the chunks, a tick per denoising step where there are steps).
    """
    rank, world = process_rank()
    mine = list(_my_chunks(run, n, seed=seed, batch_size=batch_size, rank=rank, world=world,
                           progress=progress and rank == 0, **options))
    return torch.cat(gather_chunks(mine, world=world))


def _my_chunks(run: Any, n: int, *, seed: int, batch_size: int, rank: int, world: int, progress: bool = False,
               **options: Any) -> Iterator[tuple[int, Tensor]]:
    ks = shard(len(chunk_slices(n, batch_size)), rank=rank, world=world)
    with SamplingProgress(run.family, len(ks), desc=f"sample {n}", enabled=progress) as bar:
        for k in ks:
            yield k, sample_chunk(run.family, run.models, n, k, seed=seed, batch_size=batch_size,
                                  **bar.options(options))
            bar.chunk_done()


def extract_sharded(run: Any, n: int, extractor: Any, *, seed: int = 0, batch_size: int = 100,
                    progress: bool = False, **options: Any) -> Any:
    """Features of n samples of a run, each process sampling and extracting its chunks, gathered in chunk order.

    Returns an `ExtractedFeatures` (running statistics, features (n, dim), and class probabilities when the
    extractor has a classifier head) equal on every rank to what one process computes; `compute_metrics`
    takes it in place of the fake images. Only one chunk of images exists at a time on each process.
    """
    from genlab.metrics.evaluate import ExtractedFeatures, checked_uint8
    from genlab.metrics.features import as_uint8_images
    from genlab.metrics.statistics import RunningStatistics

    rank, world = process_rank()
    mine = []
    with torch.no_grad():
        for k, images in _my_chunks(run, n, seed=seed, batch_size=batch_size, rank=rank, world=world,
                                    progress=progress and rank == 0, **options):
            feats, logits = extractor.features_and_logits(as_uint8_images(checked_uint8(images)))
            probs = None if logits is None else logits.double().softmax(dim=1).cpu().numpy()
            mine.append((k, (feats.cpu().numpy().astype(np.float32), probs)))
    out = ExtractedFeatures(RunningStatistics(extractor.dim))
    for feats, probs in gather_chunks(mine, world=world):
        out.stats.update(feats)
        out.features.append(feats)
        if probs is not None:
            out.probs.append(probs)
    return out

