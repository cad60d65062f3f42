"""video.motion: the reference frame moved by the given frames' global translation. Phase correlation and the
move against shifts made by hand, the reference of a blob in uniform motion against its true frames (continuation
and infilling), and the network's and family's use of it."""
from __future__ import annotations

import pytest
import torch

from genlab.config import TrainConfig
from genlab.errors import ConfigError, ModelInputError
from genlab.training.objective import Batch, BatchRandom, DataInfo
from genlab.video.config import VDMConfig, VideoNetConfig
from genlab.video.continuation import SelfAligned, conditioned_models
from genlab.video.family import VideoDiffusionFamily
from genlab.video.motion import aligned_reference, bounced, content_box, motion_reference, translate, translation
from genlab.video.network import FrameMaskedNet


@pytest.fixture(autouse=True)
def _threads(one_thread):
    yield


def _blob_at(corners: list[tuple[int, int]], size: int = 24) -> torch.Tensor:
    """A 4x3 asymmetric blob on a -1 ground with its top-left corner at corners[f] in frame f: (1, F, 1, S, S)."""
    shape = torch.tensor([[1.0, 0.5, 0.0], [1.0, 1.0, 0.2], [0.3, 1.0, 0.0], [0.0, 0.8, 1.0]])
    clip = -torch.ones(1, len(corners), 1, size, size)
    for f, (y, x) in enumerate(corners):
        clip[0, f, 0, y:y + 4, x:x + 3] = shape
    return clip


def _blob_clip(frames: int, step: tuple[int, int], size: int = 24) -> torch.Tensor:
    """The blob at (2, 1) + f * step in frame f: (1, frames, 1, S, S)."""
    return _blob_at([(2 + f * step[0], 1 + f * step[1]) for f in range(frames)], size)


def test_phase_correlation_finds_a_shift_made_by_hand() -> None:
    clip = _blob_clip(4, (2, 3))
    assert translation(clip[:, 0], clip[:, 1]).tolist() == [[2, 3]]
    assert translation(clip[:, 2], clip[:, 0]).tolist() == [[-4, -6]]
    noise = torch.randn(2, 3, 12, 10)
    assert translation(noise, noise.roll((-4, 3), dims=(2, 3))).tolist() == [[-4, 3]] * 2


def test_translate_moves_pixels_and_fills_with_the_border_mean() -> None:
    frame = torch.arange(9.0).view(1, 1, 3, 3)                   # border: 0 1 2 5 8 7 6 3 -> mean 4
    out = translate(frame, torch.tensor([[1, -1]]))
    assert out[0, 0].tolist() == [[4.0, 4.0, 4.0], [1.0, 2.0, 4.0], [4.0, 5.0, 4.0]]


def test_a_blob_in_uniform_motion_gets_its_true_frames_as_reference() -> None:
    clip = _blob_clip(6, (2, 1))
    first = torch.tensor([[True, True, True, False, False, False]])
    torch.testing.assert_close(motion_reference(clip, first), clip)              # continuation: frames 3-5 exact
    ends = torch.tensor([[True, False, False, False, True, False]])
    torch.testing.assert_close(motion_reference(clip, ends), clip)               # infilling and beyond: exact
    one = motion_reference(clip, torch.tensor([[False, True, False, False, False, False]]))
    torch.testing.assert_close(one, clip[:, 1:2].expand_as(clip))              # one given frame: not moved
    assert not motion_reference(clip, torch.zeros(1, 6, dtype=torch.bool)).any()


def test_the_content_box_and_a_bounce_off_each_wall_worked_by_hand() -> None:
    clip = _blob_clip(1, (0, 0))
    assert [v.tolist() for v in content_box(clip[:, 0])] == [[[2, 1]], [[5, 3]]]      # rows 2-5, columns 1-3
    blank = -torch.ones(1, 1, 24, 24)
    assert [v.tolist() for v in content_box(blank)] == [[[0, 0]], [[23, 23]]]
    torch.testing.assert_close(bounced(torch.tensor([[5.0, -7.0]]), blank), torch.tensor([[5.0, -7.0]]))
    # free room 20 rows, 21 columns: row 2 - 3 = -1 reflects to 1; column 1 + 26 = 27 reflects to 42 - 27 = 15
    torch.testing.assert_close(bounced(torch.tensor([[-3.0, 26.0]]), clip[:, 0]), torch.tensor([[-1.0, 14.0]]))


