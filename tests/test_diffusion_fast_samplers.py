"""The probability-flow ODE samplers (euler, heun, dpmpp_2m, unipc) against the exact answer for Gaussian data.

For data N(M, S^2) the ideal denoiser is linear: in the variance-exploding variable y = x_t / alpha with noise
level sigma = sqrt((1 - abar) / abar), D(y; sigma) = E[x0 | y] = M + S^2 / (S^2 + sigma^2) (y - M), so the ODE
dy/dsigma = (y - D) / sigma = (y - M) sigma / (S^2 + sigma^2) has the solution
    y(sigma) - M = (y(sigma_max) - M) sqrt(S^2 + sigma^2) / sqrt(S^2 + sigma_max^2),
which maps y(sigma_max) to M + S (y(sigma_max) - M) / sqrt(S^2 + sigma_max^2) at sigma = 0. The samplers stop at
the schedule's smallest noise level sigma_min = sigma(t=0) and return the denoiser's x0 there (their last step to
sigma = 0), so the limit they converge to as the steps double is D(y(sigma_min); sigma_min): the endpoint above
times S / sqrt(S^2 + sigma_min^2) around M (a 2e-4 relative shrink for the linear schedule at S = 0.5).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from genlab.cli.main import main
from genlab.diffusion import (SAMPLERS, Denoiser, NoiseSchedule, betas_linear, karras_timesteps, sample_ddim,
                              sample_dpmpp_2m, sample_euler, sample_heun, sample_unipc, schedule_timesteps, timesteps,
                              ve_sigmas)
from genlab.diffusion.samplers import FEW_STEPS
from genlab.diffusion.unipc import unic_weights
from genlab.errors import ConfigError
from genlab.training.run import load_run

LEGACY = Path(__file__).parent / "data" / "legacy_runs"
LINEAR = NoiseSchedule.from_name("linear", T=1000)
COSINE = NoiseSchedule.from_name("cosine", T=1000)
M, S = 0.3, 0.5
ODE_SAMPLERS = {"euler": sample_euler, "heun": sample_heun, "dpmpp_2m": sample_dpmpp_2m, "unipc": sample_unipc}


def _gaussian_net(schedule: NoiseSchedule, prediction: str = "eps", calls: list[int] | None = None):
    """The exact network for data N(M, S^2) in each parameterisation (E[x0 | x_t] of a Gaussian, VP notation)."""
    def net(x_t, t):
        step = int(t[0])
        assert torch.all(t == step)
        if calls is not None:
            calls.append(step)
        a, s = float(schedule.sqrt_alphas_cumprod[step]), float(schedule.sqrt_one_minus_alphas_cumprod[step])
        x0 = M + a * S * S / (a * a * S * S + s * s) * (x_t - a * M)
        eps = (x_t - a * x0) / s
        return {"eps": eps, "x0": x0, "v": a * eps - s * x0}[prediction]
    return net


def _denoiser(schedule, prediction="eps", calls=None):
    return Denoiser(_gaussian_net(schedule, prediction, calls), schedule, prediction=prediction)


def _exact(schedule: NoiseSchedule, x_T: torch.Tensor, t_start: int, *, final_denoise: bool = True) -> torch.Tensor:
    """The probability-flow ODE's endpoint from x_T at step t_start (sigma = 0; or the samplers' limit, the
    exact ODE to sigma(0) followed by the denoiser's x0 there, when final_denoise)."""
    sigmas = ve_sigmas(schedule)
    y = x_T / math.sqrt(float(schedule.alphas_cumprod[t_start]))
    sigma_max, sigma_min = float(sigmas[t_start]), float(sigmas[0])
    scale = S / math.sqrt(S * S + sigma_max**2)
    if final_denoise:
        scale *= S / math.sqrt(S * S + sigma_min**2)
    return M + scale * (y - M)


X_T = torch.linspace(-2.5, 2.5, 11, dtype=torch.float64)[:, None]


def _errors(name, schedule, steps, prediction="eps"):
    ref = _exact(schedule, X_T, schedule.T - 1)
    return [float((ODE_SAMPLERS[name](_denoiser(schedule, prediction), X_T, karras_timesteps(schedule, n)) - ref)
                  .abs().max()) for n in steps]


@pytest.mark.parametrize("schedule", [LINEAR, COSINE], ids=["linear", "cosine"])
@pytest.mark.parametrize("name,band,steps", [("euler", (1.6, 2.5), [32, 64, 128, 256]),
                                             ("heun", (3.0, 5.5), [32, 64, 128, 256]),
                                             ("dpmpp_2m", (3.0, 5.5), [32, 64, 128, 256]),
                                             ("unipc", (6.0, 10.0), [32, 64, 128])])
