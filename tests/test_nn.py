"""Networks: shapes, sizes, time embedding closed form, AdaGN, attention symmetry and masking, conditioning, bf16."""
from __future__ import annotations

import math

import pytest
import torch

from genlab.errors import ConfigError, ModelInputError
from genlab.nn import (AdaGroupNorm, CrossAttention2d, MLPDenoiser, SelfAttention2d, UNet, sinusoidal_embedding)
from genlab.nn.resample import Upsample

PEER_PARAMS = 1_062_497  # diffusers UNet2DModel((32, 64, 64), layers_per_block=1, mid attention), counted in its venv


pytestmark = pytest.mark.usefixtures("one_thread")


def small_unet(**kw) -> UNet:
    torch.manual_seed(0)
    return UNet(**{**dict(channels=(8, 16, 16), heads=2, groups=4), **kw})


@pytest.mark.parametrize("size", [28, 32, 8, 7])
def test_unet_output_shape(size):
    net = small_unet(in_channels=3, out_channels=2, attention_levels=(1,))
    out = net(torch.randn(2, 3, size, size), torch.tensor([0, 999]))
    assert out.shape == (2, 2, size, size)
    assert torch.isfinite(out).all()


def test_unet_non_square_and_scalar_t():
    net = small_unet()
    assert net(torch.randn(3, 1, 9, 14), 10).shape == (3, 1, 9, 14)


def test_mlp_output_shape():
    net = MLPDenoiser(dim=5, hidden=32, layers=3)
    assert net(torch.randn(4, 5), torch.tensor([1, 2, 3, 4])).shape == (4, 5)


@pytest.mark.parametrize("preset,time_embedding,expected", [("mnist-1m", "add", PEER_PARAMS),
                                                              ("mnist-1m", "scale_shift", None),
                                                              ("mnist-1m-efficient", "scale_shift", None)])
def test_preset_matches_peer_size(preset, time_embedding, expected):
    net = UNet.preset(preset, time_embedding=time_embedding)
    n = sum(p.numel() for p in net.parameters())
    assert abs(n - PEER_PARAMS) <= 0.10 * PEER_PARAMS
    if expected is not None:  # the same layers as the peer: equal counts
        assert n == expected
    # the peer's attention placement: one self-attention, in the middle, and none in the levels
    attention = [name for name, mod in net.named_modules() if isinstance(mod, SelfAttention2d)]
    assert attention == ["mid_attn"]


def _flops(fn) -> int:
    from torch.utils.flop_counter import FlopCounterMode
    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    return counter.get_total_flops()


def test_conv_first_upsample_is_a_quarter_of_the_flops_and_blockwise_constant():
    torch.manual_seed(0)
    x = torch.randn(2, 8, 7, 7)
    late, early = Upsample(8), Upsample(8, conv_first=True)
    early.load_state_dict(late.state_dict())   # the same weights in either order
    assert _flops(lambda: early(x, (14, 14))) * 4 == _flops(lambda: late(x, (14, 14)))
    out = early(x, (14, 14))
    for dy, dx in ((0, 1), (1, 0), (1, 1)):     # nearest resize after the convolution: constant 2x2 blocks
        torch.testing.assert_close(out[..., dy::2, dx::2], out[..., ::2, ::2])
    torch.testing.assert_close(out[..., ::2, ::2], early.conv(x))
    assert Upsample(8, 4, conv_first=True)(x, (13, 13)).shape == (2, 4, 13, 13)   # narrows, odd target size


@pytest.mark.parametrize("size", [(28, 28), (7, 7), (9, 14)])
def test_conv_resize_unet_shapes_and_fewer_flops(size):
    torch.manual_seed(0)
    net = small_unet(upsample="conv_resize", attention_levels=(1,))
    x, t = torch.randn(2, 1, *size), torch.tensor([3, 900])
    assert net(x, t).shape == (2, 1, *size)
    assert _flops(lambda: net(x, t)) < _flops(lambda: small_unet(attention_levels=(1,))(x, t))


