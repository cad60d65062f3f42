"""Inpainting: the mask convention (1 = keep), named and PNG masks, random training masks, RePaint's jump schedule
against a hand-written case, the known region kept exactly by every method, the filled region against closed
forms for Gaussian data, a tiny Palette run trained and sampled through the CLI, and one-line errors."""
from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from genlab.cli.main import main
from genlab.data import to_float, to_uint8
from genlab.diffusion import Denoiser, NoiseSchedule, schedule_timesteps
from genlab.diffusion.inpaint import method_options
from genlab.diffusion.masks import keep_known, load_mask_png, masked_condition, named_mask, resolve_mask
from genlab.diffusion.pipeline import inpainting_inputs
from genlab.diffusion.random_masks import MASK_KINDS, random_masks
from genlab.diffusion.repaint import repaint_calls, repaint_schedule, sample_repaint, sample_replace
from genlab.diffusion.samplers import get_sampler
from genlab.errors import ConfigError, ModelInputError
from genlab.viz.grid import label_margins
from genlab.config import run_config_from_dict
from genlab.training.objective import BatchRandom, DataInfo
from genlab.training.run import build_family, load_run

LINEAR = NoiseSchedule.from_name("linear", T=1000)
M, S = 0.3, 0.5


def gaussian_denoiser(cov: torch.Tensor, calls: list[int] | None = None) -> Denoiser:
    """The exact eps-network for data N(M, cov) over the last dimension (E[x0 | x_t] of a Gaussian, VP notation)."""
    d = cov.shape[0]

    def net(x_t, t):
        step = int(t[0])
        if calls is not None:
            calls.append(step)
        a, s = float(LINEAR.sqrt_alphas_cumprod[step]), float(LINEAR.sqrt_one_minus_alphas_cumprod[step])
        gain = a * cov @ torch.linalg.inv(a * a * cov + s * s * torch.eye(d, dtype=cov.dtype))
        x0 = M + ((x_t.reshape(-1, d) - a * M) @ gain.T).reshape(x_t.shape)
        return (x_t - a * x0) / s
    return Denoiser(net, LINEAR, prediction="eps")


# --- masks ------------------------------------------------------------------------------------------------------

def test_named_masks_say_what_they_fill_and_keep_the_rest_as_one():
    keep_right = torch.tensor([[0, 0, 1, 1]] * 4, dtype=torch.float32)
    assert torch.equal(named_mask("left-half", 4, 4)[0, 0], keep_right)
    assert torch.equal(named_mask("right-half", 4, 4)[0, 0], keep_right.flip(1))
    assert torch.equal(named_mask("top-half", 4, 4)[0, 0], keep_right.T)
    assert torch.equal(named_mask("bottom-half", 4, 4)[0, 0], keep_right.T.flip(0))
    center = torch.ones(4, 4)
    center[1:3, 1:3] = 0
    assert torch.equal(named_mask("center", 4, 4)[0, 0], center)
    assert torch.equal(named_mask("border", 4, 4)[0, 0], 1 - center)          # uncropping
    assert named_mask("left-half", 28, 28).shape == (1, 1, 28, 28) and named_mask("left-half", 28, 28).mean() == 0.5
    with pytest.raises(ModelInputError, match="unknown mask 'middle'.*center, left-half"):
        resolve_mask("middle", 4, 4)


def test_png_masks_keep_white_and_fill_black_and_must_have_the_run_size(tmp_path):
    grey = np.array([[255, 128, 127, 0]] * 3, dtype=np.uint8)          # 4 wide, 3 high
    Image.fromarray(grey, mode="L").save(tmp_path / "m.png")
    assert torch.equal(load_mask_png(tmp_path / "m.png", 3, 4)[0, 0], torch.tensor([[1.0, 1.0, 0.0, 0.0]] * 3))
    Image.fromarray(np.stack([grey] * 3, axis=-1), mode="RGB").save(tmp_path / "rgb.png")
    assert torch.equal(resolve_mask(str(tmp_path / "rgb.png"), 3, 4), load_mask_png(tmp_path / "m.png", 3, 4))
    with pytest.raises(ModelInputError, match=r"m.png is 4x3 pixels; this run's images are 28x28"):
        resolve_mask(str(tmp_path / "m.png"), 28, 28)


