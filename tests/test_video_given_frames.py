"""Two more paths for the given frames of a vdm run: video.reference (every frame is fed the nearest given frame and
its time offset, as MCVD concatenates its conditioning frames, Voleti et al. 2022), checked against tables written
by hand; video.content (a code of what the given frames show, pooled over positions and frames), checked for its
shift invariance, its mean over the given frames only, and for reaching every frame."""
from __future__ import annotations

import pytest
import torch

from genlab.errors import ConfigError
from genlab.video.config import VideoNetConfig
from genlab.video.network import FrameMaskedNet, nearest_given

SHAPE = (5, 1, 8, 8)


@pytest.fixture(autouse=True)
def _threads(one_thread):
    yield


def test_nearest_given_frame_and_offset_by_hand() -> None:
    mask = torch.tensor([[1, 1, 0, 0, 0],        # continuation: frames 2-4 take frame 1
                         [0, 0, 1, 0, 1],        # infilling: frame 3 is 1 from both 2 and 4 -> the earlier, 2
                         [0, 0, 0, 0, 0]], dtype=torch.bool)   # nothing given: zeros
    known = (10 * torch.arange(3)[:, None] + torch.arange(5)[None, :]).float()   # row r, frame f holds 10 r + f
    known = known[:, :, None, None, None].expand(3, 5, 2, 3, 3)
    frame, offset = nearest_given(known, mask)
    assert frame[:, :, 0, 0, 0].tolist() == [[0, 1, 1, 1, 1], [12, 12, 12, 12, 14], [0, 0, 0, 0, 0]]
    assert torch.equal(frame, frame[:, :, :1, :1, :1].expand_as(frame))      # whole frames are copied
    assert (offset * 5).round().tolist() == [[0, 0, 1, 2, 3], [-2, -1, 0, 1, 0], [0, 0, 0, 0, 0]]


def _net(reference: bool) -> FrameMaskedNet:
    torch.manual_seed(0)
    cfg = VideoNetConfig(channels=(8, 16), attention_levels=(1,), temporal_conv=True, heads=2, groups=4)
    return FrameMaskedNet(cfg, shape=SHAPE, mask_channel=True, reference=reference).eval()


def test_a_fresh_network_sees_the_given_frame_only_through_the_reference() -> None:
    """A fresh space-time U-Net is a per-frame image model (the temporal layers start at zero): changing the given
    frame 1 moves frame 3's output only when the reference channels carry frame 1 to it."""
    x = torch.randn(2, *SHAPE)
    y = x.clone()
    y[:, 1] += 1.0
    mask = torch.tensor([[True, True, False, False, False]] * 2)
    t = torch.tensor([900, 900])
    with torch.no_grad():
        for reference, moves in ((False, False), (True, True)):
            net = _net(reference)
            a, b = net(x, t, x, mask), net(y, t, y, mask)
            assert torch.allclose(a[:, 2:], b[:, 2:]) != moves           # frames 2-4 are not given
            assert not torch.allclose(a[:, 1], b[:, 1])                  # the given frame itself always moves


def test_a_reference_needs_frame_masks_and_leaves_old_layouts_alone() -> None:
    cfg = VideoNetConfig(channels=(8, 16), attention_levels=(1,), heads=2, groups=4)
    with pytest.raises(ConfigError, match="mask_prob > 0"):
        FrameMaskedNet(cfg, shape=SHAPE, mask_channel=False, reference=True)
    plain, with_reference = _net(False), _net(True)
    assert plain.unet.conv_in.weight.shape[1] == 1 + 1                          # x_t and the mask plane
    assert with_reference.unet.conv_in.weight.shape[1] == 1 + 1 + 1 + 1         # + the reference frame and its offset


def _content_encoder():
    from genlab.nn.content_encoder import ContentEncoder

    torch.manual_seed(0)
    enc = ContentEncoder(1, 16, width=8)
    torch.nn.init.normal_(enc.mlp[2].weight, std=0.5)                  # starts at zero: wake it
    return enc.eval()


def test_the_content_code_pools_out_where_the_digit_is() -> None:
    """Convolutions with zero background are shift-equivariant and the two stride-2 ones shrink a shift by 4:
    a blob moved by (8, 4) px, far from the border, gets the same code; another shape does not."""
    enc = _content_encoder()
    frame = torch.zeros(1, 1, 1, 32, 32)
    frame[..., 8:14, 8:12] = torch.rand(6, 4, generator=torch.Generator().manual_seed(1))
    moved = frame.roll((8, 4), dims=(3, 4))
    other = frame.transpose(3, 4)
    given = torch.ones(1, 1, dtype=torch.bool)
    with torch.no_grad():
        code, code_moved, code_other = enc(frame, given), enc(moved, given), enc(other, given)
    assert (code - code_moved).abs().max() < 1e-5
    assert (code - code_other).abs().max() > 1e-4                     # small: the background fills most positions


def test_the_content_code_averages_the_given_frames_only() -> None:
    enc = _content_encoder()
    a, b = torch.randn(2, 1, 1, 16, 16).unbind(0)
    clips = torch.stack([torch.cat([a, b, torch.randn_like(a)]),      # a, b given; the third frame is not
                         torch.cat([b, torch.randn_like(a), a]),      # the same two, in another order and place
                         torch.cat([a, a, b]),                        # a twice: a mean, not a sum
                         torch.cat([a, b, a])])
    given = torch.tensor([[1, 1, 0], [1, 0, 1], [1, 1, 0], [0, 0, 0]], dtype=torch.bool)
    with torch.no_grad():
        code = enc(clips, given)
        alone = enc(clips[2:3, :1], torch.ones(1, 1, dtype=torch.bool))
    assert torch.allclose(code[0], code[1], atol=1e-6)
    assert torch.allclose(code[2], alone[0], atol=1e-6)
    assert torch.equal(code[3], torch.zeros_like(code[3]))            # nothing given: no code
    assert not torch.allclose(code[0], code[2], atol=1e-4)


def test_the_content_code_reaches_every_frame_and_a_fresh_one_changes_nothing() -> None:
    x = torch.randn(2, *SHAPE)
    y = x.clone()
    y[:, 1] += 1.0
    mask = torch.tensor([[True, True, False, False, False]] * 2)
    t = torch.tensor([900, 900])
    cfg = VideoNetConfig(channels=(8, 16), attention_levels=(1,), temporal_conv=True, heads=2, groups=4)
    torch.manual_seed(0)
    net = FrameMaskedNet(cfg, shape=SHAPE, mask_channel=True, content=True).eval()
    torch.manual_seed(0)
    plain = FrameMaskedNet(cfg, shape=SHAPE, mask_channel=True).eval()
    with torch.no_grad():
        assert torch.allclose(net(x, t, x, mask), plain(x, t, x, mask))    # the code's last layer starts at zero
        assert torch.allclose(net(x, t, x, mask)[:, 2:], net(y, t, y, mask)[:, 2:])
        torch.nn.init.normal_(net.content.mlp[2].weight, std=0.5)
        assert not torch.allclose(net(x, t, x, mask)[:, 2:], net(y, t, y, mask)[:, 2:])
    with pytest.raises(ConfigError, match="video.content needs frame masks"):
        FrameMaskedNet(cfg, shape=SHAPE, mask_channel=False, content=True)
