"""The denoiser answers x0 / eps / v / score in closed form for an exact network, whatever it predicts."""
from __future__ import annotations

import math

import pytest
import torch

from genlab.diffusion import Denoiser, NoiseSchedule
from genlab.errors import ConfigError, ModelInputError

COSINE = NoiseSchedule.from_name("cosine", T=1000)
X0 = torch.tensor([[0.25, -0.9], [0.6, 0.0]], dtype=torch.float64)


def _exact(prediction: str):
    """The network for data = delta(X0), outputting eps, x0 or v."""
    def net(x_t, t):
        a = COSINE.sqrt_alphas_cumprod[t.numpy()][:, None]
        s = COSINE.sqrt_one_minus_alphas_cumprod[t.numpy()][:, None]
        a, s = torch.from_numpy(a), torch.from_numpy(s)
        eps = (x_t - a * X0) / s
        return {"eps": eps, "x0": X0.expand_as(x_t), "v": a * eps - s * X0}[prediction]
    return net


@pytest.mark.parametrize("prediction", ["eps", "x0", "v"])
@pytest.mark.parametrize("step", [3, 500, 990])
def test_every_parameterisation_gives_the_same_x0_eps_v_and_score(prediction, step):
    d = Denoiser(_exact(prediction), COSINE, prediction=prediction)
    g = torch.Generator().manual_seed(step)
    eps = torch.randn(2, 2, generator=g, dtype=torch.float64)
    abar = float(COSINE.alphas_cumprod[step])
    a, s = math.sqrt(abar), math.sqrt(1 - abar)
    x_t = a * X0 + s * eps
    for t in (step, torch.full((2,), step)):                      # one visited step, or a batch of timesteps
        torch.testing.assert_close(d.x0(x_t, t), X0, rtol=0, atol=1e-9)
        torch.testing.assert_close(d.eps(x_t, t), eps, rtol=0, atol=1e-7)
        torch.testing.assert_close(d.v(x_t, t), a * eps - s * X0, rtol=0, atol=1e-7)
        torch.testing.assert_close(d.score(x_t, t), -eps / s, rtol=0, atol=1e-6)


def test_the_target_is_what_an_exact_network_outputs():
    t = torch.tensor([10, 700])
    eps = torch.randn(2, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    a = torch.from_numpy(COSINE.sqrt_alphas_cumprod[t.numpy()])[:, None]
    s = torch.from_numpy(COSINE.sqrt_one_minus_alphas_cumprod[t.numpy()])[:, None]
    for prediction in ("eps", "x0", "v"):
        d = Denoiser(_exact(prediction), COSINE, prediction=prediction)
        torch.testing.assert_close(d.target(X0, eps, t), d(a * X0 + s * eps, t), rtol=0, atol=1e-9)


def test_bf16_runs_the_network_under_autocast_and_returns_float32():
    seen = []

    def net(x_t, t):
        y = torch.nn.functional.linear(x_t, torch.eye(x_t.shape[1]))
        seen.append(y.dtype)
        return y
    out = Denoiser(net, COSINE, precision="bf16")(torch.randn(3, 4), torch.full((3,), 5))
    assert seen == [torch.bfloat16] and out.dtype == torch.float32


def test_bad_denoisers_are_one_line_errors():
    with pytest.raises(ConfigError, match="unknown prediction 'score'"):
        Denoiser(lambda x, t: x, COSINE, prediction="score")
    with pytest.raises(ModelInputError, match="precision"):
        Denoiser(lambda x, t: x, COSINE, precision="fp16")
    with pytest.raises(ModelInputError, match=r"network returned shape \(2, 1\), expected \(2, 2\)"):
        Denoiser(lambda x, t: x[:, :1], COSINE).x0(X0, 5)
