"""Denoising diffusion GANs: the discretised VP schedule against its closed form, the training pairs and the
posterior draw against Gaussian algebra done here, the networks' conditioning, and the family end to end
through the CLI (toy and tiny MNIST, exact resume, the sampling options a ddgan run refuses)."""
from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest
import torch
from torch import nn

from genlab.cli.main import main
from genlab.config import TrainConfig
from genlab.ddgan.config import DDGANConfig, DDGANObjectiveConfig
from genlab.ddgan.family import DDGANFamily
from genlab.ddgan.networks import ConvDiscriminator, ConvGenerator, MLPDiscriminator, MLPGenerator
from genlab.ddgan.process import ddgan_schedule, q_sample_pairs, sample_posterior, x0_preconditioning
from genlab.training.checkpoint import latest_checkpoint
from genlab.errors import ConfigError
from genlab.training.objective import Batch, BatchRandom, DataInfo
from genlab.training.run import load_run

BENCHMARKS = Path(__file__).parents[1] / "benchmarks"


def vp_abar_by_hand(T: int, beta_min: float = 0.1, beta_max: float = 20.0) -> list[float]:
    """alpha-bar(t_i) / alpha-bar(t_0), i = 1..T, t_i = 1e-3 + (1 - 1e-3) i / T, alpha-bar(t) = exp(-int beta)."""
    times = [1e-3 + (1 - 1e-3) * i / T for i in range(T + 1)]
    log_abar = [-beta_min * s - 0.5 * (beta_max - beta_min) * s * s for s in times]
    return [math.exp(v - log_abar[0]) for v in log_abar[1:]]


@pytest.mark.parametrize("T", [2, 4])
def test_schedule_is_the_vp_sde_at_T_plus_one_times(T):
    schedule = ddgan_schedule(T)
    expected = vp_abar_by_hand(T)
    assert schedule.T == T
    for got, want in zip(schedule.alphas_cumprod, expected, strict=True):
        assert got == pytest.approx(want, rel=1e-12)
    betas = [1 - expected[0]] + [1 - b / a for a, b in zip(expected[:-1], expected[1:], strict=True)]
    assert list(schedule.betas) == pytest.approx(betas, rel=1e-12)     # with T = 2 the last beta is 0.9995: no cap
    assert schedule.alphas_cumprod[-1] == pytest.approx(math.exp(-10.05) / math.exp(-1e-4 - 9.95e-6), rel=1e-9)


def test_schedule_t4_numbers():
    # alpha-bar at t = 0.25075, 0.5005, 0.75025, 1 (T = 4, beta in [0.1, 20]), from exp(-0.1 t - 9.95 t^2)
    abar = ddgan_schedule(4).alphas_cumprod
    assert abar == pytest.approx([0.52174, 0.078676, 0.0034289, 4.3190e-5], rel=1e-4)


