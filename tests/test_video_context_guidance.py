"""Classifier-free guidance towards given frames (Ho & Salimans 2022, eq. 6, on Harvey et al.'s frame masks):
the mix in closed form, its two ends (w = 0: the unconditional model, w = 1: the plain mask model), its errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from genlab.cli.main import main
from genlab.config import TrainConfig
from genlab.diffusion import pipeline
from genlab.errors import ModelInputError
from genlab.training.objective import DataInfo
from genlab.video.config import VDMConfig, VideoNetConfig
from genlab.video.continuation import ContextGuided, conditioned_models
from genlab.video.family import VideoDiffusionFamily

SHAPE = (4, 1, 8, 8)


@pytest.fixture(autouse=True)
def _threads(one_thread):
    yield


def _family(mask_prob: float = 0.5) -> VideoDiffusionFamily:
    cfg = VDMConfig(model=VideoNetConfig(channels=(8, 16), attention_levels=(1,), heads=2, groups=4))
    cfg.video.mask_prob = mask_prob
    cfg.diffusion.sample_steps = 3
    return VideoDiffusionFamily(cfg, data=DataInfo(kind="video", shape=SHAPE), train=TrainConfig(precision="fp32"))


class GivenSum(nn.Module):
    """out = 2 x + (sum of the given known frames) on every frame: c - u is that sum, in closed form."""

    mask_channel = True

    def __init__(self) -> None:
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(1))

    def forward(self, x, t, known=None, mask=None, still=None):
        given = torch.zeros(x.shape[:2]) if mask is None else mask.float()
        return 2 * x + (given[:, :, None, None, None] * known).sum(dim=1, keepdim=True)


def test_guidance_extrapolates_from_no_frames_to_the_given_ones_in_closed_form() -> None:
    x, known = torch.randn(3, *SHAPE), torch.randn(3, *SHAPE)
    given = torch.tensor([[True, False, False, False], [True, True, False, False], [False, True, False, True]])
    guided = conditioned_models(_family(), {"model": GivenSum()}, known, given, method="mask", weight=4.0,
                                guidance=2.5)["model"]
    assert isinstance(guided, ContextGuided)
    given_sum = (given.float()[:, :, None, None, None] * known).sum(dim=1, keepdim=True)
    torch.testing.assert_close(guided(x, torch.full((3,), 300)), 2 * x + 2.5 * given_sum.expand_as(x))


def _drawer():
    """(family, models, context, draw): draw(**options) continues the context's 2 frames with seed 5."""
    family = _family()
    torch.manual_seed(0)
    models = family.build_models()
    context = torch.rand(2, 2, 1, 8, 8) * 2 - 1

    def draw(**options):
        return family.sample(models, 2, generator=torch.Generator().manual_seed(5), context=context, **options)

    return family, models, context, draw


def test_guidance_0_samples_the_unconditional_model_and_1_the_plain_mask_model() -> None:
    family, models, context, draw = _drawer()
    free = pipeline.sample(family, models, 2, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(draw(guidance=0.0)[:, 2:], free[:, 2:], rtol=0, atol=1e-5)
    assert torch.equal(draw(guidance=1.0), draw())
    pulled = draw(guidance=3.0)
    assert torch.equal(pulled[:, :2], context) and (pulled[:, 2:] - draw()[:, 2:]).abs().max() > 1e-3


def test_the_runs_video_guidance_is_the_default_of_the_mask_method_only() -> None:
    family, models, _, draw = _drawer()
    pulled = draw(guidance=3.0)
    family.config.video.guidance = 3.0
    assert torch.equal(draw(), pulled) and not torch.equal(draw(guidance=1.0), pulled)
    assert draw(method="reconstruction").shape == (2, 4, 1, 8, 8)    # the default does not reach reconstruction
    assert family.sample(models, 1, generator=torch.Generator()).shape == (1, 4, 1, 8, 8)   # nor unconditional


def test_guidance_needs_given_frames_and_the_mask_method() -> None:
    family = _family()
    models = family.build_models()
    with pytest.raises(ModelInputError, match="give --context, or --frames beyond the model's window of 4") as err:
        family.sample(models, 1, generator=torch.Generator(), guidance=2.0)
    assert "\n" not in str(err.value)
    with pytest.raises(ModelInputError, match="method 'mask'; reconstruction guidance has its own weight"):
        family.sample(models, 1, generator=torch.Generator(), context=torch.zeros(1, 2, 1, 8, 8),
                      method="reconstruction", guidance=2.0)
    clips = family.sample(models, 1, generator=torch.Generator(), frames=6, guidance=2.0, steps=2)
    assert clips.shape == (1, 6, 1, 8, 8)


def test_guided_pixel_clips_are_not_clipped_by_samplers_that_clip(monkeypatch) -> None:
    """The pipeline reads the scale off the guided wrapper: clip_x0 is off for w not in {0, 1}, as for classes."""
    family = _family()
    models = family.build_models()
    seen: list[object] = []
    real = pipeline.get_sampler

    class Spy:
        def __init__(self, name: str) -> None:
            self.inner = real(name)

        def __getattr__(self, key: str) -> object:
            return getattr(self.inner, key)

        def __call__(self, *args, **kwargs):
            seen.append(kwargs.get("clip_x0", "none"))
            return self.inner(*args, **kwargs)

    monkeypatch.setattr(pipeline, "get_sampler", Spy)
    context = torch.zeros(1, 2, 1, 8, 8)
    for sampler, w in (("ddim", 2.0), ("ancestral", 0.5), ("ddim", 1.0), ("ddim", 0.0), ("heun", 2.0)):
        family.sample(models, 1, generator=torch.Generator(), context=context, guidance=w, steps=2, sampler=sampler)
    assert seen == [False, False, True, True, "none"]         # the ODE samplers take no clipping option


def test_cli_guides_a_context_and_refuses_guidance_without_one(tmp_path, capsys) -> None:
    out = tmp_path / "run"
    tiny = ["--set", "model.channels=[8, 16]", "--set", "model.attention_levels=[1]", "--set", "model.groups=4",
            "--set", "model.heads=2", "--set", "train.batch_size=4", "--set", "train.threads=1"]
    data = "moving-mnist:n=8,frames=4,size=16,digit_size=8"
    assert main(["train", "vdm", "--data", data, "--steps", "1", "--out", str(out), "--quiet", *tiny]) == 0
    context = np.random.default_rng(0).integers(0, 256, size=(2, 2, 1, 16, 16), dtype=np.uint8)
    np.savez(tmp_path / "first.npz", x=context)
    assert main(["sample", str(out), "--n", "2", "--context", str(tmp_path / "first.npz"), "--guidance", "2",
                 "--steps", "2", "--out", str(tmp_path / "c.gif"), "--npz", str(tmp_path / "c.npz"), "--quiet"]) == 0
    assert np.array_equal(np.load(tmp_path / "c.npz")["x"][:, :2], context)
    capsys.readouterr()
    assert main(["sample", str(out), "--n", "1", "--guidance", "2", "--out", str(tmp_path / "u.gif"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "give --context" in err and len(err.splitlines()) == 1
