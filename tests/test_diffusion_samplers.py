"""The sampler registry and the sampling pipeline: names, one signature, and the README's denoiser recipe."""
from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import torch

from genlab.cli.main import main
from genlab.config import apply_overrides, run_config_from_dict
from genlab.diffusion import SAMPLERS, Denoiser, NoiseSchedule, get_sampler, timesteps
from genlab.diffusion.pipeline import denoiser_for, run_denoiser
from genlab.errors import ConfigError, ModelInputError
from genlab.training.objective import DataInfo
from genlab.training.run import build_family, load_run

LEGACY = Path(__file__).parent / "data" / "legacy_runs"
DIGITS = DataInfo(kind="image", shape=(1, 8, 8), num_classes=10)


def _family(*overrides: str):
    values = apply_overrides({"family": "ddpm"}, ["model.channels=[8, 8]", "model.groups=4", "diffusion.T=100",
                                                  "condition.context_dim=8", "model.heads=1", *overrides])
    return build_family(run_config_from_dict(values), DIGITS)


@pytest.mark.parametrize("name", list(SAMPLERS))
def test_every_registered_sampler_has_the_one_signature_and_recovers_a_point_mass(name):
    params = inspect.signature(SAMPLERS[name].fn).parameters
    assert list(params)[:3] == ["denoiser", "x", "timesteps"]
    assert params["generator"].kind is inspect.Parameter.KEYWORD_ONLY and params["generator"].default is None
    assert params["callback"].kind is inspect.Parameter.KEYWORD_ONLY and params["callback"].default is None
    assert set(SAMPLERS[name].options) <= set(params)              # the options the pipeline passes exist
    assert set(SAMPLERS[name].inputs) <= set(params)               # and the per-call inputs (inpainting)
    schedule, x0 = NoiseSchedule.from_name("linear", T=1000), torch.tensor([[0.5, -0.25]], dtype=torch.float64)

    def exact_eps(x_t, t):                                         # data = delta(x0)
        a = torch.from_numpy(schedule.sqrt_alphas_cumprod[t.numpy()])[:, None]
        s = torch.from_numpy(schedule.sqrt_one_minus_alphas_cumprod[t.numpy()])[:, None]
        return (x_t - a * x0) / s
    x_T = torch.randn(3, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    inputs = {"known": x0, "mask": torch.tensor([[1.0, 0.0]])}     # inpainting: the first coordinate known
    out = SAMPLERS[name](Denoiser(exact_eps, schedule), x_T, timesteps(1000, 20, spacing="trailing"),
                         generator=torch.Generator().manual_seed(1), **{k: inputs[k] for k in SAMPLERS[name].inputs})
    torch.testing.assert_close(out, x0.expand(3, 2), rtol=0, atol=1e-9)


def test_an_unknown_sampler_is_one_line_listing_the_registry(tmp_path, capsys):
    names = "ddim, ancestral, euler, heun, dpmpp_2m, unipc, replace, repaint"
    with pytest.raises(ConfigError, match=rf"unknown sampler 'dpm'; expected one of: {names}$"):
        get_sampler("dpm")
    with pytest.raises(ConfigError, match=rf"unknown sampler 'lms'; expected one of: {names}$"):
        _family("diffusion.sampler=lms")
    assert main(["sample", str(LEGACY / "ddpm_cls"), "--sampler", "dpm", "--out", str(tmp_path / "g.png")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: unknown sampler 'dpm'; expected one of: {names}"]


def test_the_readme_recipe_draws_what_the_family_draws():
    fam = _family("condition.kind=class")
    models = {k: m.eval() for k, m in fam.build_models().items()}
    expected = fam.sample(models, 4, generator=torch.Generator().manual_seed(5), label=7, guidance=3.0, steps=6)
    denoiser = denoiser_for(fam, models, 4, label=7, guidance=3.0)
    assert denoiser.guidance == 3.0 and denoiser.prediction == "eps"
    x_T = torch.randn(4, *fam.shape, generator=torch.Generator().manual_seed(5))
    x0 = SAMPLERS["ddim"](denoiser, x_T, timesteps(100, 6), clip_x0=False)   # guided: x0 is not clipped
    assert torch.equal(fam.decode(models, x0.clamp(-1, 1)), expected)


def test_run_denoiser_of_a_loaded_run_and_its_errors():
    run = load_run(LEGACY / "ddpm_cls")
    d = run_denoiser(run, 2, label=[1, 2], guidance=0.0, precision="fp32")
    assert d.guidance == 0.0 and d.prediction == "v" and d.schedule.T == 100
    with pytest.raises(ModelInputError, match="needs a diffusion run"):
        run_denoiser(load_run(LEGACY / "vae"))
    with pytest.raises(ModelInputError, match=r"--label must be a class in 0..9"):
        run_denoiser(run, 2, label=12)
    with pytest.raises(ModelInputError, match="sampling option 'temperature' does not apply to a 'ddpm' run"):
        run.sample(2, temperature=0.5)
    with pytest.raises(ModelInputError, match="sampling steps must be between 1 and T=100, got 0"):
        run.sample(2, steps=0)


def test_an_option_the_chosen_sampler_does_not_take_is_refused_not_ignored():
    run = load_run(LEGACY / "ddpm_cls")
    with pytest.raises(ModelInputError, match=r"--eta does not apply to the 'ancestral' sampler \(it takes: "
                                              r"variance, clip_x0\)"):
        run.sample(2, sampler="ancestral", eta=0.5, steps=3)
    with pytest.raises(ModelInputError, match=r"--variance does not apply to the 'heun' sampler \(it takes: no "
                                              r"options\)"):
        run.sample(2, sampler="heun", variance="beta", steps=3)
    assert run.sample(2, sampler="ddim", eta=0.5, steps=3, precision="fp32").shape == (2, 1, 8, 8)
