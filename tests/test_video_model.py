"""The space-time U-Net (still images independent across frames, relative-position bias), the vdm family's batches,
continuation (context kept exact, reconstruction guidance in closed form) and its bad inputs."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from genlab.config import TrainConfig
from genlab.errors import ConfigError, ModelInputError
from genlab.nn.temporal_attention import TemporalAttention
from genlab.nn.temporal_conv import TemporalConv
from genlab.nn.video_unet import VideoUNet
from genlab.training.objective import BatchRandom, DataInfo
from genlab.video.config import VDMConfig, VideoNetConfig
from genlab.video.continuation import ReconstructionGuided, check_context
from genlab.video.family import VideoDiffusionFamily
from genlab.video.training_masks import frame_masks, still_rows

SHAPE = (4, 1, 8, 8)


@pytest.fixture(autouse=True)
def _threads(one_thread):
    yield


def _wake(net: VideoUNet) -> VideoUNet:
    """The temporal output projections and convolutions start at zero: give them random weights."""
    for m in net.modules():
        if isinstance(m, TemporalAttention):
            nn.init.normal_(m.proj.weight, std=0.3)
            nn.init.normal_(m.relative_bias, std=1.0)
        if isinstance(m, TemporalConv):
            nn.init.normal_(m.conv.weight, std=0.3)
    return net.eval()


def _unet(**options) -> VideoUNet:
    torch.manual_seed(0)
    options = {"attention_levels": (1,), "temporal_conv": True, "max_frames": 6, **options}
    return _wake(VideoUNet(in_channels=1, channels=(8, 16), heads=2, groups=4, **options))


def test_unet_maps_clips_to_clips() -> None:
    net = _unet()
    assert net(torch.randn(3, 5, 1, 12, 12), torch.tensor([0, 10, 999])).shape == (3, 5, 1, 12, 12)
    with pytest.raises(ModelInputError, match="at most 6"):
        net(torch.randn(1, 7, 1, 8, 8), 0)


@pytest.mark.parametrize("attention", ["axial", "full"])
def test_still_images_are_independent_across_frames(attention: str) -> None:
    net = _unet(temporal_attention=attention, frame_size=(8, 8))
    x = torch.randn(2, 4, 1, 8, 8)
    y = x.clone()
    y[:, 0] += 1.0                                              # change frame 0 of both rows
    still = torch.tensor([True, False])
    with torch.no_grad():
        a, b = net(x, 5, still=still), net(y, 5, still=still)
    torch.testing.assert_close(a[0, 1:], b[0, 1:], rtol=0, atol=1e-6)      # a still row: other frames unmoved
    assert (a[1, 1:] - b[1, 1:]).abs().max() > 1e-3                         # a video row: frames see each other
    with torch.no_grad():                                       # and a still row is its frames run one by one
        alone = torch.cat([net(x[:1, f:f + 1], 5, still=torch.tensor([True])) for f in range(4)], dim=1)
    torch.testing.assert_close(a[:1], alone, rtol=0, atol=1e-5)


def _first_block_output(net: VideoUNet, x: torch.Tensor, still: torch.Tensor) -> torch.Tensor:
    """The output of the first down block (full resolution), as (B, T, C, H, W)."""
    seen = []
    handle = net.down[0].register_forward_hook(lambda module, args, out: seen.append(out))
    with torch.no_grad():
        net(x, 5, still=still)
    handle.remove()
    return seen[0].view(*x.shape[:2], *seen[0].shape[1:])


@pytest.mark.parametrize("levels, reaches", [((0, 1), True), ((1,), False), (None, False)])
def test_temporal_attention_at_full_resolution_mixes_frame_0_into_frame_7(levels, reaches) -> None:
    """With temporal attention at every level, frame 7's 32x32 features already depend on frame 0 (in a video
    row, never in a still row); with it at 16x16 only (and no temporal convolution) they do not."""
    net = _unet(temporal_levels=levels, temporal_conv=False, max_frames=8)
    x = torch.randn(2, 8, 1, 32, 32)
    y = x.clone()
    y[:, 0] += 1.0
    still = torch.tensor([False, True])
    a, b = _first_block_output(net, x, still), _first_block_output(net, y, still)
    assert a.shape[-2:] == (32, 32)
    moved = (a[0, 7] - b[0, 7]).abs().max().item()
    assert (moved > 1e-3) if reaches else (moved == 0.0)
    torch.testing.assert_close(a[1, 1:], b[1, 1:], rtol=0, atol=0)          # a still row: no frame meets another


def test_temporal_conv_is_the_identity_at_init_and_a_convolution_over_time() -> None:
    torch.manual_seed(0)
    conv = TemporalConv(4, groups=2)
    h = torch.randn(2 * 5, 4, 3, 3)                             # 2 clips of 5 frames
    assert torch.equal(conv(h, 5), h)                            # zero-initialised: a fresh block changes nothing
    with torch.no_grad():                                        # kernel = (previous frame, 0, 0): a shift in time
        conv.conv.weight.zero_()
        conv.conv.weight[:, :, 0, 0, 0].copy_(torch.eye(4))
        conv.conv.bias.fill_(0.5)
    a = torch.nn.functional.silu(conv.norm(h)).view(2, 5, 4, 3, 3)
    shifted = torch.cat([torch.zeros_like(a[:, :1]), a[:, :-1]], dim=1) + 0.5   # frame f gets a[f - 1], 0 before 0
    out = conv(h, 5, torch.tensor([False, True]))
    torch.testing.assert_close(out.view(2, 5, 4, 3, 3)[0], h.view(2, 5, 4, 3, 3)[0] + shifted[0])
    assert torch.equal(out.view(2, 5, 4, 3, 3)[1], h.view(2, 5, 4, 3, 3)[1])   # a still row is left as it is
    with pytest.raises(ModelInputError, match="still must be"):
        conv(h, 5, torch.tensor([True]))


def test_a_fresh_space_time_unet_is_a_per_frame_image_model() -> None:
    """Temporal attention projections and temporal convolutions start at zero (Ho et al. 2022: the network can
    start from an image model): a fresh network maps each frame as if it were alone."""
    torch.manual_seed(0)
    net = VideoUNet(in_channels=1, channels=(8, 16), attention_levels=(1,), temporal_conv=True, heads=2, groups=4,
                    max_frames=4).eval()
    x = torch.randn(2, 4, 1, 8, 8)
    with torch.no_grad():
        whole = net(x, 7)
        alone = torch.cat([net(x[:, f:f + 1], 7) for f in range(4)], dim=1)
    torch.testing.assert_close(whole, alone, rtol=0, atol=1e-5)


def test_temporal_levels_must_index_channels() -> None:
    with pytest.raises(ConfigError, match=r"temporal_levels=\(3,\) must index channels \(0..1\)"):
        VideoUNet(channels=(8, 16), groups=4, temporal_levels=(3,))


def test_relative_position_bias_depends_on_frame_distance_only() -> None:
    attn = TemporalAttention(4, heads=2, groups=1, max_frames=3)
    with torch.no_grad():
        attn.relative_bias.copy_(torch.tensor([[1.0, 2.0, 3.0, 4.0, 5.0], [-1.0, -2.0, -3.0, -4.0, -5.0]]))
    bias = attn.bias(3)
    # bias[h, i, j] = table[h, i - j + 2]
    assert bias[0].tolist() == [[3.0, 2.0, 1.0], [4.0, 3.0, 2.0], [5.0, 4.0, 3.0]]
    assert bias[1, 2, 0].item() == -5.0
    # with q = k = 0 the attention weights are softmax(bias) and v = h: out = h + proj(softmax(bias) h)
    with torch.no_grad():
        attn.qkv.weight.zero_()
        attn.qkv.bias.zero_()
        attn.qkv.weight[8:].copy_(torch.eye(4))                # v = normed h
        attn.proj.weight.copy_(torch.eye(4))
    h = torch.randn(3, 4, 1, 1)                                 # one clip of 3 frames, 1x1 pixels
    normed = attn.norm(h)[:, :, 0, 0]                           # (T, C)
    weights = torch.softmax(bias, dim=-1)                       # (heads, T, T)
    expect = torch.cat([weights[k] @ normed[:, 2 * k:2 * k + 2] for k in range(2)], dim=1)
    torch.testing.assert_close(attn(h, 3)[:, :, 0, 0], h[:, :, 0, 0] + expect, rtol=1e-5, atol=1e-5)


def test_full_space_time_attention_in_closed_form() -> None:
    """With q = k = 0, token i = (f, y, x) attends to every token j of its clip with weight softmax_j(B[i, j]),
    B[i, j] = relative_bias[fi - fj] + displacement_bias[fi - fj, yi - yj, xi - xj] (tables read here by hand);
    a still row's token attends to its own frame's tokens only."""
    torch.manual_seed(0)
    frames, hh, ww = 3, 2, 3
    attn = TemporalAttention(4, heads=2, groups=1, max_frames=frames, full_size=(hh, ww))
    with torch.no_grad():
        nn.init.normal_(attn.relative_bias, std=1.0)
        nn.init.normal_(attn.displacement_bias, std=1.0)
        attn.qkv.weight.zero_()
        attn.qkv.bias.zero_()
        attn.qkv.weight[8:].copy_(torch.eye(4))                # v = normed h
        attn.proj.weight.copy_(torch.eye(4))
    h = torch.randn(2 * frames, 4, hh, ww)                      # 2 clips of 3 frames
    v = attn.norm(h).view(2, frames, 4, hh * ww).permute(0, 1, 3, 2).reshape(2, -1, 4)   # (clip, token, C)
    tokens = [(f, y, x) for f in range(frames) for y in range(hh) for x in range(ww)]
    expect = torch.zeros(2, len(tokens), 4)
    for head in range(2):
        rel, disp = attn.relative_bias[head].detach(), attn.displacement_bias[head].detach()
        table = torch.tensor([[float(rel[fi - fj + frames - 1] + disp[fi - fj + frames - 1, yi - yj + hh - 1,
                                                                      xi - xj + ww - 1])
                               for (fj, yj, xj) in tokens] for (fi, yi, xi) in tokens])
        same = torch.tensor([[fi == fj for (fj, _, _) in tokens] for (fi, _, _) in tokens])
        cols = slice(2 * head, 2 * head + 2)
        expect[0, :, cols] = torch.softmax(table, dim=1) @ v[0, :, cols]
        expect[1, :, cols] = torch.softmax(table.masked_fill(~same, float("-inf")), dim=1) @ v[1, :, cols]
    out = attn(h, frames, torch.tensor([False, True]))
    got = out.view(2, frames, 4, hh * ww).permute(0, 1, 3, 2).reshape(2, -1, 4)
    base = h.view(2, frames, 4, hh * ww).permute(0, 1, 3, 2).reshape(2, -1, 4)
    torch.testing.assert_close(got, base + expect, rtol=1e-5, atol=1e-5)
    with pytest.raises(ModelInputError, match="built for at most 2x3"):
        attn(torch.randn(frames, 4, 3, 3), frames)
    with torch.no_grad():                                       # zero displacement bias, 1x1 frames: the axial one
        attn.displacement_bias.zero_()
        nn.init.normal_(attn.qkv.weight)
        axial = TemporalAttention(4, heads=2, groups=1, max_frames=frames)
        axial.load_state_dict({k: w for k, w in attn.state_dict().items() if k != "displacement_bias"})
        pixels = torch.randn(6, 4, 1, 1)
        torch.testing.assert_close(attn(pixels, frames), axial(pixels, frames))


def test_unknown_or_oversized_full_attention_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="temporal_attention = 'global'; expected one of: axial, full"):
        VideoUNet(channels=(8, 16), groups=4, temporal_attention="global")
    with pytest.raises(ConfigError, match=r"level 0 \(32x32\) would attend over 8 x 1024 = 8,192 positions"):
        VideoUNet(channels=(8, 16), groups=4, temporal_levels=(0, 1), temporal_attention="full", max_frames=8,
                  frame_size=(32, 32))
    VideoUNet(channels=(8, 16), groups=4, temporal_levels=(1,), temporal_attention="full", max_frames=8,
              frame_size=(32, 32))                                 # 16x16 and the middle: 2,048 positions


def _rng(b: int, seed: int = 0) -> BatchRandom:
    return BatchRandom(torch.Generator().manual_seed(seed), global_size=b, start=0, size=b)


def test_still_rows_take_independent_frames_of_the_batch() -> None:
    x0 = torch.arange(6 * 4, dtype=torch.float32).view(6, 4, 1, 1, 1)   # every frame of the batch distinct
    same, none = still_rows(x0, _rng(6), 0.0)
    assert torch.equal(same, x0) and not none.any()
    mixed, still = still_rows(x0, _rng(6), 0.9999)
    assert still.all() and set(mixed.flatten().tolist()) <= set(x0.flatten().tolist())
    assert not torch.equal(mixed, x0)


def test_frame_masks_give_1_to_t_minus_1_frames_and_none_to_still_rows() -> None:
    still = torch.tensor([False] * 30 + [True] * 10)
    given = frame_masks(_rng(40), 6, 1.0, still=still)
    counts = given.sum(dim=1)
    assert bool(((counts >= 1) & (counts <= 5))[:30].all()) and not given[30:].any()
    assert not frame_masks(_rng(40), 6, 0.0, still=still).any()


def _family(mask_prob: float = 0.5, prediction: str = "eps") -> VideoDiffusionFamily:
    cfg = VDMConfig(model=VideoNetConfig(channels=(8, 16), attention_levels=(1,), heads=2, groups=4))
    cfg.video.mask_prob = mask_prob
    cfg.diffusion.prediction = prediction  # type: ignore[assignment]
    cfg.diffusion.sample_steps = 2
    return VideoDiffusionFamily(cfg, data=DataInfo(kind="video", shape=SHAPE), train=TrainConfig(precision="fp32"))


def test_vdm_refuses_image_data() -> None:
    with pytest.raises(ConfigError, match="trains on videos"):
        VideoDiffusionFamily(VDMConfig(), data=DataInfo(kind="image", shape=(1, 8, 8)), train=TrainConfig())


@pytest.mark.parametrize("sampler", ["ddim", "ancestral", "heun", "dpmpp_2m"])
def test_registry_samplers_draw_clips(sampler: str) -> None:
    family = _family()
    torch.manual_seed(0)
    models = family.build_models()
    x = family.sample(models, 2, generator=torch.Generator().manual_seed(0), sampler=sampler, steps=2)
    assert x.shape == (2, *SHAPE) and bool(x.isfinite().all()) and x.abs().max() <= 1


@pytest.mark.parametrize("method", ["mask", "reconstruction"])
def test_continuation_keeps_the_context_exact_and_extends(method: str) -> None:
    family = _family()
    torch.manual_seed(0)
    models = family.build_models()
    context = torch.rand(2, 3, 1, 8, 8) * 2 - 1
    x = family.sample(models, 2, generator=torch.Generator().manual_seed(0), context=context, frames=9,
                      method=method)
    assert x.shape == (2, 9, 1, 8, 8) and torch.equal(x[:, :3], context)


def test_reconstruction_guidance_matches_eq_7_on_a_linear_model() -> None:
    """x0(z) = mean over frames of z (the same on every frame): the guided x0 of a free frame is
    x0 - (w alpha / 2) * d/dz_f sum_g in given (a_g - x0)^2 = x0 + w alpha (1 / T) sum_g (a_g - x0)."""
    family = _family(mask_prob=0.0, prediction="x0")

    class Mean(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.unused = nn.Parameter(torch.zeros(1))

        def forward(self, x, t, known=None, mask=None, still=None):
            return x.mean(dim=1, keepdim=True).expand_as(x)

    z = torch.randn(1, *SHAPE)
    known = torch.randn(1, *SHAPE)
    given = torch.tensor([[True, True, False, False]])
    t = torch.tensor([500])
    guided = ReconstructionGuided(family, Mean(), known, given, weight=3.0)(z, t)
    alpha = float(family.schedule.alphas_cumprod[500]) ** 0.5
    x0 = z.mean(dim=1)
    expect = x0 + 3.0 * alpha * ((known[:, 0] - x0) + (known[:, 1] - x0)) / 4
    torch.testing.assert_close(guided[:, 2], expect, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(guided[:, :2], known[:, :2])


@pytest.mark.parametrize("context, words", [
    (torch.zeros(1, 4, 1, 8, 8), "does not fit the model's window of 4 frames"),
    (torch.zeros(1, 2, 1, 9, 8), r"context frames of shape \(1, 9, 8\)"),
    (torch.zeros(3, 2, 1, 8, 8), "expected 1 or one per sample"),
    (torch.zeros(1, 2, 1, 8, 8, dtype=torch.uint8), "must be float clips"),
])
def test_bad_contexts_are_one_line_errors(context: torch.Tensor, words: str) -> None:
    with pytest.raises(ModelInputError, match=words) as err:
        check_context(context, shape=SHAPE, n=2)
    assert "\n" not in str(err.value)


def test_mask_method_needs_a_run_trained_with_masks() -> None:
    family = _family(mask_prob=0.0)
    models = family.build_models()
    with pytest.raises(ModelInputError, match="trained without frame masks"):
        family.sample(models, 1, generator=torch.Generator(), context=torch.zeros(1, 2, 1, 8, 8), method="mask")
    with pytest.raises(ModelInputError, match="shorter than the context"):
        family.sample(models, 1, generator=torch.Generator(), context=torch.zeros(1, 2, 1, 8, 8), frames=1)


def test_the_loss_ignores_given_frames() -> None:
    """d loss / d output is zero exactly on the given frames, whose share the loss logs."""
    from genlab.training.objective import Batch

    family = _family(mask_prob=1.0)

    class Fixed(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.out = nn.Parameter(torch.randn(16, *SHAPE))

        def forward(self, x, t, known=None, mask=None, still=None):
            return self.out + 0 * x

    net = Fixed()
    batch = Batch(x=torch.rand(16, *SHAPE) * 2 - 1, y=None, rng=_rng(16, seed=3))
    loss, logs = family.loss("denoise", {"model": net}, batch)
    loss.backward()
    assert net.out.grad is not None
    zero = (net.out.grad.flatten(2).abs().amax(dim=2) == 0)                   # (B, T): frames without gradient
    assert 0 < zero.float().mean().item() < 1
    assert zero.float().mean().item() == pytest.approx(logs["given_frames"])


def test_given_frames_can_be_embedded_at_step_0() -> None:
    """With video.given_at_zero a given frame sees the embedding of step 0: its output is the one it has when the
    whole clip is at step 0 (the temporal layers woken, so frames do mix), while a frame not given keeps step t."""
    from genlab.video.network import FrameMaskedNet

    torch.manual_seed(0)
    cfg = VideoNetConfig(channels=(8, 16), attention_levels=(1,), temporal_conv=True, heads=2, groups=4)
    net = FrameMaskedNet(cfg, shape=SHAPE, mask_channel=True, given_at_zero=True)
    _wake(net.unet)
    x = torch.randn(2, *SHAPE)
    mask = torch.tensor([[True, True, False, False], [False] * 4])
    t = torch.tensor([700, 300])
    with torch.no_grad():
        per_frame = net(x, t, x, mask)
        steps = torch.tensor([[0, 0, 700, 700], [300] * 4])
        assert torch.allclose(per_frame, net.unet(torch.cat([x, mask[:, :, None, None, None].float()
                                                              .expand(-1, -1, 1, 8, 8)], dim=2), steps))
        net.given_at_zero = False
        plain = net(x, t, x, mask)
    assert torch.allclose(per_frame[1], plain[1], atol=1e-6)        # nothing given: the clip's own step
    assert not torch.allclose(per_frame[0], plain[0])
    with pytest.raises(ModelInputError, match="per-frame t"):
        net.unet(torch.cat([x, x], dim=2), torch.zeros(2, 3))


def test_a_config_without_the_temporal_keys_builds_the_layout_of_runs_made_before_them() -> None:
    """A config.json of an older vdm run has no temporal_levels / temporal_conv: its checkpoint must still fit."""
    from genlab.video.network import FrameMaskedNet

    cfg = VideoNetConfig(channels=(8, 16), attention_levels=(1,), groups=4, heads=2)
    legacy = VideoUNet(in_channels=2, out_channels=1, channels=(8, 16), attention_levels=(1,), temporal_levels=(1,),
                       temporal_conv=False, heads=2, groups=4, max_frames=4)
    net = FrameMaskedNet(cfg, shape=SHAPE, mask_channel=True)
    assert net.unet.state_dict().keys() == legacy.state_dict().keys()
    assert not any(isinstance(m, TemporalConv) for m in net.modules())
    every = FrameMaskedNet(VideoNetConfig(channels=(8, 16), attention_levels=(1,), temporal_levels=(0, 1),
                                          groups=4, heads=2), shape=SHAPE, mask_channel=True)
    assert sum(isinstance(m, TemporalAttention) for m in every.modules()) > \
        sum(isinstance(m, TemporalAttention) for m in net.modules())


def _high_noise_share(family: VideoDiffusionFamily) -> float:
    """The share of the loss weight that falls on steps t >= T/2 when t is uniform."""
    w = family.loss_weight(torch.arange(family.schedule.T)).double()
    return float(w[family.schedule.T // 2:].sum() / w.sum())


def test_min_snr_with_v_starves_the_high_noise_half_in_closed_form() -> None:
    """min(snr, 5) / (snr + 1) on the linear schedule: 3.5% of the weight on t >= 500, 1/2 without weighting."""
    family = _family(prediction="v")
    family.config.diffusion.weighting = "min_snr"
    assert _high_noise_share(family) == pytest.approx(0.0349, abs=5e-4)
    family.config.diffusion.weighting = "none"
    assert _high_noise_share(family) == pytest.approx(0.5)


@pytest.mark.parametrize("name", ["vdm_moving_mnist.toml", "vdm_moving_mnist_video_only.toml",
                                  "vdm_moving_mnist_latent.toml", "vdm_moving_mnist_continue.toml"])
def test_shipped_vdm_configs_train_the_steps_where_continuations_use_the_context(name: str) -> None:
    """The given frames decide the unknown ones at high noise (docs/video.md: at min-SNR the runs ignored them)."""
    from pathlib import Path

    from genlab.config import load_toml

    raw = load_toml(Path(__file__).resolve().parents[1] / "configs" / name)
    family = _family(prediction=raw["diffusion"]["prediction"])
    family.config.diffusion.weighting = raw["diffusion"]["weighting"]
    assert _high_noise_share(family) >= 0.25
