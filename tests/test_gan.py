"""GAN objectives against their formulas, penalties against finite differences, the optimal discriminator
against p_data / (p_data + p_g), the networks against the notes' sizes and DCGAN guidelines, and refusals."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats
from torch import nn

from genlab.config import apply_overrides, run_config_from_dict
from genlab.errors import ConfigError, ModelInputError
from genlab.gan import (DCGANDiscriminator, DCGANGenerator, MLPDiscriminator, d_loss_bce, d_loss_hinge, d_loss_lsgan,
                        d_loss_wasserstein, g_loss_hinge, g_loss_lsgan, g_loss_nonsaturating, g_loss_saturating,
                        g_loss_wasserstein, get_loss, gradient_penalty, r1_penalty)
from genlab.gan.family import GANFamily
from genlab.gan.monitor import CollapseMonitor
from genlab.errors import TrainingError
from genlab.training.objective import Batch, BatchRandom, DataInfo

REAL = [0.0, 2.0]


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors: one thread avoids oversubscribing a shared CPU."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
FAKE = [-1.0, 3.0]


def sigmoid(s: float) -> float:
    return 1.0 / (1.0 + math.exp(-s))


def t(values: list[float]) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


# --- losses on hand-computed values -------------------------------------------------------------------

def test_minimax_discriminator_loss_is_the_binary_cross_entropy_of_the_notes():
    # -1/N sum log D(x_r) - 1/N sum log(1 - D(G(z))) with D = sigmoid(score)
    expected = (-(math.log(sigmoid(0.0)) + math.log(sigmoid(2.0))) / 2
                - (math.log(1 - sigmoid(-1.0)) + math.log(1 - sigmoid(3.0))) / 2)
    assert d_loss_bce(t(REAL), t(FAKE)).item() == pytest.approx(expected, rel=1e-12)
    # (log 2 + log(1+e^-2))/2, (log(1+e^-1) + log(1+e^3))/2
    assert expected == pytest.approx(0.410038 + 1.680924, abs=1e-5)


def test_generator_losses_saturating_and_log_d_trick():
    sat = (math.log(1 - sigmoid(-1.0)) + math.log(1 - sigmoid(3.0))) / 2
    nonsat = -(math.log(sigmoid(-1.0)) + math.log(sigmoid(3.0))) / 2
    assert g_loss_saturating(t(FAKE)).item() == pytest.approx(sat, rel=1e-12)
    assert g_loss_nonsaturating(t(FAKE)).item() == pytest.approx(nonsat, rel=1e-12)


def test_log_d_trick_has_strong_gradient_where_the_saturating_loss_is_flat():
    # When D confidently rejects G(z) (score -10): d/ds log(1 - sigmoid(s)) = -sigmoid(s) ~ -4.5e-5, while
    # d/ds -log sigmoid(s) = -(1 - sigmoid(s)) ~ -1 (the notes' "gradient is relatively flat" picture).
    s = torch.tensor([-10.0], dtype=torch.float64, requires_grad=True)
    (g_sat,) = torch.autograd.grad(g_loss_saturating(s), s)
    s2 = s.detach().clone().requires_grad_(True)
    (g_ns,) = torch.autograd.grad(g_loss_nonsaturating(s2), s2)
    assert g_sat.item() == pytest.approx(-sigmoid(-10.0), rel=1e-9)
    assert g_ns.item() == pytest.approx(-(1 - sigmoid(-10.0)), rel=1e-9)


def test_wasserstein_lsgan_and_hinge_on_hand_values():
    assert d_loss_wasserstein(t(REAL), t(FAKE)).item() == pytest.approx(1.0 - 1.0)     # mean fake - mean real
    assert d_loss_wasserstein(t([1.0, 2.0]), t([-1.0, 0.0])).item() == pytest.approx(-2.0)
    assert g_loss_wasserstein(t(FAKE)).item() == pytest.approx(-1.0)
    # 1/2 mean (r-1)^2 = 1/2 * (1 + 1)/2 ; 1/2 mean f^2 = 1/2 * (1 + 9)/2
    assert d_loss_lsgan(t(REAL), t(FAKE)).item() == pytest.approx(0.5 + 2.5)
    assert g_loss_lsgan(t(FAKE)).item() == pytest.approx(0.5 * (4 + 4) / 2)
    # mean max(0, 1 - r) = (1 + 0)/2 ; mean max(0, 1 + f) = (0 + 4)/2
    assert d_loss_hinge(t(REAL), t(FAKE)).item() == pytest.approx(0.5 + 2.0)
    assert g_loss_hinge(t(FAKE)).item() == pytest.approx(-1.0)


def test_cross_entropy_losses_stay_finite_at_extreme_scores():
    assert d_loss_bce(t([200.0]), t([-200.0])).item() == pytest.approx(0.0, abs=1e-12)
    assert d_loss_bce(t([-200.0]), t([200.0])).item() == pytest.approx(400.0)
    assert math.isfinite(g_loss_nonsaturating(t([-500.0])).item())


def test_losses_are_chosen_by_name_with_a_clear_error():
    assert get_loss("nonsaturating").g is g_loss_nonsaturating and get_loss("minimax").g is g_loss_saturating
    assert get_loss("wgan-gp").gradient_penalty
    with pytest.raises(ModelInputError, match="expected one of"):
        get_loss("wgan")
    with pytest.raises(ConfigError, match="gan.loss"):
        run_config_from_dict(apply_overrides({"family": "gan"}, ["gan.loss=wasserstein"]))


# --- penalties against finite differences -----------------------------------------------------------

def tiny_critic() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 1), nn.Flatten(0)).double()


def numeric_gradient(f: nn.Module, x: torch.Tensor, h: float = 1e-6) -> torch.Tensor:
    """Central differences of f(x_i) w.r.t. each coordinate of each row x_i: (B, D)."""
    grad = torch.zeros_like(x)
    with torch.no_grad():
        for j in range(x.shape[1]):
            e = torch.zeros_like(x)
            e[:, j] = h
            grad[:, j] = (f(x + e) - f(x - e)) / (2 * h)
    return grad


def test_gradient_penalty_equals_the_finite_difference_norm_on_a_tiny_critic():
    critic = tiny_critic()
    gen = torch.Generator().manual_seed(1)
    real = torch.randn(6, 3, generator=gen, dtype=torch.float64)
    fake = 3 * torch.randn(6, 3, generator=gen, dtype=torch.float64)
    eps = torch.rand(6, 1, generator=gen, dtype=torch.float64)
    x_hat = eps * real + (1 - eps) * fake
    norms = numeric_gradient(critic, x_hat).norm(dim=1)
    expected = ((norms - 1) ** 2).mean()
    gp = gradient_penalty(critic, real, fake, eps)
    assert gp.item() == pytest.approx(expected.item(), rel=1e-7)
    gp.backward()                                               # double back-propagation reaches the critic
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in critic.parameters() if p.ndim == 2)


def test_r1_penalty_equals_the_finite_difference_squared_norm():
    critic = tiny_critic()
    x = torch.randn(5, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    expected = numeric_gradient(critic, x).pow(2).sum(dim=1).mean()
    assert r1_penalty(critic, x).item() == pytest.approx(expected.item(), rel=1e-7)


@pytest.mark.parametrize("arch,loss,r1,expected", [
    ("dcgan", "nonsaturating", None, 1.0), ("dcgan", "hinge", None, 1.0), ("dcgan", "wgan-gp", None, 0.0),
    ("mlp", "nonsaturating", None, 0.0), ("dcgan", "nonsaturating", 0.0, 0.0), ("mlp", "nonsaturating", 0.5, 0.5)])
def test_r1_is_on_by_default_for_dcgan_only_and_an_explicit_gamma_wins(arch, loss, r1, expected):
    overrides = ["train.batch_size=4", "model.channels=8", f"model.arch={arch}", f"gan.loss={loss}"]
    overrides += [] if r1 is None else [f"gan.r1={r1}"]
    config = run_config_from_dict(apply_overrides({"family": "gan"}, overrides))
    fam = GANFamily(config.sections, data=DataInfo("image", (1, 28, 28), None), train=config.train)
    models = fam.build_models()
    x = torch.rand(4, 1, 28, 28) * 2 - 1

    def d_loss() -> tuple[float, dict[str, float]]:
        rng = BatchRandom(torch.Generator().manual_seed(0), global_size=4, start=0, size=4)
        loss, logs = fam.loss("D", models, Batch(x=x, y=None, rng=rng))
        return loss.item(), logs

    with_r1, logs = d_loss()
    assert fam.r1 == expected and ("r1" in logs) == (expected > 0)
    if expected > 0:                        # the penalty is gamma/2 ||grad D(x)||^2 on the real batch (eq. 9)
        fam.r1 = 0.0
        plain, _ = d_loss()
        x_req = x.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(models["D"](x_req, None).sum(), x_req)
        assert with_r1 - plain == pytest.approx(0.5 * expected * grad.pow(2).flatten(1).sum(1).mean().item(), rel=1e-4)


def test_gradient_penalty_is_zero_for_a_unit_slope_linear_critic():
    w = torch.tensor([0.6, 0.8, 0.0], dtype=torch.float64)                  # ||w|| = 1
    gp = gradient_penalty(lambda v: v @ w, torch.randn(4, 3, dtype=torch.float64),
                          torch.randn(4, 3, dtype=torch.float64), torch.rand(4, 1, dtype=torch.float64))
    assert gp.item() == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ModelInputError, match="one shape"):
        gradient_penalty(lambda v: v @ w, torch.randn(4, 3), torch.randn(5, 3), torch.rand(4, 1))


# --- the optimal discriminator -------------------------------------------------------------------------

P_DATA, P_G = stats.norm(0.0, 1.0), stats.norm(1.0, 2.0)


def optimal_d(x: np.ndarray) -> np.ndarray:
    return P_DATA.pdf(x) / (P_DATA.pdf(x) + P_G.pdf(x))


def test_minimising_the_discriminator_loss_recovers_d_star_on_known_1d_densities():
    # Goodfellow et al. 2014, Prop. 1: D*(x) = p_data / (p_data + p_g). For two Gaussians log(p_data/p_g) is
    # quadratic in x, so a D with logit a + b x + c x^2 can represent D* exactly; the loss is convex in (a, b, c).
    gen = torch.Generator().manual_seed(0)
    n = 50_000
    real = torch.randn(n, generator=gen, dtype=torch.float64)
    fake = 1.0 + 2.0 * torch.randn(n, generator=gen, dtype=torch.float64)
    theta = torch.zeros(3, dtype=torch.float64, requires_grad=True)

    def score(x: torch.Tensor) -> torch.Tensor:
        return theta[0] + theta[1] * x + theta[2] * x * x

    opt = torch.optim.LBFGS([theta], max_iter=60, tolerance_grad=1e-12, tolerance_change=1e-14,
                            line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = d_loss_bce(score(real), score(fake))
        loss.backward()
        return loss

    opt.step(closure)
    grid = np.linspace(-2.5, 2.5, 51)
    learned = torch.sigmoid(score(torch.from_numpy(grid))).detach().numpy()
    np.testing.assert_allclose(learned, optimal_d(grid), atol=0.01)
    # Theorem 1: at D*, the discriminator loss is -V(G, D*) = 2 log 2 - 2 JSD(p_data || p_g).
    m = lambda x: 0.5 * (P_DATA.pdf(x) + P_G.pdf(x))                            # noqa: E731
    kl = lambda p: integrate.quad(lambda x: p.pdf(x) * math.log(p.pdf(x) / m(x)), -30, 30)[0]  # noqa: E731
    jsd = 0.5 * kl(P_DATA) + 0.5 * kl(P_G)
    assert closure().item() == pytest.approx(2 * math.log(2) - 2 * jsd, abs=5e-3)


def test_an_mlp_discriminator_trained_by_sgd_approaches_d_star():
    torch.manual_seed(0)
    D = MLPDiscriminator(shape=(1,), hidden=(16, 16), slope=0.2)
    opt = torch.optim.Adam(D.parameters(), lr=1e-2)
    gen = torch.Generator().manual_seed(3)
    for _ in range(300):
        real = torch.randn(256, 1, generator=gen)
        fake = 1.0 + 2.0 * torch.randn(256, 1, generator=gen)
        loss = d_loss_bce(D(real), D(fake))
        opt.zero_grad()
        loss.backward()
        opt.step()
    grid = np.linspace(-2.0, 2.0, 21)
    with torch.no_grad():
        learned = torch.sigmoid(D(torch.from_numpy(grid).float()[:, None])).numpy()
    np.testing.assert_allclose(learned, optimal_d(grid), atol=0.06)


# --- networks -----------------------------------------------------------------------------------------

MNIST_INFO = DataInfo("image", (1, 28, 28), 10)


def family(*overrides: str, info: DataInfo = MNIST_INFO) -> GANFamily:
    config = run_config_from_dict(apply_overrides({"family": "gan"}, list(overrides)))
    return GANFamily(config.sections, data=info, train=config.train)


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def test_the_notes_mlp_gan_has_784_128_1_and_100_128_784_layers():
    models = family("model.arch=mlp").build_models()
    assert n_params(models["D"]) == (784 * 128 + 128) + (128 + 1)
    assert n_params(models["G"]) == (100 * 128 + 128) + (128 * 784 + 784)
    z = torch.randn(3, 100)
    x = models["G"](z)
    assert x.shape == (3, 1, 28, 28) and x.abs().max() <= 1
    assert models["D"](x).shape == (3,)
    assert isinstance(family("model.arch=mlp", "model.d_slope=0.0").build_models()["D"].features[1], nn.LeakyReLU)


@pytest.mark.parametrize("size", [28, 32, 64])
def test_dcgan_follows_the_guidelines_at_28_32_and_64(size):
    G = DCGANGenerator(latent_dim=16, shape=(3, size, size), channels=8)
    D = DCGANDiscriminator(shape=(3, size, size), channels=8)
    x = G(torch.randn(2, 16))
    assert x.shape == (2, 3, size, size) and x.abs().max() <= 1
    assert D(x).shape == (2,)
    for net in (G, D):
        kinds = {type(m) for m in net.modules()}
        assert nn.Linear not in kinds and not any("Pool" in k.__name__ for k in kinds)      # no FC, no pooling
        assert nn.BatchNorm2d in kinds
    assert {nn.ReLU, nn.Tanh, nn.ConvTranspose2d} <= {type(m) for m in G.modules()}
    assert nn.LeakyReLU in {type(m) for m in D.modules()} and nn.ReLU not in {type(m) for m in D.modules()}
    assert all(c.stride == (2, 2) for c in D.features if isinstance(c, nn.Conv2d))


def test_wgan_gp_critic_uses_layer_norm_not_batchnorm():
    D = family("gan.loss=wgan-gp").build_models()["D"]
    kinds = {type(m) for m in D.modules()}
    assert nn.GroupNorm in kinds and nn.BatchNorm2d not in kinds


@pytest.mark.parametrize("condition", ["concat", "projection"])
def test_conditional_networks_depend_on_the_label(condition):
    models = family(f"model.condition={condition}", "model.channels=8").build_models()
    for m in models.values():
        m.eval()
    z = torch.randn(4, 100)
    y0, y1 = torch.zeros(4, dtype=torch.long), torch.full((4,), 7)
    with torch.no_grad():
        x0, x1 = models["G"](z, y0), models["G"](z, y1)
        assert not torch.allclose(x0, x1)
        assert not torch.allclose(models["D"](x0, y0), models["D"](x0, y1))
    with pytest.raises(ModelInputError, match="conditional"):
        models["G"](z)
    with pytest.raises(ModelInputError, match=r"\[0, 9\]"):
        models["G"](z, torch.full((4,), 10))


def test_projection_discriminator_adds_the_inner_product_of_embedding_and_features():
    D = MLPDiscriminator(shape=(2,), hidden=(8,), num_classes=3, condition="projection")
    x, y = torch.randn(5, 2), torch.tensor([0, 1, 2, 1, 0])
    with torch.no_grad():
        h = D.features(x)
        expected = D.score(h).squeeze(1) + (D.embed.weight[y] * h).sum(1)
        torch.testing.assert_close(D(x, y), expected)


# --- the family -----------------------------------------------------------------------------------------

def test_phases_are_k_discriminator_steps_then_one_generator_step_with_their_own_rates():
    d, g = family("gan.d_steps=5", "gan.g_lr=1e-4", "gan.d_lr=4e-4", "gan.betas=[0.0, 0.9]").phases()
    assert (d.name, d.modules, d.repeats, d.lr, d.betas) == ("D", ("D",), 5, 4e-4, (0.0, 0.9))
    assert (g.name, g.modules, g.repeats, g.lr) == ("G", ("G",), 1, 1e-4)
    assert family().ema_modules == ("G",)


def batch(x: torch.Tensor, y: torch.Tensor | None = None, seed: int = 0) -> Batch:
    rng = BatchRandom(torch.Generator().manual_seed(seed), global_size=len(x), start=0, size=len(x))
    return Batch(x=x, y=y, rng=rng)


def test_wgan_gp_loss_adds_lambda_times_the_penalty():
    fam = family("gan.loss=wgan-gp", "gan.gp_weight=10", "model.arch=mlp", info=DataInfo("vector", (2,), None))
    models = fam.build_models()
    x = torch.randn(8, 2)
    loss, logs = fam.loss("D", models, batch(x))
    # recompute from the same random draws: z first, then eps
    rng = batch(x).rng
    z, eps = rng.randn(100), rng.rand(1)
    with torch.no_grad():
        fake = models["G"](z)
    expected = d_loss_wasserstein(models["D"](x), models["D"](fake)) + 10 * gradient_penalty(models["D"], x, fake, eps)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert logs["gp"] > 0


def test_sampling_is_seeded_and_labels_select_classes():
    fam = family("model.condition=concat", "model.channels=8")
    models = {k: m.eval() for k, m in fam.build_models().items()}
    a = fam.sample(models, 6, generator=torch.Generator().manual_seed(0), label=3)
    b = fam.sample(models, 6, generator=torch.Generator().manual_seed(0), label=3)
    c = fam.sample(models, 6, generator=torch.Generator().manual_seed(0), label=4)
    assert a.shape == (6, 1, 28, 28) and torch.equal(a, b) and not torch.equal(a, c)
    assert fam.labels_for(12, None).tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]
    with pytest.raises(ModelInputError, match="0..9"):
        fam.sample(models, 2, generator=torch.Generator(), label=12)
    plain = family("model.channels=8")
    with pytest.raises(ModelInputError, match="unconditional"):
        plain.sample({k: m.eval() for k, m in plain.build_models().items()}, 2, generator=torch.Generator(), label=1)


def test_bad_configurations_give_one_line_errors():
    vec = DataInfo("vector", (2,), None)
    with pytest.raises(ConfigError, match="needs images"):
        family("model.arch=dcgan", info=vec)
    with pytest.raises(ConfigError, match="needs labelled data"):
        family("model.condition=concat", info=vec)
    with pytest.raises(ConfigError, match="halves to 3..7"):
        family(info=DataInfo("image", (1, 27, 27), None))
    with pytest.raises(ConfigError, match="gan.g_lr"):
        family("train.lr=0.01")
    with pytest.raises(ConfigError, match="d_steps"):
        family("gan.d_steps=0")
    with pytest.raises(ModelInputError, match=r"\(B, 100\)"):
        family("model.channels=8").build_models()["G"](torch.randn(2, 99))
    with pytest.raises(ModelInputError, match=r"\(B, 1, 28, 28\)"):
        family("model.channels=8").build_models()["D"](torch.randn(2, 1, 32, 32))


def test_collapse_monitor_stops_after_patience_batches_of_d_winning():
    mon = CollapseMonitor(loss="nonsaturating", patience=3)
    win_real, win_fake = torch.full((4,), 8.0), torch.full((4,), -8.0)        # D(x) ~ 0.9997, D(G(z)) ~ 0.0003
    mon.observe_d(win_real, win_fake)
    mon.observe_d(torch.zeros(4), torch.zeros(4))                             # a fair batch resets the count
    mon.observe_d(win_real, win_fake)
    mon.observe_d(win_real, win_fake)
    with pytest.raises(TrainingError, match="won outright.*3 consecutive"):
        mon.observe_d(win_real, win_fake)
    hinge = CollapseMonitor(loss="hinge", patience=1)
    hinge.observe_d(torch.full((4,), 0.5), torch.full((4,), -2.0))            # margin not met on real: fine
    with pytest.raises(TrainingError, match="won outright"):
        hinge.observe_d(torch.full((4,), 1.5), torch.full((4,), -2.0))
    wgan = CollapseMonitor(loss="wgan-gp", patience=1)
    wgan.observe_d(torch.full((4,), 500.0), torch.full((4,), 400.0))          # a shifted critic is fine
    with pytest.raises(TrainingError, match="diverged"):
        wgan.observe_d(torch.full((4,), 5e3), torch.full((4,), -5e3))
    CollapseMonitor(loss="minimax", patience=0).observe_d(win_real, win_fake)  # 0: off


# --- latent tools -----------------------------------------------------------------------------------------

def test_latent_arithmetic_averages_each_concept_before_adding():
    from genlab.gan.explore import attribute_direction, class_grid_latents, latent_arithmetic
    a = torch.tensor([[1.0, 0.0], [3.0, 2.0]])          # mean (2, 1)
    b = torch.tensor([[0.0, 1.0]])                      # mean (0, 1)
    c = torch.tensor([[1.0, 1.0], [1.0, 3.0], [1.0, 2.0]])   # mean (1, 2)
    torch.testing.assert_close(latent_arithmetic(a, b, c), torch.tensor([3.0, 2.0]))
    z = torch.arange(20, dtype=torch.float32).reshape(10, 2)      # z_i = (2i, 2i + 1)
    score = -torch.arange(10.0)                                    # highest score: item 0; lowest: item 9
    torch.testing.assert_close(attribute_direction(z, score, fraction=0.2), torch.tensor([-16.0, -16.0]))
    zz, labels = class_grid_latents(torch.randn(3, 4), 5)
    assert zz.shape == (15, 4) and labels.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4]
    torch.testing.assert_close(zz[:3], zz[12:])
    with pytest.raises(ModelInputError, match="one d"):
        latent_arithmetic(a, torch.zeros(1, 3), c)