def test_efficient_preset_halves_the_training_flops_of_the_peer_shape():
    x, t = torch.randn(2, 1, 28, 28), torch.tensor([1, 999])

    def train_flops(name: str) -> float:
        net = UNet.preset(name)
        return _flops(lambda: net(x, t).square().mean().backward()) / 2

    peer_shape, efficient = train_flops("mnist-1m"), train_flops("mnist-1m-efficient")
    assert 1.0e9 < peer_shape < 1.2e9      # the figure for the peer: about 1.12 GFLOP per image and step
    assert efficient < 0.6 * peer_shape


def test_sinusoidal_embedding_closed_form():
    t = torch.tensor([0, 1, 17, 999])
    dim = 10
    emb = sinusoidal_embedding(t, dim)
    for b, tb in enumerate(t.tolist()):
        for i in range(dim // 2):
            w = 10_000.0 ** (-i / (dim // 2))
            assert emb[b, i].item() == pytest.approx(math.sin(tb * w), abs=1e-4)
            assert emb[b, dim // 2 + i].item() == pytest.approx(math.cos(tb * w), abs=1e-4)


def test_ada_group_norm_with_zero_modulation_is_group_norm():
    torch.manual_seed(0)
    norm = AdaGroupNorm(8, 16, groups=2)
    torch.nn.init.zeros_(norm.modulation.weight)
    torch.nn.init.zeros_(norm.modulation.bias)
    h, emb = torch.randn(3, 8, 5, 5) * 3 + 1, torch.randn(3, 16)
    g = h.view(3, 2, -1)  # closed form: per (item, group) standardisation
    ref = ((g - g.mean(-1, keepdim=True)) / torch.sqrt(g.var(-1, unbiased=False, keepdim=True) + 1e-5)).view_as(h)
    torch.testing.assert_close(norm(h, emb), ref, atol=1e-5, rtol=1e-5)
    torch.nn.init.normal_(norm.modulation.bias)  # nonzero modulation changes it
    assert not torch.allclose(norm(h, emb), ref, atol=1e-3)


def test_self_attention_is_permutation_equivariant():
    torch.manual_seed(0)
    attn = SelfAttention2d(8, heads=2, groups=2)
    x = torch.randn(2, 8, 4, 4)
    perm = torch.randperm(16)
    permute = lambda z: z.flatten(2)[:, :, perm].view_as(z)  # noqa: E731
    torch.testing.assert_close(attn(permute(x)), permute(attn(x)), atol=1e-5, rtol=1e-5)
    assert not torch.allclose(attn(x), x)


def test_cross_attention_masked_keys_do_not_matter():
    torch.manual_seed(0)
    attn = CrossAttention2d(8, 6, heads=2, groups=2)
    x, ctx = torch.randn(2, 8, 3, 3), torch.randn(2, 5, 6)
    mask = torch.tensor([[True, True, False, False, False], [True, True, True, True, False]])
    out = attn(x, ctx, mask)
    ctx2 = ctx.clone()
    ctx2[~mask] = torch.randn(int((~mask).sum()), 6) * 10
    torch.testing.assert_close(attn(x, ctx2, mask), out, atol=1e-5, rtol=1e-5)
    # equal to attending to the unpadded prefix alone
    torch.testing.assert_close(attn(x[:1], ctx[:1, :2]), out[:1], atol=1e-5, rtol=1e-5)
    ctx3 = ctx.clone()
    ctx3[0, 0] += 5  # an unmasked key does matter
    assert not torch.allclose(attn(x, ctx3, mask)[0], out[0], atol=1e-4)
    with pytest.raises(ModelInputError):
        attn(x, ctx, torch.zeros(2, 5, dtype=torch.bool))


def test_unet_with_context_shapes_and_mask():
    net = small_unet(attention_levels=(1,), context_dim=6)
    x, t, ctx = torch.randn(2, 1, 7, 7), torch.tensor([3, 4]), torch.randn(2, 4, 6)
    mask = torch.tensor([[True, False, False, False], [True, True, True, False]])
    out = net(x, t, context=ctx, context_mask=mask)
    assert out.shape == x.shape
    ctx2 = ctx.clone()
    ctx2[~mask] = 7.0
    torch.testing.assert_close(net(x, t, context=ctx2, context_mask=mask), out, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(net(x, t, context=ctx * 2, context_mask=mask), out, atol=1e-4)


def test_class_conditioning_and_null_class():
    net = small_unet(num_classes=10)
    assert net.class_embed.num_embeddings == 11
    x, t = torch.randn(2, 1, 8, 8), torch.tensor([5, 5])
    with torch.no_grad():
        torch.nn.init.normal_(net.class_embed.weight)
        a = net(x, t, y=torch.tensor([1, 1]))
        b = net(x, t, y=torch.tensor([2, 2]))
        null = net(x, t, y=torch.tensor([10, 10]))
    assert not torch.allclose(a, b, atol=1e-4)
    torch.testing.assert_close(net(x, t), null)  # y=None is the null class
    with pytest.raises(ModelInputError):
        net(x, t, y=torch.tensor([11, 0]))


def test_bf16_autocast_close_to_fp32():
    torch.manual_seed(0)
    net = UNet.preset("mnist-1m").eval()
    x, t = torch.randn(4, 1, 28, 28), torch.tensor([0, 10, 500, 999])
    with torch.no_grad():
        ref = net(x, t)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = net(x, t).float()
    rel = (low - ref).norm() / ref.norm()
    assert rel < 0.03, rel  # bf16 has 8 mantissa bits (~0.4% per op); well-conditioned nets stay within a few %


@pytest.mark.parametrize("time_embedding", ["scale_shift", "add"])
def test_gradient_reaches_every_parameter(time_embedding):
    net = small_unet(attention_levels=(1,), num_classes=3, context_dim=4, time_embedding=time_embedding)
    out = net(torch.randn(2, 1, 8, 8), torch.tensor([1, 2]), y=torch.tensor([0, 3]), context=torch.randn(2, 3, 4))
    out.square().mean().backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    # the class embedding rows of labels not in the batch get no gradient; every other parameter must
    assert missing == [] or missing == ["class_embed.weight"] and net.class_embed.weight.grad[[0, 3]].abs().sum() > 0
    mlp = MLPDenoiser(dim=2, hidden=16, layers=2)
    mlp(torch.randn(4, 2), torch.tensor([1, 2, 3, 4])).square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in mlp.parameters())


@pytest.mark.parametrize("call", [
    lambda n: n(torch.randn(2, 3, 8, 8), torch.tensor([1, 2])),        # wrong channel count
    lambda n: n(torch.randn(1, 8, 8), torch.tensor([1])),              # no batch axis
    lambda n: n(torch.randn(2, 1, 8, 8), torch.tensor([1, 2, 3])),     # t of the wrong length
    lambda n: n(torch.randn(2, 1, 8, 8), torch.tensor([1, 2]), y=torch.tensor([0, 1])),  # y without classes
])
def test_bad_inputs_raise_one_line_errors(call):
    with pytest.raises(ModelInputError) as err:
        call(small_unet())
    assert "\n" not in str(err.value)
    with pytest.raises(ModelInputError):
        MLPDenoiser(dim=2)(torch.randn(4, 3), torch.tensor([1, 2, 3, 4]))


def test_bad_config_raises():
    with pytest.raises(ConfigError):
        UNet(channels=(8, 12), groups=8)
    with pytest.raises(ConfigError):
        UNet.preset("huge")
    with pytest.raises(ConfigError, match="upsample"):
        UNet(upsample="bilinear")


def test_channels_last_model_gives_the_same_output_and_gradients():
    net = small_unet(attention_levels=(1,))
    x, t = torch.randn(2, 1, 8, 8), torch.tensor([3, 900])
    ref = net(x, t)
    ref.square().sum().backward()
    grads = {n: p.grad.clone() for n, p in net.named_parameters()}
    net.zero_grad()
    net.channels_last = True      # the same weights; every activation after conv_in is channels-last
    seen = []
    hook = net.down[0].blocks[0].register_forward_hook(
        lambda mod, inp, out: seen.append(out.is_contiguous(memory_format=torch.channels_last)))
    out = net(x, t)
    hook.remove()
    assert seen == [True] and out.is_contiguous()
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-4)
    out.square().sum().backward()
    for n, p in net.named_parameters():
        torch.testing.assert_close(p.grad, grads[n], atol=1e-4, rtol=1e-3, msg=n)