def test_random_training_masks_cover_every_kind_and_agree_across_ranks():
    full = random_masks(BatchRandom(torch.Generator().manual_seed(0), global_size=64, start=0, size=64), 16, 16)
    ranks = [random_masks(BatchRandom(torch.Generator().manual_seed(0), global_size=64, start=s, size=32), 16, 16)
             for s in (0, 32)]
    assert torch.equal(torch.cat(ranks), full)                        # BatchRandom: the global batch's draws
    kinds = BatchRandom(torch.Generator().manual_seed(0), global_size=64, start=0, size=64).randint(len(MASK_KINDS))
    fill = 1 - full.flatten(1).mean(1)
    assert set(full.unique().tolist()) == {0.0, 1.0}
    assert torch.allclose(fill[kinds == 1], torch.tensor(0.5))         # halves fill exactly half
    for k in range(len(MASK_KINDS)):
        assert (kinds == k).sum() >= 8 and bool(((fill[kinds == k] > 0.03) & (fill[kinds == k] < 0.9)).all())


def test_masked_condition_is_known_pixels_then_mask_and_the_paste_is_exact():
    known, mask = torch.randn(3, 2, 4, 4), named_mask("center", 4, 4)
    cond = masked_condition(known, mask)
    assert cond.shape == (3, 3, 4, 4) and torch.equal(cond[:, :2], known * mask) and bool((cond[:, 2:] == mask).all())
    x = torch.full((3, 2, 4, 4), float("nan"))
    out = keep_known(x, known, mask)
    assert torch.equal(out[..., 0, :], known[..., 0, :]) and bool(out[..., 1:3, 1:3].isnan().all())


# --- RePaint's schedule ----------------------------------------------------------------------------------------

def test_repaint_schedule_of_six_steps_jump_two_resample_two_by_hand():
    # Positions from x_T (0) to the clean image (6). Jump points count up from the lowest visited step (5) in
    # steps of 2 while a full jump fits below the top: positions 5 and 3, each jumped back from once (r - 1 = 1).
    path = repaint_schedule(6, jump_length=2, resample=2)
    assert path == [0, 1, 2, 3, 1, 2, 3, 4, 5, 3, 4, 5, 6]
    assert repaint_calls(6, jump_length=2, resample=2) == 10
    calls: list[int] = []
    steps = [50, 40, 30, 20, 10, 0]
    sample_repaint(gaussian_denoiser(torch.eye(1, dtype=torch.float64) * S * S, calls),
                   torch.randn(2, 1, 1, 1, dtype=torch.float64), steps, known=torch.zeros(1, 1, 1, 1),
                   mask=torch.zeros(1, 1, 1, 1), jump_length=2, resample=2)
    assert calls == [50, 40, 30, 40, 30, 20, 10, 20, 10, 0]           # the network sees the walk's down moves


def test_repaint_call_counts_and_plain_replacement():
    assert repaint_schedule(5, jump_length=3, resample=1) == [0, 1, 2, 3, 4, 5]     # resample 1: no jump
    assert repaint_calls(50, jump_length=5, resample=5) == 50 + 4 * 5 * 9 == 230
    assert repaint_calls(250, jump_length=10, resample=10) == 250 + 9 * 10 * 24      # the paper's setting
    assert repaint_calls(4, jump_length=10, resample=10) == 4                         # no jump fits
    with pytest.raises(ConfigError, match="jump_length >= 1 and resample >= 1"):
        repaint_schedule(10, jump_length=0, resample=2)


# --- every method keeps the known region exactly; the filled region against closed forms ------------------------

@pytest.mark.parametrize("sampler", [sample_replace, sample_repaint])
def test_known_pixels_come_back_bit_exact_and_independent_pixels_are_filled_from_the_prior(sampler):
    # Data N(M, S^2) per pixel, independent: the known pixels say nothing about the others, so the filled ones
    # must follow the prior. All 1000 steps visited (coarser chains shrink the variance; the next test).
    gen = torch.Generator().manual_seed(0)
    known = to_float(torch.randint(0, 256, (1, 1, 4, 4), generator=gen, dtype=torch.uint8)).double()
    mask = named_mask("left-half", 4, 4)
    out = sampler(gaussian_denoiser(torch.eye(1, dtype=torch.float64) * S * S),
                  torch.randn(2000, 1, 4, 4, generator=gen, dtype=torch.float64), list(range(999, -1, -1)),
                  generator=gen, known=known, mask=mask, clip_x0=False,
                  **({"jump_length": 100, "resample": 2} if sampler is sample_repaint else {}))
    assert torch.equal(out[..., 2:], known[..., 2:].expand(2000, -1, -1, -1))
    filled = out[..., :2]                  # 16,000 pixels: standard errors 0.004 (mean) and 0.003 (std)
    # measured: mean - M = 0.003 / -0.002, std - S = -0.004 / -0.007 (replace / repaint)
    assert abs(float(filled.mean()) - M) < 0.012 and abs(float(filled.std()) - S) < 0.015


