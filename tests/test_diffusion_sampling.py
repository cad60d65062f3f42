"""Ancestral (Algorithm 2) and DDIM samplers with exact denoisers whose answers are known in closed form."""
from __future__ import annotations

import math

import pytest
import torch

from genlab.diffusion import Denoiser, NoiseSchedule, ddim_step, ddpm_step, sample_ancestral, sample_ddim, timesteps
from genlab.errors import ConfigError, ModelInputError

LINEAR = NoiseSchedule.from_name("linear", T=1000)
COSINE = NoiseSchedule.from_name("cosine", T=1000)
X0 = torch.tensor([[0.25, -0.9], [0.6, 0.0]], dtype=torch.float64)  # the single data point of the oracle, (2, 2)


def _coefs(schedule: NoiseSchedule, t: torch.Tensor) -> tuple[float, float]:
    step = int(t[0])
    assert torch.all(t == step)  # samplers call the network with one timestep for the whole batch
    return float(schedule.sqrt_alphas_cumprod[step]), float(schedule.sqrt_one_minus_alphas_cumprod[step])


def _oracle(schedule: NoiseSchedule, prediction: str):
    """The exact network for data = delta(X0), in each parameterisation."""
    def model_fn(x_t, t):
        a, s = _coefs(schedule, t)
        eps = (x_t - a * X0) / s
        return {"eps": eps, "x0": X0.expand_as(x_t), "v": a * eps - s * X0}[prediction]
    return model_fn


@pytest.mark.parametrize("prediction", ["eps", "x0", "v"])
@pytest.mark.parametrize("spacing", ["leading", "trailing", "linspace"])
def test_ddim_with_an_oracle_recovers_x0(prediction, spacing):
    x_T = torch.randn(2, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    out = sample_ddim(Denoiser(_oracle(COSINE, prediction), COSINE, prediction=prediction), x_T,
                      timesteps(1000, 10, spacing=spacing))
    torch.testing.assert_close(out, X0, rtol=0, atol=1e-9)


@pytest.mark.parametrize("variance", ["beta_tilde", "beta"])
@pytest.mark.parametrize("spacing", ["leading", "trailing"])
def test_ancestral_with_an_oracle_ends_at_x0(variance, spacing):
    # the last step goes to alpha-bar = 1 with no noise, where the posterior mean is the predicted x0
    g = torch.Generator().manual_seed(1)
    out = sample_ancestral(Denoiser(_oracle(LINEAR, "eps"), LINEAR),
                           torch.randn(2, 2, generator=g, dtype=torch.float64),
                           timesteps(1000, 20, spacing=spacing), variance=variance, generator=g)
    torch.testing.assert_close(out, X0, rtol=0, atol=1e-9)


def test_ddim_at_eta_0_is_deterministic_and_ignores_the_generator():
    x_T = torch.randn(3, 2, 4, 4, generator=torch.Generator().manual_seed(2))
    model = lambda x, t: torch.tanh(x) * (t[:, None, None, None] / 1000)  # noqa: E731
    runs = [sample_ddim(Denoiser(model, LINEAR), x_T, timesteps(1000, 25),
                        generator=torch.Generator().manual_seed(seed))
            for seed in (3, 4)]
    assert torch.equal(runs[0], runs[1])
    noisy = [sample_ddim(Denoiser(model, LINEAR), x_T, timesteps(1000, 25), eta=1.0,
                         generator=torch.Generator().manual_seed(s))
             for s in (3, 4)]
    assert not torch.allclose(noisy[0], noisy[1])


M, S = 0.3, 0.5  # data N(M, S^2) in one dimension


def _gaussian_data_eps(schedule: NoiseSchedule):
    """E[eps | x_t] for data N(M, S^2): sigma (x_t - alpha M) / (alpha^2 S^2 + sigma^2), the optimal eps-network."""
    def model_fn(x_t, t):
        a, s = _coefs(schedule, t)
        return s * (x_t - a * M) / (a * a * S * S + s * s)
    return model_fn


@pytest.mark.parametrize("schedule", [LINEAR, COSINE], ids=["linear", "cosine"])
@pytest.mark.parametrize("variance", ["beta_tilde", "beta"])
def test_ancestral_sampling_of_gaussian_data_has_its_mean_and_variance(schedule, variance):
    n = 20_000
    g = torch.Generator().manual_seed(5)
    x_T = torch.randn(n, 1, generator=g, dtype=torch.float64)
    out = sample_ancestral(Denoiser(_gaussian_data_eps(schedule), schedule), x_T, timesteps(1000, 1000),
                           variance=variance,
                           clip_x0=False, generator=g)
    se = S / math.sqrt(n)
    assert abs(out.mean().item() - M) < 5 * se
    assert out.std().item() == pytest.approx(S, rel=0.02)  # sampling error ~0.5% at this n


def test_callback_sees_each_visited_step():
    seen = []
    x_T = torch.randn(2, 2, dtype=torch.float64)
    steps = timesteps(1000, 5, spacing="trailing")
    sample_ddim(Denoiser(_oracle(LINEAR, "eps"), LINEAR), x_T, steps,
                callback=lambda i, t, x_t, x0: seen.append((i, t, x_t.shape, x0.clone())))
    assert [(i, t) for i, t, _, _ in seen] == list(enumerate(steps.tolist()))
    assert all(shape == (2, 2) for _, _, shape, _ in seen)
    torch.testing.assert_close(seen[-1][3], X0.clamp(-1, 1))


def test_one_ddim_step_with_eta_1_has_the_ancestral_variance():
    # eta = 1 gives sigma^2 = beta-tilde (Song et al. eq. 16), the same Gaussian as a DDPM step
    abar_t, abar_prev = float(LINEAR.alphas_cumprod[600]), float(LINEAR.alphas_cumprod[580])
    x_t, out, z = torch.randn(3, 4), torch.randn(3, 4), torch.randn(3, 4)
    ddim, _ = ddim_step(out, x_t, alpha_bar_t=abar_t, alpha_bar_prev=abar_prev, eta=1.0, clip_x0=False, noise=z)
    ddpm, _ = ddpm_step(out, x_t, alpha_bar_t=abar_t, alpha_bar_prev=abar_prev, clip_x0=False, noise=z)
    torch.testing.assert_close(ddim, ddpm, rtol=1e-5, atol=1e-5)


def test_bad_sampler_inputs_raise():
    x = torch.randn(2, 3)
    model = lambda x, t: x  # noqa: E731
    with pytest.raises(ConfigError, match="descending"):
        sample_ddim(Denoiser(model, LINEAR), x, [10, 20])
    with pytest.raises(ConfigError, match="descending"):
        sample_ancestral(Denoiser(model, LINEAR), x, [1000, 10])
    with pytest.raises(ConfigError, match="prediction"):
        sample_ddim(Denoiser(model, LINEAR, prediction="score"), x, [10])
    with pytest.raises(ConfigError, match="variance"):
        sample_ancestral(Denoiser(model, LINEAR), x, [10], variance="learned")
    with pytest.raises(ConfigError, match="eta"):
        sample_ddim(Denoiser(model, LINEAR), x, [10], eta=-1.0)
    with pytest.raises(ModelInputError, match="network returned"):
        sample_ddim(Denoiser(lambda x, t: x[:, :2], LINEAR), x, [10])
    with pytest.raises(ConfigError, match="noise"):
        ddim_step(x, x, alpha_bar_t=0.5, alpha_bar_prev=0.6, eta=0.5)