def _moments(samples: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return samples.mean(0), samples.var(0)


def test_training_pairs_follow_the_forward_chain():
    torch.manual_seed(0)
    schedule, n = ddgan_schedule(4), 200_000
    abar = vp_abar_by_hand(4)
    x0 = torch.full((n, 1), 0.7, dtype=torch.float64)
    for k in range(4):
        t = torch.full((n,), k, dtype=torch.long)
        x_prev, x_t = q_sample_pairs(schedule, x0, t, torch.randn_like(x0), torch.randn_like(x0))
        a_prev = 1.0 if k == 0 else abar[k - 1]
        m, v = _moments(x_prev)
        assert m.item() == pytest.approx(math.sqrt(a_prev) * 0.7, abs=5e-3)
        assert v.item() == pytest.approx(1 - a_prev, abs=5e-3)
        m, v = _moments(x_t)
        assert m.item() == pytest.approx(math.sqrt(abar[k]) * 0.7, abs=5e-3)     # q(x_t | x_0), eq. 4
        assert v.item() == pytest.approx(1 - abar[k], abs=5e-3)
        cov = ((x_prev - x_prev.mean()) * (x_t - x_t.mean())).mean().item()
        assert cov == pytest.approx(math.sqrt(abar[k] / a_prev) * (1 - a_prev), abs=5e-3)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_posterior_draw_is_the_gaussian_conditional_of_the_forward_pair(k):
    """q(x_{t-1} | x_t, x0) from the joint Gaussian of (x_{t-1}, x_t) given x0, conditioned by hand."""
    abar = vp_abar_by_hand(4)
    a_prev, a_t = abar[k - 1], abar[k]
    x0_value, xt_value = 0.4, -0.3
    m_prev, v_prev = math.sqrt(a_prev) * x0_value, 1 - a_prev
    m_t, v_t = math.sqrt(a_t) * x0_value, 1 - a_t
    cov = math.sqrt(a_t / a_prev) * v_prev
    mean = m_prev + cov / v_t * (xt_value - m_t)
    var = v_prev - cov**2 / v_t
    n = 200_000
    schedule = ddgan_schedule(4)
    x0 = torch.full((n, 1), x0_value, dtype=torch.float64)
    x_t = torch.full((n, 1), xt_value, dtype=torch.float64)
    t = torch.full((n,), k, dtype=torch.long)
    exact = sample_posterior(schedule, x0, x_t, t, torch.zeros_like(x0))
    assert exact[0].item() == pytest.approx(mean, rel=1e-9)                 # noise 0: the posterior mean
    draws = sample_posterior(schedule, x0, x_t, t, torch.randn(n, 1, dtype=torch.float64,
                                                              generator=torch.Generator().manual_seed(1)))
    m, v = _moments(draws)
    assert m.item() == pytest.approx(mean, abs=4e-3)
    assert v.item() == pytest.approx(var, rel=2e-2)


def test_last_posterior_step_returns_x0_whatever_the_noise():
    schedule, x0, x_t = ddgan_schedule(4), torch.randn(5, 3), torch.randn(5, 3)
    t = torch.zeros(5, dtype=torch.long)
    torch.testing.assert_close(sample_posterior(schedule, x0, x_t, t, torch.randn(5, 3)), x0)


def test_generators_depend_on_z_and_t():
    torch.manual_seed(0)
    G = ConvGenerator(shape=(1, 28, 28), latent_dim=8, channels=(16, 32), groups=4, patch=2)
    x, z = torch.randn(3, 1, 28, 28), torch.randn(3, 8)
    t0, t3 = torch.zeros(3, dtype=torch.long), torch.full((3,), 3)
    out = G(x, t0, z)
    assert out.shape == (3, 1, 28, 28) and out.abs().max() <= 1
    assert (out - G(x, t0, torch.randn(3, 8))).abs().max() > 1e-4
    assert (out - G(x, t3, z)).abs().max() > 1e-4
    g = MLPGenerator(dim=2, latent_dim=2, hidden=16, layers=2, fourier=2.0)
    v, w = torch.randn(4, 2), torch.randn(4, 2)
    t = torch.zeros(4, dtype=torch.long)
    assert g(v, t, w).shape == (4, 2)
    assert (g(v, t, w) - g(v, t, torch.randn(4, 2))).abs().max() > 1e-5
    assert (g(v, t, w) - g(v, t + 1, w)).abs().max() > 1e-5


def test_discriminators_score_the_pair_at_its_time():
    torch.manual_seed(0)
    D = ConvDiscriminator(shape=(1, 28, 28), channels=(8, 16), patch=2)
    a, b = torch.randn(2, 1, 28, 28), torch.randn(2, 1, 28, 28)
    t0, t2 = torch.zeros(2, dtype=torch.long), torch.full((2,), 2)
    s = D(a, b, t0)
    assert s.shape == (2,)
    assert (s - D(a, b, t2)).abs().max() > 1e-5                              # time-conditional
    assert (s - D(a, torch.randn(2, 1, 28, 28), t0)).abs().max() > 1e-5      # sees x_t, not only x_{t-1}
    d = MLPDiscriminator(dim=2, hidden=16, layers=2, fourier=2.0)
    u, w = torch.randn(4, 2), torch.randn(4, 2)
    t = torch.zeros(4, dtype=torch.long)
    assert d(u, w, t).shape == (4,) and (d(u, w, t) - d(u, w, t + 3)).abs().max() > 1e-6


class _ConstantG(nn.Module):
    """A generator that predicts the same x0 whatever it sees, recording the steps it was called at."""

    def __init__(self, value: torch.Tensor) -> None:
        super().__init__()
        self.value = nn.Parameter(value)
        self.steps: list[int] = []

    def forward(self, x: torch.Tensor, t: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        self.steps.append(int(t[0]))
        return self.value.expand_as(x)


def test_sampling_runs_T_steps_down_to_the_predicted_x0():
    family = DDGANFamily(DDGANConfig(), data=DataInfo(kind="vector", shape=(2,)), train=TrainConfig())
    G = _ConstantG(torch.tensor([1.5, -0.5]))
    seen: list[int] = []
    x = family.sample({"G": G}, 6, generator=torch.Generator().manual_seed(0), precision="fp32",
                      callback=lambda i, t, x_t, x0: seen.append(t))
    assert G.steps == seen == [3, 2, 1, 0]
    torch.testing.assert_close(x, torch.tensor([[1.5, -0.5]]).expand(6, 2))   # no noise on the last step


def test_data_scale_round_trips_exactly_through_training_pairs_and_sampling():
    """The chain runs on data_scale * x (t = 0 pairs hold it exactly) and samples come back divided by it."""
    config = DDGANConfig(ddgan=DDGANObjectiveConfig(data_scale=0.25))
    family = DDGANFamily(config, data=DataInfo(kind="vector", shape=(2,)), train=TrainConfig())
    x = torch.tensor([[4.0, -2.0]]).expand(64, 2).contiguous()
    rng = BatchRandom(torch.Generator().manual_seed(0), global_size=64, start=0, size=64)
    t, x_prev, _, _ = family._pairs_and_fake(_ConstantG(torch.zeros(2)), Batch(x=x, y=None, rng=rng))
    assert (t == 0).any() and (t > 0).any()
    torch.testing.assert_close(x_prev[t == 0], 0.25 * x[t == 0], rtol=0, atol=0)     # the real x_{-1} is scaled x0
    G = _ConstantG(torch.tensor([1.0, -0.5]))                                       # G speaks the scaled space
    out = family.sample({"G": G}, 5, generator=torch.Generator().manual_seed(0), precision="fp32")
    torch.testing.assert_close(out, torch.tensor([[4.0, -2.0]]).expand(5, 2), rtol=0, atol=0)


def test_data_scale_above_one_is_refused_for_the_tanh_image_generator():
    config = DDGANConfig(ddgan=DDGANObjectiveConfig(data_scale=2.0))
    with pytest.raises(ConfigError, match=r"ddgan.data_scale = 2.0 .* use a scale in \(0, 1\]"):
        DDGANFamily(config, data=DataInfo(kind="image", shape=(1, 28, 28)), train=TrainConfig())


@pytest.mark.parametrize("sigma", [0.5, 2.83, 28.3])
def test_preconditioning_is_the_linear_estimate_of_x0_and_its_error_scale(sigma):
    """For x0 ~ N(0, sigma^2) and x_t = sqrt(ab) x0 + sqrt(1 - ab) n, least squares of x0 on x_t over 400,000 draws
    must give slope c_skip (within 5 standard errors) and residual std c_out, and c_in x_t must have unit std
    (Karras et al. 2022, eq. 7)."""
    schedule = ddgan_schedule(4)
    c_skip, c_out, c_in = x0_preconditioning(schedule, sigma)
    gen = torch.Generator().manual_seed(0)
    for t in range(4):
        ab = float(schedule.alphas_cumprod[t])
        x0 = sigma * torch.randn(400_000, generator=gen, dtype=torch.float64)
        x_t = math.sqrt(ab) * x0 + math.sqrt(1 - ab) * torch.randn(400_000, generator=gen, dtype=torch.float64)
        slope = float((x0 * x_t).mean() / (x_t * x_t).mean())
        assert abs(slope - c_skip[t]) < 5 * c_out[t] * c_in[t] / math.sqrt(400_000)
        assert float((x0 - c_skip[t] * x_t).std()) == pytest.approx(c_out[t], rel=0.01)
        assert float((c_in[t] * x_t).std()) == pytest.approx(1.0, rel=0.01)
    # by hand at t = 0 for sigma = 1: ab = 0.5217 (test_schedule_t4_numbers), var_t = 1
    one = x0_preconditioning(schedule, 1.0)
    ab0 = float(schedule.alphas_cumprod[0])
    assert [float(c[0]) for c in one] == pytest.approx([math.sqrt(ab0), math.sqrt(1 - ab0), 1.0])


def test_preconditioned_generator_feeds_c_in_x_t_and_returns_c_skip_x_t_plus_c_out_output():
    config = DDGANConfig(ddgan=DDGANObjectiveConfig(sigma_data=3.0))
    family = DDGANFamily(config, data=DataInfo(kind="vector", shape=(2,)), train=TrainConfig())
    c_skip, c_out, c_in = x0_preconditioning(family.schedule, 3.0)
    seen: list[torch.Tensor] = []

    def G(x: torch.Tensor, t: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        seen.append(x)
        return torch.ones_like(x)

    x_t, t = torch.tensor([[2.0, -1.0], [0.5, 4.0]]), torch.tensor([0, 3])
    x0 = family.predict_x0(G, x_t, t, torch.zeros(2, 2))         # type: ignore[arg-type]
    scale = torch.tensor([[c_in[0]], [c_in[3]]], dtype=torch.float32)
    torch.testing.assert_close(seen[0], scale * x_t)
    expected = torch.tensor([[c_skip[0]], [c_skip[3]]]) * x_t + torch.tensor([[c_out[0]], [c_out[3]]])
    torch.testing.assert_close(x0, expected.float())
    plain = DDGANFamily(DDGANConfig(), data=DataInfo(kind="vector", shape=(2,)), train=TrainConfig())
    torch.testing.assert_close(plain.predict_x0(G, x_t, t, torch.zeros(2, 2)), torch.ones(2, 2))  # type: ignore


def test_preconditioning_is_refused_for_the_conv_generator_and_needs_a_positive_sigma():
    config = DDGANConfig(ddgan=DDGANObjectiveConfig(sigma_data=0.5))
    with pytest.raises(ConfigError, match=r"ddgan.sigma_data = 0.5 preconditions the MLP generator only"):
        DDGANFamily(config, data=DataInfo(kind="image", shape=(1, 28, 28)), train=TrainConfig())
    with pytest.raises(ConfigError, match="ddgan.sigma_data must be a positive number"):
        x0_preconditioning(ddgan_schedule(4), 0.0)


def test_per_step_diagnosis_measures_in_data_units_and_matches_the_rayleigh_median():
    """bench_ddgan_toy.per_step on grid25-pacgan at data_scale 2.5: a G that always says the centre (2, 0) (in the
    chain's scaled space) is on a mode at every t; the forward x_1 / (sqrt(ab) 2.5) is a mode plus Gaussian noise
    of std s = sqrt(0.05^2 + (1 - ab) / (ab 2.5^2)) per coordinate, whose distance to the centre has the
    Rayleigh median s sqrt(2 ln 2); the chain's own x_1, drawn from q(x_1 | x0 = centre), has it without the 0.05."""
    bench = _bench_toy()
    config = DDGANConfig(ddgan=DDGANObjectiveConfig(data_scale=2.5))
    family = DDGANFamily(config, data=DataInfo(kind="vector", shape=(2,)), train=TrainConfig())
    rows = bench.per_step(family, {"G": _ConstantG(torch.tensor([5.0, 0.0]))}, "grid25-pacgan", n=4000)
    assert [r["t"] for r in rows] == [3, 2, 1, 0]
    assert all(r["x0_given_real_high_quality"] == 1.0 and r["x0_given_real_median"] < 1e-5 for r in rows)
    ab = rows[-1]["alpha_bar"]
    s = math.sqrt(0.05**2 + (1 - ab) / (ab * 2.5**2))
    assert rows[-1]["forward_median"] == pytest.approx(s * math.sqrt(2 * math.log(2)), rel=0.04)
    # with x0 fixed at the centre the chain draws q(x_1 | x0): the same Rayleigh median without the mode's 0.05
    noise = math.sqrt((1 - ab) / (ab * 2.5**2))
    assert rows[-1]["state_median"] == pytest.approx(noise * math.sqrt(2 * math.log(2)), rel=0.04)



def _bench_toy():
    """benchmarks/bench_ddgan_toy.py as a module."""
    spec = importlib.util.spec_from_file_location("bench_ddgan_toy", BENCHMARKS / "bench_ddgan_toy.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


def test_spread_separates_a_core_of_the_data_width_from_a_halo():
    """80% of the points from the modes themselves (std 0.05), 20% at distance exactly 0.3 in a random direction:
    high quality is 0.8 (1 - exp(-4.5)) = 0.791, the halo (0.15 to 0.5, a quarter of the spacing 2) the rest; the
    RMS std per coordinate is sqrt(0.8 0.05^2 + 0.2 0.3^2 / 2) = 0.1049, while the robust one stays near 0.05."""
    from genlab.data.toy import sample_toy

    bench = _bench_toy()
    core = torch.as_tensor(sample_toy("grid25-pacgan", 40000, seed=3).x)
    gen = torch.Generator().manual_seed(0)
    centres = torch.tensor([[2.0 * i, 2.0 * j] for i in range(-2, 3) for j in range(-2, 3)])
    angle = torch.rand(10000, generator=gen) * 2 * math.pi
    halo = centres[torch.randint(25, (10000,), generator=gen)] + 0.3 * torch.stack([angle.cos(), angle.sin()], 1)
    row = bench.spread(torch.cat([core, halo]), "grid25-pacgan")
    assert row["quarter_spacing"] == pytest.approx(0.5)
    assert row["high_quality"] == pytest.approx(0.8 * (1 - math.exp(-4.5)), abs=0.005)
    assert row["halo"] == pytest.approx(0.2 + 0.8 * math.exp(-4.5), abs=0.005)
    assert row["between"] == 0.0
    assert row["std_rms"] == pytest.approx(math.sqrt(0.8 * 0.05**2 + 0.2 * 0.3**2 / 2), rel=0.02)
    assert 0.05 < row["std_robust"] < 0.065
    assert bench.spread(core, "grid25-pacgan")["std_robust"] == pytest.approx(0.05, rel=0.02)


def test_d_scores_bin_the_last_step_by_the_distance_of_x0_in_mode_stds():
    """G always says (2.2, 0) * data_scale: 0.2 from the centre (2, 0), 4 stds of 0.05, so every fake pair falls in
    the 3-5 bin; D scores a pair by its x_{t-1}'s first coordinate, so that bin's mean is 2.2 * data_scale."""
    from genlab.data.toy import sample_toy

    class FirstCoordinateD(nn.Module):
        def forward(self, x_prev: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            return x_prev[:, 0]

    family = DDGANFamily(DDGANConfig(ddgan=DDGANObjectiveConfig(data_scale=3.0)),
                         data=DataInfo(kind="vector", shape=(2,)), train=TrainConfig())
    models = {"G": _ConstantG(torch.tensor([6.6, 0.0])), "D": FirstCoordinateD()}
    row = _bench_toy().d_scores(family, models, "grid25-pacgan", n=2000)
    assert row["share_3-5_std"] == 1.0 and row["fake_3-5_std"] == pytest.approx(6.6)
    assert math.isnan(row["fake_0-2_std"]) and row["share_0-2_std"] == 0.0
    # at t = 0 the real x_{t-1} is x0 itself, in the chain's units: the data's first coordinate times 3
    data = sample_toy("grid25-pacgan", 2000, seed=0).x
    assert row["real"] == pytest.approx(3.0 * float(data[:, 0].mean()), abs=1e-4)

TOY = ["--data", "ring8", "--set", "model.hidden=16", "--set", "model.layers=2", "--set", "model.latent_dim=2",
       "--set", "data.limit=64", "--set", "train.threads=1", "--set", "train.log_every=1", "--set",
       "train.checkpoint_every=2", "--batch-size", "16", "--precision", "fp32", "--quiet"]


def test_toy_run_trains_resumes_to_the_exact_step_and_samples(tmp_path, capsys):
    full, split = tmp_path / "full", tmp_path / "split"
    assert main(["train", "ddgan", *TOY, "--steps", "4", "--out", str(full)]) == 0
    assert main(["train", "ddgan", *TOY, "--steps", "2", "--out", str(split)]) == 0
    assert main(["train", "ddgan", *TOY, "--steps", "4", "--out", str(split)]) == 0
    assert latest_checkpoint(split).name == "step_0000004"
    a, b = load_run(full, ema=False), load_run(split, ema=False)
    for name in ("G", "D"):
        for p, q in zip(a.models[name].state_dict().values(), b.models[name].state_dict().values(), strict=True):
            torch.testing.assert_close(p, q, rtol=0, atol=0)
    torch.testing.assert_close(load_run(full).sample(64, seed=3), load_run(split).sample(64, seed=3))
    assert main(["sample", str(full), "--n", "32", "--out", str(tmp_path / "s.png")]) == 0
    assert (tmp_path / "s.png").is_file()


@pytest.mark.parametrize("flag", [["--sampler", "dpmpp_2m"], ["--sample-steps", "10"], ["--eta", "0.5"]])
def test_diffusion_sampler_options_are_one_line_errors_naming_what_the_run_takes(flag, tmp_path, capsys):
    run = tmp_path / "r"
    assert main(["train", "ddgan", *TOY, "--steps", "1", "--out", str(run)]) == 0
    capsys.readouterr()
    assert main(["sample", str(run), *flag]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith(f"error: {flag[0]} does not apply to {run}, a 'ddgan' run")
    assert "its own T-step chain; it takes: --precision" in err[0]


def test_tiny_mnist_run_trains_and_samples_images(tmp_path, mnist_test):
    out = tmp_path / "mnist"
    assert main(["train", "ddgan", "--data", "mnist", "--steps", "2", "--batch-size", "8", "--quiet", "--out",
                 str(out), "--set", "data.limit=32", "--set", "model.channels=[8, 16]", "--set", "model.groups=4",
                 "--set", "model.d_channels=[8, 16]", "--set", "model.latent_dim=4", "--set", "ddgan.T=2",
                 "--set", "train.threads=1", "--set", "train.sample_n=4"]) == 0
    run = load_run(out)
    x = run.sample(5, seed=0)
    assert x.shape == (5, 1, 28, 28) and x.abs().max() <= 1
    assert not torch.equal(x, run.sample(5, seed=1))
    assert (out / "samples").is_dir()
