"""Trained VAE/AE runs and their data: load a run folder, checking its family, and the items it was trained on."""
from __future__ import annotations

import os
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from genlab.errors import CheckpointError, DataError
from genlab.training.run import Run, load_run
from genlab.vae.networks import VAE

FAMILIES = ("vae", "ae")


def as_vae_run(run: Run | str | os.PathLike[str], *, need_posterior: bool = False) -> Run:
    """A loaded run of the vae (or ae) family; a run folder path is loaded (EMA weights). Other families are refused."""
    if not isinstance(run, Run):
        run = load_run(run)
    family = run.config.family
    wanted = ("vae",) if need_posterior else FAMILIES
    if family not in wanted:
        what = "a VAE run (family 'vae')" if need_posterior else "a VAE or autoencoder run (family 'vae' or 'ae')"
        raise CheckpointError(f"{run.path} holds a '{family}' model; this needs {what}")
    return run


def vae_of(run: Run) -> VAE:
    """The run's VAE module."""
    return run.models["vae"]  # type: ignore[return-value]


def run_items(run: Run, *, split: Literal["train", "test"] = "test", data: str | None = None,
              limit: int | None = None, seed: int = 0) -> tuple[Tensor, Tensor | None]:
    """Items of the run's dataset (or of `data`) as the model sees them: (N, *shape) float ([-1, 1] images),
    labels (N,)."""
    from genlab.data import load_dataset, to_float

    cfg = run.config.data
    ds = load_dataset(data or cfg.name, split=split, image_size=cfg.image_size, channels=cfg.channels,
                      limit=limit, seed=seed)
    if tuple(ds.shape) != tuple(run.info.shape):
        raise DataError(f"{data or cfg.name} holds items of shape {tuple(ds.shape)}, the run was trained on "
                        f"{tuple(run.info.shape)}")
    x = torch.from_numpy(ds.x)
    x = to_float(x) if x.dtype == torch.uint8 else x.float()
    y = torch.from_numpy(np.asarray(ds.y)).long() if ds.y is not None else None
    return x, y