def test_each_sampler_converges_to_the_exact_ode_endpoint_at_its_order(schedule, name, band, steps):
    """The error's ratio when the steps double is 2^order: 2 (euler), 4 (heun, dpmpp_2m), 8 (unipc).

    Measured, 32 -> 64 -> 128 -> 256 steps (linear; cosine): euler 1.97 1.99 2.04; 1.92 1.96 2.01 -- heun 4.26
    4.13 4.07; 4.50 4.26 4.20 -- dpmpp_2m 4.39 4.21 3.99; 3.80 4.37 4.10 -- unipc 8.62 6.94 3.07; 7.58 8.43 7.95.
    Fewer steps are not yet asymptotic: the cosine schedule's sigma runs from 0.0064 to 2e4, rho = 7 makes the
    first steps long, and dpmpp_2m's error changes sign between 16 and 32 steps as the step-size ratios of the
    Karras grid change (unipc's from 16 to 32 on cosine: 0.70). UniPC-2 is third order (Zhao et al. 2023: UniC-p
    raises UniP-p's order p to p + 1), so it is held to ~8 (6 to 10) from 32 to 128 steps. It is not held there
    at 256 on the linear schedule: from 128 Karras steps on, the last dozen levels already sit on the consecutive
    timesteps 11, 10, ..., 0, so doubling the steps no longer shortens them and their error (~5e-5, which a
    second-order method's larger error hides until 512 steps: dpmpp_2m's ratio 256 -> 512 is 2.3) stays. On a
    finer discrete grid the order shows to 256 steps (test_unipc_gains_an_order_from_its_corrector).
    """
    errors = _errors(name, schedule, steps)
    ratios = [a / b for a, b in zip(errors, errors[1:], strict=False)]
    assert all(band[0] < r < band[1] for r in ratios), (errors, ratios)
    assert errors[-1] < {"euler": 0.05, "heun": 0.003, "dpmpp_2m": 0.003, "unipc": 0.003}[name]


def test_unipc_gains_an_order_from_its_corrector():
    """On the linear schedule with 20x more (and 20x smaller) betas, T = 20000, the Karras levels reach the
    consecutive low-noise timesteps only beyond 256 steps: from 16 to 256, unipc's error falls 8.9 8.6 8.3 7.8x
    per doubling (third order), dpmpp_2m's -- UniPC's predictor UniP-2 with B(h) = e^h - 1 -- 4.5 4.5 4.2 4.1x."""
    fine = NoiseSchedule.from_betas(betas_linear(20_000, 1e-4 / 20, 0.02 / 20))
    for name, band in (("unipc", (7.0, 10.0)), ("dpmpp_2m", (3.5, 5.0))):
        errors = _errors(name, fine, [16, 32, 64, 128, 256])
        ratios = [a / b for a, b in zip(errors, errors[1:], strict=False)]
        assert all(band[0] < r < band[1] for r in ratios), (name, errors, ratios)


def test_the_samplers_limit_is_the_ode_endpoint_up_to_the_last_denoising_step():
    out = sample_heun(_denoiser(LINEAR), X_T, karras_timesteps(LINEAR, 1000))     # every step: error ~1e-5
    limit, endpoint = _exact(LINEAR, X_T, 999), _exact(LINEAR, X_T, 999, final_denoise=False)
    torch.testing.assert_close(out, limit, rtol=0, atol=2e-5)
    assert 1e-4 < float((limit - endpoint).abs().max()) < 5e-4     # the last denoising step's shrink
    torch.testing.assert_close(out, endpoint, rtol=0, atol=5e-4)


