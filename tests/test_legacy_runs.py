"""Run folders written before the diffusion restructuring (genlab d8dc883) still load and sample the same numbers.

tests/data/legacy_runs holds a guided class-conditional DDPM (v-prediction) and a VAE whose checkpoint still
carries the retired micro-batch counter; expected.npz is what that genlab drew from them
(tests/data/legacy_runs/make_expected.py). On the machine that made them the new code gives the same bytes;
the tolerance only absorbs other CPUs' kernels.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from genlab.data import load_dataset
from genlab.training.run import load_run

ROOT = Path(__file__).parent / "data" / "legacy_runs"
EXPECTED = np.load(ROOT / "expected.npz")


def _gap(actual: torch.Tensor, key: str) -> float:
    """Largest absolute difference from the old code's samples."""
    return float(np.abs(actual.numpy() - EXPECTED[key]).max())


@pytest.mark.parametrize("key,options", [
    ("ddpm_guided", dict(seed=1, label=3, guidance=2.5)),
    ("ddpm_ancestral", dict(seed=2, sampler="ancestral", steps=10)),
    ("ddpm_eta", dict(seed=4, eta=0.7, spacing="trailing")),
])
def test_an_old_diffusion_run_samples_as_before(key, options):
    run = load_run(ROOT / "ddpm_cls")
    x = run.sample(len(EXPECTED[key]), precision="fp32", **options)
    assert x.shape == EXPECTED[key].shape and _gap(x, key) <= 2e-5


def test_an_old_vae_run_with_its_retired_counter_loads_and_scores_as_before():
    run = load_run(ROOT / "vae")
    assert "micro_batches" not in run.models["vae"].state_dict()
    assert _gap(run.sample(6, seed=3), "vae") <= 2e-5
    x = torch.from_numpy(load_dataset("digits", split="test", limit=8, seed=0).x)
    elbo = run.family.likelihood(run.models, x, seed=0, k=5, progress=False)["elbo"]
    assert elbo == pytest.approx(float(EXPECTED["vae_elbo"][0]), abs=1e-4)