def test_a_bouncing_blob_gets_its_true_frames_with_bounce_only() -> None:
    """Frames 0-3 given; columns 1, 6, 11, 16, then 21 and 26 -> 42 - 26 = 16 (3 wide: 21 columns of room); rows
    8, 6, 4, 2, then 0 and -2 -> 2 (4 high: 20 rows of room)."""
    clip = _blob_at([(8, 1), (6, 6), (4, 11), (2, 16), (0, 21), (2, 16)])
    first = torch.tensor([[True, True, True, True, False, False]])
    torch.testing.assert_close(motion_reference(clip, first, bounce=True), clip)
    plain = motion_reference(clip, first)                     # without bounce the blob leaves the frame
    assert not torch.allclose(plain[:, 5], clip[:, 5])


def _cfg() -> VideoNetConfig:
    return VideoNetConfig(channels=(8, 16), attention_levels=(1,), heads=2, groups=4)


def test_the_network_feeds_the_moved_frames_as_its_reference() -> None:
    with pytest.raises(ConfigError, match="needs video.reference = true"):
        FrameMaskedNet(_cfg(), shape=(4, 1, 8, 8), mask_channel=True, motion=True)
    torch.manual_seed(0)
    net = FrameMaskedNet(_cfg(), shape=(4, 1, 8, 8), mask_channel=True, reference=True, motion=True).eval()
    x, t = torch.randn(2, 4, 1, 8, 8), torch.tensor([900, 900])
    mask = torch.tensor([[True, False, False, False]] * 2)
    with pytest.raises(ModelInputError, match="pass moved="):
        net(x, t, x, mask)
    moved = torch.randn(2, 4, 1, 8, 8)
    with torch.no_grad():
        a, b = net(x, t, x, mask, moved=moved), net(x, t, x, mask, moved=moved + 1)
        assert not torch.allclose(a[:, 2], b[:, 2])                              # a fresh net sees it per frame
        free = net(x, t, x, torch.zeros_like(mask), moved=moved)
        torch.testing.assert_close(free, net(x, t))                              # no given frame: no reference


def test_a_motion_run_trains_and_continues_clips() -> None:
    cfg = VDMConfig(model=_cfg())
    cfg.video.reference, cfg.video.motion, cfg.diffusion.sample_steps = True, True, 2
    family = VideoDiffusionFamily(cfg, data=DataInfo(kind="video", shape=(4, 1, 8, 8)),
                                  train=TrainConfig(precision="fp32"))
    models = family.build_models()
    x = torch.rand(4, 4, 1, 8, 8) * 2 - 1
    rng = BatchRandom(torch.Generator().manual_seed(0), global_size=4, start=0, size=4)
    loss, _ = family.loss("train", models, Batch(x=x, y=None, rng=rng))
    assert loss.isfinite()
    context = x[:2, :2]
    clips = family.sample(models, 2, generator=torch.Generator().manual_seed(0), context=context, frames=6,
                          guidance=2.0)
    assert clips.shape == (2, 6, 1, 8, 8) and torch.equal(clips[:, :2], context)


def test_the_aligned_reference_moves_the_given_frame_onto_the_estimate() -> None:
    clip = _blob_clip(6, (2, 1))
    first = torch.tensor([[True, True, False, False, False, False]])
    torch.testing.assert_close(aligned_reference(clip, first, clip), clip)          # estimate in place: exact
    bounced = clip.clone()
    bounced[:, 4:] = clip[:, 2:4]                                                    # the digit came back
    torch.testing.assert_close(aligned_reference(clip, first, bounced)[:, 4:], clip[:, 2:4])
    flat = aligned_reference(clip, first, -torch.ones_like(clip))                   # nothing to align to: unmoved
    torch.testing.assert_close(flat[:, 2:], clip[:, 1:2].expand(-1, 4, -1, -1, -1))


def _motion_family(prediction: str = "eps") -> VideoDiffusionFamily:
    cfg = VDMConfig(model=_cfg())
    cfg.video.reference, cfg.video.motion, cfg.diffusion.sample_steps = True, True, 2
    cfg.diffusion.prediction = prediction  # type: ignore[assignment]
    return VideoDiffusionFamily(cfg, data=DataInfo(kind="video", shape=(6, 1, 24, 24)),
                                train=TrainConfig(precision="fp32"))


