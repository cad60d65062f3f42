"""Beta schedules, the NoiseSchedule tables and timestep spacings against their closed forms."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.special import expit

from genlab.diffusion import NoiseSchedule, betas_cosine, betas_linear, extract, timesteps
from genlab.errors import ConfigError, ModelInputError

NAMES = ["linear", "scaled_linear", "cosine", "sigmoid", "geodiff_sigmoid"]


@pytest.mark.parametrize("name", NAMES)
def test_alpha_bar_falls_strictly_from_near_one(name):
    abar = NoiseSchedule.from_name(name, T=1000).alphas_cumprod
    assert abar.dtype == np.float64
    assert np.all(np.diff(abar) < 0)
    assert 0.99 < abar[0] < 1.0 and 0.0 < abar[-1] < 0.01


def test_linear_endpoints_and_alpha_bar_product():
    s = NoiseSchedule.from_name("linear", T=1000)
    assert s.betas[0] == pytest.approx(1e-4, abs=1e-15) and s.betas[-1] == pytest.approx(0.02, abs=1e-15)
    assert s.betas[1] - s.betas[0] == pytest.approx((0.02 - 1e-4) / 999, rel=1e-9)
    # alpha-bar_T = prod (1 - beta_t), summed in log space independently of cumprod
    assert s.alphas_cumprod[-1] == pytest.approx(math.exp(sum(math.log1p(-b) for b in s.betas)), rel=1e-10)
    assert s.alphas_cumprod[-1] == pytest.approx(4.0358e-5, rel=1e-3)


def test_cosine_alpha_bar_matches_eq_17_until_the_cap():
    T, s = 1000, 0.008
    abar = NoiseSchedule.from_name("cosine", T=T).alphas_cumprod
    f = lambda t: math.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2  # noqa: E731
    expected = np.array([f(t + 1) / f(0) for t in range(T)])
    capped = betas_cosine(T) >= 0.999
    assert capped.sum() <= 2 and capped[-1]
    np.testing.assert_allclose(abar[~capped], expected[~capped], rtol=1e-9, atol=1e-14)
    assert betas_cosine(T).max() <= 0.999


def test_sigmoid_alpha_bar_is_chen_2023_form():
    T, start, end, tau = 1000, -3.0, 3.0, 1.0
    abar = NoiseSchedule.from_name("sigmoid", T=T, start=start, end=end, tau=tau).alphas_cumprod
    u = np.arange(1, T + 1) / T
    expected = (expit(end / tau) - expit((start + u * (end - start)) / tau)) / (expit(end / tau) - expit(start / tau))
    ok = expected > 1e-3  # away from the clip at 1e-9 and the beta cap at the very end
    np.testing.assert_allclose(abar[ok], expected[ok], rtol=1e-9)
    assert abar[T // 2 - 1] == pytest.approx(0.5, abs=0.01)  # symmetric around the middle for start = -end


def test_geodiff_sigmoid_betas_are_sigmoid_shaped():
    s = NoiseSchedule.from_name("geodiff_sigmoid", T=100, beta_start=1e-4, beta_end=0.02)
    np.testing.assert_allclose(s.betas, 1e-4 + (0.02 - 1e-4) * expit(np.linspace(-6, 6, 100)), rtol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_tables_follow_their_definitions(name):
    s = NoiseSchedule.from_name(name, T=200)
    b = s.betas
    abar = np.cumprod(1 - b)
    np.testing.assert_allclose(s.alphas_cumprod, abar, rtol=1e-12)
    np.testing.assert_allclose(s.alphas_cumprod_prev, np.r_[1.0, abar[:-1]], rtol=1e-12)
    np.testing.assert_allclose(s.posterior_variance[1:], b[1:] * (1 - abar[:-1]) / (1 - abar[1:]), rtol=1e-12)
    assert s.posterior_variance[0] == 0.0
    assert s.posterior_log_variance_clipped[0] == pytest.approx(math.log(s.posterior_variance[1]))
    np.testing.assert_allclose(s.snr(), abar / (1 - abar), rtol=1e-12)
    assert s.T == 200 and not s.betas.flags.writeable


def test_extract_broadcasts_in_the_input_dtype():
    s = NoiseSchedule.from_name("linear", T=10)
    x = torch.zeros(3, 2, 4, 4, dtype=torch.float16)
    out = extract(s.betas, torch.tensor([0, 9, 4]), x)
    assert out.shape == (3, 1, 1, 1) and out.dtype == torch.float16
    np.testing.assert_allclose(out.flatten().float().numpy(), s.betas[[0, 9, 4]], rtol=1e-3)


def test_bad_schedule_inputs_raise_one_line_errors():
    with pytest.raises(ConfigError, match="unknown noise schedule"):
        NoiseSchedule.from_name("quadratic")
    with pytest.raises(ConfigError, match="bad options"):
        NoiseSchedule.from_name("cosine", T=10, beta_end=0.02)
    with pytest.raises(ConfigError, match="betas"):
        NoiseSchedule.from_betas(np.array([0.1, 1.5]))
    with pytest.raises(ConfigError, match="T must be"):
        betas_linear(1)
    s = NoiseSchedule.from_name("linear", T=10)
    with pytest.raises(ModelInputError, match=r"\[0, 9\]"):
        extract(s.betas, torch.tensor([10]), torch.zeros(1, 2))
    with pytest.raises(ModelInputError, match="shape"):
        extract(s.betas, torch.tensor([1, 2]), torch.zeros(3, 2))


@pytest.mark.parametrize("spacing", ["leading", "trailing", "linspace"])
def test_timesteps_are_descending_and_in_range(spacing):
    for n in (1, 3, 50, 64, 1000):
        ts = timesteps(1000, n, spacing=spacing)
        assert ts.dtype == torch.long and ts.shape == (n,)
        assert torch.all(ts[:-1] > ts[1:]) and ts.min() >= 0 and ts.max() <= 999
    assert timesteps(1000, 1000, spacing=spacing).tolist() == list(range(999, -1, -1))


def test_timestep_spacings_by_definition():
    assert timesteps(1000, 4, spacing="leading").tolist() == [750, 500, 250, 0]
    assert timesteps(1000, 4, spacing="trailing").tolist() == [999, 749, 499, 249]
    assert timesteps(1000, 4, spacing="linspace").tolist() == [999, 666, 333, 0]
    assert timesteps(1000, 4, offset=1).tolist() == [751, 501, 251, 1]


def test_bad_timestep_requests_raise():
    with pytest.raises(ConfigError, match="sampling steps"):
        timesteps(100, 101)
    with pytest.raises(ConfigError, match="offset"):
        timesteps(100, 10, spacing="trailing", offset=1)
    with pytest.raises(ConfigError, match="spacing"):
        timesteps(100, 10, spacing="uniform")
    with pytest.raises(ConfigError, match="outside"):
        timesteps(100, 10, offset=20)