def test_repaint_moves_correlated_pixels_towards_the_exact_conditional_where_replacement_is_biased():
    # Two pixels with correlation 0.9; the first known = 0.9: x2 | x1 ~ N(M + 0.9 (0.9 - M), S^2 (1 - 0.81)).
    # Replacement draws the known pixel's noisy versions independently of the unknown one's path, so it
    # under-uses the correlation (Lugmayr et al. 2022, sec. 4.2); resampling lets the two harmonise.
    rho, cov = 0.9, S * S * torch.tensor([[1.0, 0.9], [0.9, 1.0]], dtype=torch.float64)
    target_mean, target_std = M + rho * (0.9 - M), S * math.sqrt(1 - rho * rho)
    known, mask = torch.full((1, 1, 1, 2), 0.9, dtype=torch.float64), torch.tensor([1.0, 0.0]).reshape(1, 1, 1, 2)
    steps = schedule_timesteps(LINEAR, 50)
    errors = {}
    settings = {"replace": dict(jump_length=1, resample=1), "repaint": dict(jump_length=5, resample=5)}
    for name, options in settings.items():
        gen = torch.Generator().manual_seed(1)
        x = torch.randn(4000, 1, 1, 2, generator=gen, dtype=torch.float64)
        out = sample_repaint(gaussian_denoiser(cov), x, steps, generator=gen, known=known, mask=mask, clip_x0=False,
                             **options)
        errors[name] = (abs(float(out[..., 1].mean()) - target_mean), abs(float(out[..., 1].std()) - target_std))
    # measured (mean error / std error): replace 0.187 / 0.044, repaint 0.077 / 0.004
    assert errors["repaint"][0] < 0.6 * errors["replace"][0] and errors["repaint"][1] < errors["replace"][1]
    assert errors["replace"][0] > 0.1


# --- the pipeline and the command line ---------------------------------------------------------------------------

def test_inpainting_inputs_refuse_vectors_latents_and_half_pairs():
    d = SimpleNamespace(condition=SimpleNamespace(kind="none"))
    pixel = SimpleNamespace(config=d, data=SimpleNamespace(kind="image", shape=(1, 4, 4)), bounded=True,
                            shape=(1, 4, 4))
    latent = SimpleNamespace(config=d, data=SimpleNamespace(kind="image", shape=(1, 4, 4)), bounded=False,
                             shape=(4, 2, 2))
    vector = SimpleNamespace(config=d, data=SimpleNamespace(kind="vector", shape=(2,)), bounded=False, shape=(2,))
    known, repaint, ddim = torch.zeros(1, 1, 4, 4), get_sampler("repaint"), get_sampler("ddim")
    assert inpainting_inputs(pixel, ddim, "ddim", 2, None, None) is None
    for family, sampler, name, k, m, text in [
            (pixel, repaint, "repaint", None, None, "the 'repaint' sampler inpaints: give known images and a mask"),
            (pixel, repaint, "repaint", known, None, "needs both the known images and a mask"),
            (pixel, ddim, "ddim", known, "center", "cannot inpaint a run without condition.kind = 'masked'"),
            (latent, repaint, "repaint", known, "center", "inpainting works in pixel space"),
            (vector, repaint, "repaint", torch.zeros(1, 2), "center", "needs an image run"),
            (pixel, repaint, "repaint", torch.zeros(1, 3, 4, 4), "center", "have 3 channel(s); this run's images are"),
            (pixel, repaint, "repaint", torch.zeros(1, 1, 5, 5), "center", "shape (1, 1, 5, 5)"),
            (pixel, repaint, "repaint", known, torch.ones(1, 1, 3, 3), "a mask tensor must be (1 or n, 1, 4, 4)")]:
        with pytest.raises(ModelInputError, match=text.replace("(", r"\(").replace(")", r"\)")):
            inpainting_inputs(family, sampler, name, 2, k, m)
    with pytest.raises(ConfigError, match="diffusion.sampler = 'repaint' inpaints given images"):
        build_family(run_config_from_dict({"family": "ddpm", "diffusion": {"sampler": "repaint"}}),
                     DataInfo(kind="image", shape=(1, 8, 8)))
    with pytest.raises(ModelInputError, match="--method palette needs a run trained with condition.kind = 'masked'"):
        method_options("none", "palette")
    with pytest.raises(ModelInputError, match="--jump-length applies to --method repaint, not replace"):
        method_options("none", "replace", jump_length=3)