def test_self_aligned_sampling_hands_the_next_step_the_shape_where_x0_has_it() -> None:
    """A network whose x0 is always the true clip: after one call the reference is the true clip's frames."""
    family = _motion_family(prediction="x0")
    clip = _blob_clip(6, (2, 1))

    class Truth(torch.nn.Module):
        mask_channel = True

        def __init__(self) -> None:
            super().__init__()
            self.unused = torch.nn.Parameter(torch.zeros(1))

        def forward(self, x, t, known=None, mask=None, still=None, *, moved=None):
            return clip.expand_as(x)

    given = torch.tensor([[True, True, False, False, False, False]])
    pixels = torch.where(given[:, :, None, None, None], clip, torch.zeros_like(clip))
    models = {"model": Truth()}
    wrapped = conditioned_models(family, models, pixels, given, method="mask", weight=4.0, guidance=3.0,
                                 moved=torch.zeros_like(clip), realign=pixels)["model"]
    assert isinstance(wrapped, SelfAligned)
    wrapped(torch.randn_like(clip), torch.tensor([700]))
    torch.testing.assert_close(wrapped.inner.moved, clip)


def test_realign_needs_a_motion_run_and_the_mask_method() -> None:
    cfg = VDMConfig(model=_cfg())
    plain = VideoDiffusionFamily(cfg, data=DataInfo(kind="video", shape=(4, 1, 8, 8)),
                                 train=TrainConfig(precision="fp32"))
    context = torch.zeros(1, 2, 1, 8, 8)
    with pytest.raises(ModelInputError, match="trained with video.motion") as err:
        plain.sample(plain.build_models(), 1, generator=torch.Generator(), context=context, realign=True)
    assert "\n" not in str(err.value)
    family = _motion_family()
    models = family.build_models()
    with pytest.raises(ModelInputError, match="by the method 'mask'"):
        family.sample(models, 1, generator=torch.Generator(), context=torch.zeros(1, 2, 1, 24, 24),
                      method="reconstruction", realign=True)
    with pytest.raises(ModelInputError, match="--realign acts on the given frames of a video run: give --context"):
        family.sample(models, 1, generator=torch.Generator(), realign=True)
    family.config.video.realign = True                           # the run's default leaves unconditional clips be
    assert family.sample(models, 1, generator=torch.Generator()).shape == (1, 6, 1, 24, 24)
    family.config.video.realign = False
    context = _blob_clip(2, (2, 1))
    clips = family.sample(models, 1, generator=torch.Generator().manual_seed(0), context=context, realign=True)
    assert torch.equal(clips[:, :2], context) and not torch.equal(
        clips, family.sample(models, 1, generator=torch.Generator().manual_seed(0), context=context))


def test_align_prob_trains_on_the_given_frame_aligned_on_the_true_frames() -> None:
    """A clip whose blob stops: the extrapolated reference runs on, the aligned one is the true clip."""
    with pytest.raises(ConfigError, match="needs video.motion = true"):
        cfg = VDMConfig(model=_cfg())
        cfg.video.align_prob = 0.5
        VideoDiffusionFamily(cfg, data=DataInfo(kind="video", shape=(6, 1, 24, 24)), train=TrainConfig())
    family = _motion_family()
    family.config.video.align_prob = 1.0
    clip = _blob_at([(2, 1), (4, 3), (6, 5), (6, 5), (6, 5), (6, 5)])
    given = torch.tensor([[True, True, False, False, False, False]])
    models = family.build_models()
    torch.testing.assert_close(family.moved_reference(models, clip, given, torch.tensor([True])), clip)
    assert not torch.allclose(family.moved_reference(models, clip, given)[:, 3], clip[:, 3])
    seen: list[torch.Tensor] = []
    net = models["model"]

    class Spy(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, *args, moved=None, **kwargs):
            seen.append(moved)
            return self.net(*args, moved=moved, **kwargs)

    family.config.video.mask_prob = 1.0
    x = clip.expand(4, -1, -1, -1, -1).clone()
    rng = BatchRandom(torch.Generator().manual_seed(0), global_size=4, start=0, size=4)
    loss, _ = family.loss("train", {**models, "model": Spy()}, Batch(x=x, y=None, rng=rng))
    assert loss.isfinite()
    torch.testing.assert_close(seen[0], x)                  # every row has given frames; each reference is exact