@pytest.mark.parametrize("name,steps", [("euler", 1000), ("heun", 100), ("dpmpp_2m", 100), ("unipc", 100)])
def test_samples_of_gaussian_data_have_its_mean_and_variance(name, steps):
    n = 20_000
    x_T = torch.randn(n, 1, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    # steps enough for the discretisation error (~0.5% for euler, ~0.1% otherwise) to stay below sampling error
    out = ODE_SAMPLERS[name](_denoiser(LINEAR), x_T, karras_timesteps(LINEAR, steps))
    assert abs(out.mean().item() - M) < 5 * S / math.sqrt(n)
    assert out.std().item() == pytest.approx(S, rel=0.02)     # sampling error ~0.5% at this n


@pytest.mark.parametrize("name", ODE_SAMPLERS)
def test_eps_x0_and_v_networks_give_the_same_samples(name):
    steps = karras_timesteps(LINEAR, 12)
    outs = [ODE_SAMPLERS[name](_denoiser(LINEAR, p), X_T, steps) for p in ("eps", "x0", "v")]
    for out in outs[1:]:
        torch.testing.assert_close(out, outs[0], rtol=0, atol=1e-9)


@pytest.mark.parametrize("name", ODE_SAMPLERS)
def test_one_step_returns_the_denoisers_x0_at_the_start(name):
    for t in (999, 500):
        out = ODE_SAMPLERS[name](_denoiser(LINEAR), X_T, [t])
        torch.testing.assert_close(out, _denoiser(LINEAR).x0(X_T, t), rtol=0, atol=1e-12)


def test_fewer_steps_than_the_order_fall_back_to_first_order():
    # two steps: dpmpp_2m's and unipc's first step has no history and their last goes to sigma = 0, both first
    # order; unipc's corrector of the state at the second step is weighted by sigma' / sigma = 0 there
    for n in (1, 2):
        steps = karras_timesteps(LINEAR, n)
        euler, dpm, uni = (f(_denoiser(LINEAR), X_T, steps) for f in (sample_euler, sample_dpmpp_2m, sample_unipc))
        torch.testing.assert_close(dpm, euler, rtol=0, atol=1e-12)
        torch.testing.assert_close(uni, euler, rtol=0, atol=1e-12)
        assert torch.isfinite(sample_heun(_denoiser(LINEAR), X_T, steps)).all()
    three = [f(_denoiser(LINEAR), X_T, karras_timesteps(LINEAR, 3)) for f in (sample_euler, sample_dpmpp_2m,
                                                                                  sample_unipc)]
    assert not torch.allclose(three[0], three[1])                 # the second step is second order
    assert not torch.allclose(three[1], three[2])                 # unipc corrects the first step


@pytest.mark.parametrize("name", ODE_SAMPLERS)
def test_the_last_step_goes_to_sigma_0_and_returns_the_last_x0(name):
    seen, calls = [], []
    steps = karras_timesteps(COSINE, 6)
    out = ODE_SAMPLERS[name](_denoiser(COSINE, "v", calls), X_T, steps,
                             callback=lambda i, t, x_t, x0: seen.append((i, t, x0)))
    assert [(i, t) for i, t, _ in seen] == list(enumerate(steps.tolist()))
    torch.testing.assert_close(out, seen[-1][2], rtol=0, atol=1e-12)
    # network calls: one per step; heun two but on its last (Euler) step, each at a visited step
    expected = steps.tolist() if name != "heun" else [c for t, u in zip(steps.tolist(), steps.tolist()[1:] + [None],
                                                                       strict=True) for c in (t, u) if c is not None]
    assert calls == expected


def _unipc_vp(denoiser: Denoiser, x: torch.Tensor, steps: list[int]) -> torch.Tensor:
    """UniPC-2 "bh2" written from the paper's general multistep update (Zhao et al. 2023, data prediction, as
    diffusers' UniPCMultistepScheduler defaults) in the VP variable x_t, with the order conditions R rho = b
    solved numerically: a check of unipc.py's closed forms in y = x_t / alpha."""
    abar = [float(denoiser.schedule.alphas_cumprod[t]) for t in steps]
    alpha, sig = [a**0.5 for a in abar] + [1.0], [(1 - a) ** 0.5 for a in abar] + [0.0]
    lam = [math.log(a / s) for a, s in zip(alpha, sig[:-1], strict=False)]
    n, ms = len(steps), []

    def update(x, s, order, m_t=None):            # from step s to s + 1: UniP (m_t None) or UniC with m_t
        if s + 1 == n:
            return ms[s]                          # sigma = 0: first order returns x0
        h = lam[s + 1] - lam[s]
        rks = [(lam[s - k] - lam[s]) / h for k in range(1, order)] + [1.0]
        d1s = [(ms[s - k] - ms[s]) / rks[k - 1] for k in range(1, order)]
        hh, bh, g, fact, b = -h, math.expm1(-h), math.expm1(-h) / -h - 1, 1, []
        for k in range(1, order + 1):
            b.append(g * fact / bh)
            fact *= k + 1
            g = g / hh - 1 / fact
        R = np.array([[r ** (k - 1) for r in rks] for k in range(1, order + 1)])
        base = sig[s + 1] / sig[s] * x - alpha[s + 1] * math.expm1(hh) * ms[s]
        if m_t is None:
            rho = [0.5] if order == 2 else []
            return base - alpha[s + 1] * bh * sum(r * d for r, d in zip(rho, d1s, strict=True))
        rho = [0.5] if order == 1 else np.linalg.solve(R, np.array(b)).tolist()
        corr = sum(r * d for r, d in zip(rho, d1s, strict=False)) + rho[-1] * (m_t - ms[s])
        return base - alpha[s + 1] * bh * corr

    orders, x_start = [min(2, n - i, i + 1) for i in range(n)], x
    for i, t in enumerate(steps):
        m = denoiser.x0(x, t)
        if i > 0:                                 # as diffusers: also at the last step, where it is weighted by 0
            x = update(x_start, i - 1, orders[i - 1], m)
        ms.append(m)
        x_start, x = x, update(x, i, orders[i])
    return x


@pytest.mark.parametrize("schedule", [LINEAR, COSINE], ids=["linear", "cosine"])
@pytest.mark.parametrize("n", [3, 4, 7, 25])
def test_unipc_is_the_papers_update_in_the_vp_variable(schedule, n):
    steps = karras_timesteps(schedule, n).tolist()
    torch.testing.assert_close(sample_unipc(_denoiser(schedule, "v"), X_T, steps),
                               _unipc_vp(_denoiser(schedule, "v"), X_T, steps), rtol=1e-9, atol=1e-9)


def test_unic_weights_tend_to_adams_moulton_and_the_trapezoidal_rule():
    # equal short steps: x0 + rho_1 (x0 - x0_prev) + rho_t (x0_next - x0) -> (5 x0_next + 8 x0 - x0_prev) / 12
    rho_1, rho_t = unic_weights(1e-4, 1e-4)
    assert rho_1 == pytest.approx(1 / 12, abs=1e-4) and rho_t == pytest.approx(5 / 12, abs=1e-4)
    assert unic_weights(0.3, None) == (0.0, 0.5)
    rho_1, rho_t = unic_weights(0.7, 0.2)
    assert math.isfinite(rho_1) and math.isfinite(rho_t)


@pytest.mark.parametrize("name", ODE_SAMPLERS)
def test_repeated_timesteps_are_skipped_not_divided_by(name):
    f, d = ODE_SAMPLERS[name], _denoiser(LINEAR)
    for repeated, plain in (([999, 400, 60, 0, 0], [999, 400, 60, 0]), ([999, 400, 400, 60, 0], [999, 400, 60, 0]),
                            ([3, 3], [3])):
        out = f(d, X_T, repeated)
        assert torch.isfinite(out).all()
        torch.testing.assert_close(out, f(d, X_T, plain), rtol=0, atol=0)
    with pytest.raises(ConfigError, match="descending"):
        f(d, X_T, [10, 20])
    with pytest.raises(ConfigError, match="descending"):
        f(d, X_T, [1000, 10])


def test_euler_is_ddim_at_eta_0_on_the_same_timesteps():
    steps = karras_timesteps(COSINE, 9)
    torch.testing.assert_close(sample_euler(_denoiser(COSINE, "v"), X_T, steps),
                               sample_ddim(_denoiser(COSINE, "v"), X_T, steps, clip_x0=False), rtol=0, atol=1e-12)


def test_karras_timesteps_are_the_nearest_steps_to_karras_sigmas_and_always_distinct():
    log_sigma = np.log(ve_sigmas(LINEAR))
    steps = karras_timesteps(LINEAR, 10)
    assert steps.dtype == torch.long and steps[0] == 999 and steps[-1] == 0
    ramp = np.linspace(0, 1, 10)
    smax, smin = math.exp(log_sigma[-1] / 7), math.exp(log_sigma[0] / 7)
    target = 7 * np.log(smax + ramp * (smin - smax))
    nearest = np.abs(log_sigma[None, :] - target[:, None]).argmin(axis=1)
    assert steps.tolist() == nearest.tolist()
    assert karras_timesteps(LINEAR, 1).tolist() == [999]
    assert karras_timesteps(LINEAR, 2).tolist() == [999, 0]
    for n in (100, 300, 999, 1000):                                # rho = 7 crowds the low end: collisions moved up
        steps = karras_timesteps(LINEAR, n)
        assert len(steps) == n and steps[0] == 999 and steps[-1] == 0 and bool((steps[:-1] > steps[1:]).all())
    assert karras_timesteps(LINEAR, 1000).tolist() == list(range(999, -1, -1))
    assert torch.equal(schedule_timesteps(LINEAR, 7, spacing="karras"), karras_timesteps(LINEAR, 7))
    assert torch.equal(schedule_timesteps(LINEAR, 7, spacing="trailing"), timesteps(1000, 7, spacing="trailing"))
    with pytest.raises(ConfigError, match=r"in \[1, 1000\]"):
        karras_timesteps(LINEAR, 1001)
    with pytest.raises(ConfigError, match="'karras' needs the schedule"):
        timesteps(1000, 7, spacing="karras")  # type: ignore[arg-type]


def test_registry_entries_choose_their_spacing_and_take_no_options():
    for name in ODE_SAMPLERS:
        assert SAMPLERS[name].spacing == "karras" and SAMPLERS[name].options == () and not SAMPLERS[name].full_chain
    assert SAMPLERS["ddim"].spacing is None and SAMPLERS["ancestral"].spacing is None
    for name in ("dpmpp_2m", "unipc"):            # multistep solvers: DPM-Solver's quadratic grid at few steps
        assert [SAMPLERS[name].spacing_for(n) for n in (1, 5, FEW_STEPS, FEW_STEPS + 1, 50)] == \
            ["quadratic"] * 3 + ["karras"] * 2
        assert SAMPLERS[name].spacing_rule() == f"quadratic up to {FEW_STEPS} steps, else karras"
    assert SAMPLERS["euler"].spacing_for(5) == "karras" and SAMPLERS["ddim"].spacing_for(5) is None


@pytest.mark.parametrize("name", ODE_SAMPLERS)
def test_a_guided_run_samples_through_the_pipeline_on_its_default_steps(name):
    run = load_run(LEGACY / "ddpm_cls")                           # v-prediction, class-conditional, T = 100
    seen: list[int] = []
    for steps in (5, 12):
        x = run.sample(3, seed=0, sampler=name, steps=steps, label=7, guidance=3.0,
                       callback=lambda i, t, x_t, x0: seen.append(t))
        assert x.shape == (3, *run.family.shape) and torch.isfinite(x).all()
        spacing = "karras" if name in ("euler", "heun") or steps > FEW_STEPS else "quadratic"
        assert seen == schedule_timesteps(run.family.schedule, steps, spacing=spacing).tolist()
        seen.clear()
    seen.clear()
    run.sample(3, seed=0, sampler=name, steps=5, spacing="trailing", callback=lambda i, t, x_t, x0: seen.append(t))
    assert seen == timesteps(100, 5, spacing="trailing").tolist()


def test_genlab_sample_with_heun_writes_a_grid(tmp_path):
    out = tmp_path / "heun.png"
    assert main(["sample", str(LEGACY / "ddpm_cls"), "--n", "2", "--sampler", "heun", "--sample-steps", "10",
                 "--label", "3", "--guidance", "2", "--quiet", "--out", str(out)]) == 0
    assert out.exists()


def test_genlab_sample_takes_the_new_spacings_and_names_them_in_errors(tmp_path, capsys):
    out = tmp_path / "dpm.png"
    assert main(["sample", str(LEGACY / "ddpm_cls"), "--n", "2", "--sampler", "dpmpp_2m", "--steps", "3",
                 "--spacing", "logsnr", "--quiet", "--out", str(out)]) == 0
    assert out.exists()
    with pytest.raises(SystemExit):
        main(["sample", str(LEGACY / "ddpm_cls"), "--spacing", "uniform"])
    assert "'logsnr', 'quadratic'" in capsys.readouterr().err


def _exact_to_last(schedule: NoiseSchedule, x_T: torch.Tensor, steps: list[int]) -> torch.Tensor:
    """The samplers' limit on a grid that ends at steps[-1] > 0: the exact ODE from steps[0] to sigma(steps[-1]),
    then the denoiser's x0 there, D(y; sigma) = M + S^2 / (S^2 + sigma^2) (y - M)."""
    sigmas = ve_sigmas(schedule)
    y = x_T / math.sqrt(float(schedule.alphas_cumprod[steps[0]]))
    s_max, s_end = float(sigmas[steps[0]]), float(sigmas[steps[-1]])
    return M + S * S / math.sqrt((S * S + s_max**2) * (S * S + s_end**2)) * (y - M)


@pytest.mark.parametrize("spacing", ["logsnr", "quadratic"])
@pytest.mark.parametrize("name,band,steps", [("euler", (1.6, 2.5), [16, 32, 64, 128]),
                                             ("heun", (3.0, 5.5), [16, 32, 64, 128]),
                                             ("dpmpp_2m", (3.0, 5.5), [16, 32, 64, 128]),
                                             ("unipc", (6.0, 10.0), [16, 32, 64])])
def test_each_sampler_keeps_its_order_on_the_few_step_spacings(spacing, name, band, steps):
    """The orders hold on the "logsnr" and "quadratic" grids, which end at a step > 0 (the limit is the exact ODE to
    that step and its x0). Measured error ratios per doubling from 16 steps (logsnr; quadratic): euler 1.93 1.96 2.01;
    1.93 1.96 1.98 -- heun 4.35 4.16 4.08; 4.23 4.10 4.02 -- dpmpp_2m 3.44 3.81 4.14; 3.93 4.20 4.36 -- unipc 7.11
    7.00; 7.99 7.55. As on the Karras grid, unipc's third order stops showing once the rounded levels reach the
    consecutive low-noise timesteps (64 -> 128: 4.7 and 7.8, 128 -> 256: 1.6 and 1.1)."""
    errors = []
    for n in steps:
        steps = schedule_timesteps(LINEAR, n, spacing=spacing).tolist()
        out = ODE_SAMPLERS[name](_denoiser(LINEAR, "v"), X_T, steps)
        errors.append(float((out - _exact_to_last(LINEAR, X_T, steps)).abs().max()))
    ratios = [a / b for a, b in zip(errors, errors[1:], strict=False)]
    assert all(band[0] < r < band[1] for r in ratios), (errors, ratios)


def test_logsnr_and_quadratic_timesteps_by_hand():
    # quadratic, T = 1000, n = 5: t_k = 1000 (1 - k (1 - 1000^-1/2) / 5)^2 = 1000, 650.16, 375.34, 175.54, 50.76
    assert schedule_timesteps(LINEAR, 5, spacing="quadratic").tolist() == [999, 649, 374, 175, 50]
    # logsnr: the first n of n + 1 levels uniform in log sigma from sigma(999) to sigma(0), nearest in log sigma
    log_sigma = np.log(ve_sigmas(LINEAR))
    for n in (2, 5, 10):
        target = np.linspace(log_sigma[-1], log_sigma[0], n + 1)[:-1]
        nearest = np.abs(log_sigma[None, :] - target[:, None]).argmin(axis=1)
        assert schedule_timesteps(LINEAR, n, spacing="logsnr").tolist() == nearest.tolist()
    assert schedule_timesteps(LINEAR, 2, spacing="logsnr").tolist()[1] == 302   # sigma(302) = 1.25 ~ sqrt(157 * 0.01)
    for spacing in ("logsnr", "quadratic"):
        assert schedule_timesteps(LINEAR, 1, spacing=spacing).tolist() == [999]
        for n in (2, 3, 50, 500, 999):                 # from T-1, distinct, and with few steps never the clean end
            steps = schedule_timesteps(COSINE, n, spacing=spacing)
            assert len(steps) == n and steps[0] == 999 and bool((steps[:-1] > steps[1:]).all())
            assert steps[-1] > 0 or n >= 500
        assert schedule_timesteps(LINEAR, 1000, spacing=spacing).tolist() == list(range(999, -1, -1))
        with pytest.raises(ConfigError, match=r"in \[1, 1000\]"):
            schedule_timesteps(LINEAR, 0, spacing=spacing)
        with pytest.raises(ConfigError, match="needs the schedule"):
            timesteps(1000, 7, spacing=spacing)  # type: ignore[arg-type]


@pytest.mark.parametrize("spacing", ["logsnr", "quadratic"])
def test_one_and_two_steps_on_the_few_step_spacings(spacing):
    # 1 step: x0 at T-1; 2 steps: both first order for dpmpp_2m and unipc (no history, then the step to sigma = 0)
    d = _denoiser(LINEAR)
    one = schedule_timesteps(LINEAR, 1, spacing=spacing)
    for f in ODE_SAMPLERS.values():
        torch.testing.assert_close(f(d, X_T, one), d.x0(X_T, 999), rtol=0, atol=1e-12)
    two = schedule_timesteps(LINEAR, 2, spacing=spacing)
    euler = sample_euler(d, X_T, two)
    for f in (sample_dpmpp_2m, sample_unipc):
        torch.testing.assert_close(f(d, X_T, two), euler, rtol=0, atol=1e-12)
    assert torch.isfinite(sample_heun(d, X_T, two)).all()