@pytest.fixture(scope="module")
def palette_run(tmp_path_factory, one_thread) -> Path:
    """A tiny Palette run on 8x8 digits, trained through the CLI (a few steps: a run that samples, not a good one)."""
    run = tmp_path_factory.mktemp("palette") / "run"
    assert main(["train", "ddpm", "--data", "digits", "--set", "condition.kind=masked", "--set", "model.channels=[16]",
                 "--set", "model.groups=8", "--set", "model.mid_attention=false", "--set", "diffusion.T=50",
                 "--set", "diffusion.sample_steps=5", "--set", "train.precision=fp32", "--steps", "3",
                 "--batch-size", "16", "--out", str(run), "--quiet"]) == 0
    return run


@pytest.mark.parametrize("method", ["palette", "replace", "repaint"])
def test_cli_inpaints_a_palette_run_by_every_method_keeping_the_known_pixels(palette_run, tmp_path, method, capsys):
    out = tmp_path / method
    extra = ["--jump-length", "2", "--resample", "2"] if method == "repaint" else []
    assert main(["inpaint", str(palette_run), "--image", "digits", "--mask", "top-half", "--method", method,
                 "--n", "6", "--out", str(out), "--quiet", *extra]) == 0
    assert "masked input | output | original" in capsys.readouterr().out
    saved = np.load(out / "inpainted.npz")
    keep = saved["mask"].astype(bool)
    assert saved["x"].shape == saved["original"].shape == (6, 1, 8, 8)
    assert keep[:, :, 4:].all() and not keep[:, :, :4].any()              # top-half: the top rows are filled
    assert np.array_equal(saved["x"][keep], saved["original"][keep])
    # masked input | output | original, each 8 px enlarged 7x (to >= 56 px), headed by a line of labels
    top, _ = label_margins(col_labels=[""])
    assert Image.open(out / "compare.png").size == (3 * 8 * 7 + 4 * 2, top + 6 * 8 * 7 + 7 * 2)
    run = load_run(palette_run)
    known = to_float(torch.as_tensor(saved["original"]))
    x = run.sample(6, seed=0, known=known, mask="top-half", steps=3)   # the library path: float, bit-exact
    assert torch.equal(x[..., 4:, :], known[..., 4:, :])
    assert torch.equal(to_uint8(x)[..., 4:, :], to_uint8(known)[..., 4:, :])


def _write_png(path: Path, size: int, mode: str = "L") -> None:
    Image.fromarray(np.zeros((size, size, 3) if mode == "RGB" else (size, size), dtype=np.uint8), mode=mode).save(path)


@pytest.mark.parametrize("argv, expected", [
    (["--image", "{tmp}/digit.png", "--mask", "{tmp}/mask28.png"], "mask28.png is 28x28 pixels; this run's images "
                                                                   "are 8x8"),
    (["--image", "{tmp}/big.png", "--mask", "center"], "big.png has images of 28x28 pixels; this run's are 8x8"),
    (["--image", "{tmp}/rgb.npz", "--mask", "center"], "rgb.npz has 3-channel images; this run's have 1 channel(s)"),
    (["--image", "{tmp}/none.png", "--mask", "center"], "none.png not found"),
    (["--image", "{tmp}/digit.png", "--mask", "middle"], "unknown mask 'middle'"),
    (["--image", "{tmp}/digit.png", "--mask", "center", "--method", "replace", "--resample", "3"],
     "--resample applies to --method repaint, not replace"),
    (["--image", "{tmp}/digit.png", "--mask", "center", "--steps", "0"], "--steps: expected an integer >= 1"),
    (["--image", "{tmp}/digit.png", "--mask", "center", "--method", "bogus"], "invalid choice: 'bogus'"),
])
def test_cli_inpaint_errors_are_one_line(palette_run, tmp_path, capsys, argv, expected):
    _write_png(tmp_path / "digit.png", 8)
    _write_png(tmp_path / "big.png", 28)
    _write_png(tmp_path / "mask28.png", 28)
    np.savez(tmp_path / "rgb.npz", x=np.zeros((2, 3, 8, 8), dtype=np.uint8))
    try:
        code = main(["inpaint", str(palette_run), *[a.replace("{tmp}", str(tmp_path)) for a in argv], "--quiet"])
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error: ") and expected in err[0], err
