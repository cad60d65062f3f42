"""genlab's diffusion math against numbers recorded from HF diffusers 0.42.1 (tests/data/make_diffusers_reference.py).

diffusers is never imported here: its outputs, with every input they came from, are in diffusers_reference.npz.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from genlab.diffusion import Denoiser, NoiseSchedule, ddim_step, ddpm_step, sample_ancestral, sample_ddim, timesteps

DATA = Path(__file__).parent / "data"
REF = np.load(DATA / "diffusers_reference.npz", allow_pickle=False)
ATOL = 1e-4
T = 1000


def _load_stand_in():
    spec = importlib.util.spec_from_file_location("make_diffusers_reference", DATA / "make_diffusers_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # defines functions only; diffusers is imported inside its main()
    return module.stand_in_model


stand_in_model = _load_stand_in()
SCHEDULE_OPTIONS = {"linear": {}, "cosine": {}, "geodiff_sigmoid": {},
                    "scaled_linear": {"beta_start": 0.00085, "beta_end": 0.012}}


def _schedule(name: str = "linear") -> NoiseSchedule:
    return NoiseSchedule.from_name(name, T=T, **SCHEDULE_OPTIONS[name])


def assert_close(actual, expected, atol: float = ATOL, rtol: float = 0.0) -> None:
    np.testing.assert_allclose(np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64),
                               rtol=rtol, atol=atol)


@pytest.mark.parametrize("name", list(SCHEDULE_OPTIONS))
def test_schedule_tables_match_diffusers(name):
    s = _schedule(name)
    assert_close(s.betas, REF[f"betas_{name}"])
    assert_close(s.alphas_cumprod, REF[f"alphas_cumprod_{name}"])
    # fixed_small is beta-tilde (diffusers clamps beta-tilde_0 = 0 to 1e-20); fixed_large is beta
    assert_close(s.posterior_variance, REF[f"fixed_small_{name}"], atol=1e-6)
    assert_close(s.betas, REF[f"fixed_large_{name}"], atol=1e-6)


@pytest.mark.parametrize("name", list(SCHEDULE_OPTIONS))
def test_respaced_variances_match_diffusers(name):
    s, steps = _schedule(name), REF[f"sub50_timesteps_{name}"]
    abar = np.append(s.alphas_cumprod[steps], 1.0)
    beta = 1.0 - abar[:-1] / abar[1:]
    assert_close(beta * (1.0 - abar[1:]) / (1.0 - abar[:-1]), REF[f"sub50_fixed_small_{name}"], atol=1e-6)
    assert_close(beta, REF[f"sub50_fixed_large_{name}"], atol=1e-6)


@pytest.mark.parametrize("spacing", ["leading", "trailing", "linspace"])
@pytest.mark.parametrize("n", [1, 7, 10, 50, 333, 1000])
def test_timesteps_match_diffusers(spacing, n):
    np.testing.assert_array_equal(timesteps(T, n, spacing=spacing).numpy(), REF[f"timesteps_{spacing}_{n}"])


def test_leading_offset_matches_diffusers():
    np.testing.assert_array_equal(timesteps(T, 50, offset=1).numpy(), REF["timesteps_leading_50_offset1"])


def _case(prefix: str, i: int, key: str):
    value = REF[f"{prefix}_{key}"][i]
    return torch.from_numpy(value) if value.ndim else value.item()


@pytest.mark.parametrize("i", range(len(REF["ddpm_step_t"])))
def test_ddpm_step_matches_diffusers(i):
    c = lambda key: _case("ddpm_step", i, key)  # noqa: E731
    abar = _schedule().alphas_cumprod
    last = c("prev") < 0  # diffusers adds no noise at t = 0, the last step of both chains recorded
    x_prev, x0 = ddpm_step(c("output"), c("x"), alpha_bar_t=float(abar[c("t")]),
                           alpha_bar_prev=1.0 if last else float(abar[c("prev")]), prediction=c("prediction"),
                           variance=c("variance"), clip_x0=c("clip"), noise=None if last else c("noise"))
    # diffusers forms beta = 1 - abar_t / abar_prev in float32; near t = 1 (beta ~ 1e-4) that cancellation
    # costs it ~5e-5 relative, so |x| ~ 2 needs 1e-4 relative on top of 1e-4 absolute. genlab's float64
    # value is checked against the closed form to 1e-6 in test_ddpm_step_is_ho_eq_7_in_float64.
    assert_close(x0, c("x0"), rtol=ATOL)
    assert_close(x_prev, c("prev_sample"), rtol=ATOL)


@pytest.mark.parametrize("i", range(len(REF["ddpm_step_t"])))
def test_ddpm_step_is_ho_eq_7_in_float64(i):
    c = lambda key: REF[f"ddpm_step_{key}"][i]  # noqa: E731
    abar = _schedule().alphas_cumprod
    a_t, a_prev = abar[c("t")], (1.0 if c("prev") < 0 else abar[c("prev")])
    x, out = c("x").astype(np.float64), c("output").astype(np.float64)
    x0 = {"eps": (x - np.sqrt(1 - a_t) * out) / np.sqrt(a_t), "x0": out,
          "v": np.sqrt(a_t) * x - np.sqrt(1 - a_t) * out}[str(c("prediction"))]
    x0 = np.clip(x0, -1, 1) if c("clip") else x0
    beta = 1 - a_t / a_prev
    mean = np.sqrt(a_prev) * beta / (1 - a_t) * x0 + np.sqrt(1 - beta) * (1 - a_prev) / (1 - a_t) * x
    var = beta * (1 - a_prev) / (1 - a_t) if c("variance") == "beta_tilde" else beta
    expected = mean if c("prev") < 0 else mean + np.sqrt(var) * c("noise")
    x_prev, _ = ddpm_step(torch.from_numpy(c("output")), torch.from_numpy(c("x")), alpha_bar_t=float(a_t),
                          alpha_bar_prev=float(a_prev), prediction=str(c("prediction")), variance=str(c("variance")),
                          clip_x0=bool(c("clip")), noise=None if c("prev") < 0 else torch.from_numpy(c("noise")))
    assert_close(x_prev, expected, atol=1e-5, rtol=1e-6)


@pytest.mark.parametrize("i", range(len(REF["ddim_step_t"])))
def test_ddim_step_matches_diffusers(i):
    c = lambda key: _case("ddim_step", i, key)  # noqa: E731
    abar = _schedule().alphas_cumprod
    final = 1.0 if c("final_alpha_one") else float(abar[0])
    x_prev, x0 = ddim_step(c("output"), c("x"), alpha_bar_t=float(abar[c("t")]),
                           alpha_bar_prev=final if c("prev") < 0 else float(abar[c("prev")]),
                           prediction=c("prediction"), eta=c("eta"), clip_x0=c("clip"), noise=c("noise"))
    assert_close(x0, c("x0"))
    assert_close(x_prev, c("prev_sample"))


def _trajectory(sampler, spacing: str = "leading", **options):
    states, x0s = [], []

    def record(i, t, x_t, x0):
        states.append(x_t.clone())
        x0s.append(x0.clone())

    x_0 = sampler(Denoiser(stand_in_model, _schedule()), torch.from_numpy(REF["traj_x_T"]),
                  timesteps(T, 50, spacing=spacing),
                  callback=record, **options)
    return torch.stack([*states, x_0]).numpy(), torch.stack(x0s).numpy()


@pytest.mark.parametrize("spacing", ["leading", "trailing"])
def test_ddim_50_step_trajectory_matches_diffusers(spacing):
    np.testing.assert_array_equal(timesteps(T, 50, spacing=spacing).numpy(), REF[f"traj_ddim_{spacing}_timesteps"])
    states, x0s = _trajectory(sample_ddim, spacing, eta=0.0)
    assert_close(states, REF[f"traj_ddim_{spacing}"])
    assert_close(x0s, REF[f"traj_ddim_{spacing}_x0"])


def test_stochastic_ddim_trajectory_draws_noise_as_diffusers():
    seed = int(REF["traj_generator_seeds"][0])
    states, _ = _trajectory(sample_ddim, eta=1.0, generator=torch.Generator().manual_seed(seed))
    assert_close(states, REF["traj_ddim_eta1"])


@pytest.mark.parametrize("variance", ["beta_tilde", "beta"])
def test_ancestral_trajectory_matches_diffusers_ddpm(variance):
    seed = int(REF["traj_generator_seeds"][1])
    states, _ = _trajectory(sample_ancestral, variance=variance, generator=torch.Generator().manual_seed(seed))
    assert_close(states, REF[f"traj_ddpm_{variance}"])
