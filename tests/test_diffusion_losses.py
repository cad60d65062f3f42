"""L_simple (Algorithm 1) for each parameterisation, min-SNR weights, and classifier-free guidance on stubs."""
from __future__ import annotations

import pytest
import torch

from genlab.diffusion import (Denoiser, NoiseSchedule, classifier_free_guidance, classifier_free_guidance_batched,
                              l_simple, min_snr_weight)
from genlab.errors import ConfigError, ModelInputError

SCHEDULE = NoiseSchedule.from_name("linear", T=1000)


def _batch(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(4, 1, 3, 3, generator=g) * 2 - 1, torch.randint(0, 1000, (4,), generator=g),
            torch.randn(4, 1, 3, 3, generator=g))


def _coefs(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    abar = torch.tensor(SCHEDULE.alphas_cumprod)[t].float()[:, None, None, None]
    return abar.sqrt(), (1 - abar).sqrt()


@pytest.mark.parametrize("prediction", ["eps", "x0", "v"])
def test_the_true_target_scores_zero_and_zero_scores_its_square(prediction):
    x0, t, noise = _batch()
    a, s = _coefs(t)
    target = {"eps": noise, "x0": x0, "v": a * noise - s * x0}[prediction]

    def oracle(x_t, t_in):
        assert torch.equal(t_in, t)
        torch.testing.assert_close(x_t, a * x0 + s * noise)  # the network sees x_t of Algorithm 1
        return target

    assert l_simple(Denoiser(oracle, SCHEDULE, prediction=prediction), x0, t=t, noise=noise).item() < 1e-12
    loss = l_simple(Denoiser(lambda x_t, t_in: torch.zeros_like(x_t), SCHEDULE, prediction=prediction), x0,
                    t=t, noise=noise)
    assert loss.item() == pytest.approx(target.pow(2).mean().item(), rel=1e-6)


def test_per_example_losses_and_gradients():
    x0, t, noise = _batch(1)
    w = torch.zeros((), requires_grad=True)
    per = l_simple(Denoiser(lambda x_t, t_in: w * x_t, SCHEDULE), x0, t=t, noise=noise, reduction="none")
    assert per.shape == (4,)
    per.mean().backward()
    assert w.grad is not None and w.grad.abs() > 0


@pytest.mark.parametrize("prediction", ["eps", "x0", "v"])
def test_min_snr_weights(prediction):
    t, gamma = torch.tensor([0, 300, 999]), 5.0
    abar = SCHEDULE.alphas_cumprod[t.numpy()]
    snr = abar / (1 - abar)
    expected = {"eps": [min(r, gamma) / r for r in snr], "x0": [min(r, gamma) for r in snr],
                "v": [min(r, gamma) / (r + 1) for r in snr]}[prediction]
    got = min_snr_weight(SCHEDULE, t, prediction=prediction, gamma=gamma)
    assert got.tolist() == pytest.approx(expected, rel=1e-6)
    x0, _, noise = _batch(2)
    zero = lambda x_t, t_in: torch.zeros_like(x_t)  # noqa: E731
    plain = l_simple(Denoiser(zero, SCHEDULE, prediction=prediction), x0[:3], t=t, noise=noise[:3], reduction="none")
    weighted = l_simple(Denoiser(zero, SCHEDULE, prediction=prediction), x0[:3], t=t, noise=noise[:3], reduction="none",
                        weighting="min_snr", snr_gamma=gamma)
    torch.testing.assert_close(weighted, plain * torch.tensor(expected, dtype=torch.float32))


def test_bad_loss_inputs_raise():
    x0, t, noise = _batch()
    with pytest.raises(ModelInputError, match="noise"):
        l_simple(Denoiser(lambda x, t: x, SCHEDULE), x0, t=t, noise=noise[:, :, :2])
    with pytest.raises(ModelInputError, match="network returned"):
        l_simple(Denoiser(lambda x, t: x[:, :, :2], SCHEDULE), x0, t=t, noise=noise)
    with pytest.raises(ConfigError, match="weighting"):
        l_simple(Denoiser(lambda x, t: x, SCHEDULE), x0, t=t, noise=noise, weighting="p2")
    with pytest.raises(ConfigError, match="prediction"):
        l_simple(Denoiser(lambda x, t: x, SCHEDULE, prediction="score"), x0, t=t, noise=noise)
    with pytest.raises(ModelInputError, match="timesteps"):
        l_simple(Denoiser(lambda x, t: x, SCHEDULE), x0, t=t + 1000, noise=noise)


def test_classifier_free_guidance_mixes_linearly():
    x, t = torch.randn(2, 3), torch.tensor([5, 6])
    cond = lambda x_t, t_in: x_t + 1.0  # noqa: E731
    uncond = lambda x_t, t_in: 2.0 * x_t  # noqa: E731
    torch.testing.assert_close(classifier_free_guidance(cond, uncond, 0.0)(x, t), 2.0 * x)
    torch.testing.assert_close(classifier_free_guidance(cond, uncond, 1.0)(x, t), x + 1.0)
    torch.testing.assert_close(classifier_free_guidance(cond, uncond, 3.0)(x, t), 2.0 * x + 3.0 * (1.0 - x))


def test_batched_guidance_equals_two_calls():
    calls = []

    def model(x_t, t_in, y):
        calls.append(x_t.shape[0])
        return x_t * y[:, None].float() + t_in[:, None].float() / 10

    x, t = torch.randn(3, 2), torch.tensor([1, 2, 3])
    y, null = torch.tensor([1, 2, 3]), torch.zeros(3, dtype=torch.long)
    batched = classifier_free_guidance_batched(model, y, null, 2.5)(x, t)
    two = classifier_free_guidance(lambda a, b: model(a, b, y), lambda a, b: model(a, b, null), 2.5)(x, t)
    torch.testing.assert_close(batched, two)
    assert calls[0] == 6
