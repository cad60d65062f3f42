"""Conditional GANs: the projection term against a hand computation, conditional batch norm against its formula,
AC-GAN's losses recomputed from the same draws, and label accuracy counted by hand."""
from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from genlab.config import apply_overrides, run_config_from_dict
from genlab.errors import ConfigError, ModelInputError
from genlab.evaluation import evaluate_images
from genlab.gan import DCGANDiscriminator, MLPDiscriminator, d_loss_bce, g_loss_nonsaturating
from genlab.gan.family import GANFamily
from genlab.gan.networks import ConditionalBatchNorm2d, DCGANGenerator
from genlab.metrics.label_accuracy import label_accuracy
from genlab.training.objective import Batch, BatchRandom, DataInfo

MNIST_INFO = DataInfo("image", (1, 28, 28), 10)

pytestmark = pytest.mark.usefixtures("one_thread")      # tests/conftest.py: tiny networks, one thread


def family(*overrides: str) -> GANFamily:
    config = run_config_from_dict(apply_overrides({"family": "gan"}, ["model.channels=8", *overrides]))
    return GANFamily(config.sections, data=MNIST_INFO, train=config.train)


def batch(x: torch.Tensor, y: torch.Tensor, seed: int = 0) -> Batch:
    rng = BatchRandom(torch.Generator().manual_seed(seed), global_size=len(x), start=0, size=len(x))
    return Batch(x=x, y=y, rng=rng)


# --- the projection discriminator (Miyato & Koyama 2018, eq. 3) ------------------------------------------

def test_projection_score_is_psi_plus_the_inner_product_of_embed_y_and_phi_x_by_hand():
    D = MLPDiscriminator(shape=(2,), hidden=(2,), num_classes=3, condition="projection", slope=0.2)
    with torch.no_grad():
        D.features[0].weight.copy_(torch.eye(2))        # phi(x) = LeakyReLU_0.2(x)
        D.features[0].bias.zero_()
        D.score.weight.copy_(torch.tensor([[0.5, -1.0]]))   # psi(phi) = 0.5 phi_1 - phi_2 + 0.25
        D.score.bias.fill_(0.25)
        D.embed.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, -1.0]]))
    x, y = torch.tensor([[1.0, 2.0], [3.0, -1.0]]), torch.tensor([2, 0])
    # item 0: phi = (1, 2), psi = 0.5 - 2 + 0.25 = -1.25, <(2, -1), (1, 2)> = 0       -> -1.25
    # item 1: phi = (3, -0.2), psi = 1.5 + 0.2 + 0.25 = 1.95, <(1, 0), (3, -0.2)> = 3  -> 4.95
    torch.testing.assert_close(D(x, y), torch.tensor([-1.25, 4.95]))


def test_dcgan_projection_uses_the_spatially_summed_features():
    D = DCGANDiscriminator(shape=(1, 28, 28), channels=4, num_classes=10, condition="projection").eval()
    x, y = torch.randn(3, 1, 28, 28), torch.tensor([1, 5, 9])
    with torch.no_grad():
        h = D.features(x)                                           # (3, 8, 7, 7)
        psi = (D.score.weight * h).sum(dim=(1, 2, 3)) + D.score.bias   # the 7x7 conv is one inner product
        expected = psi + torch.einsum("bc,bc->b", D.embed.weight[y], h.sum(dim=(2, 3)))
        torch.testing.assert_close(D(x, y), expected)


# --- conditional batch norm (de Vries et al. 2017) ---------------------------------------------------------

def test_conditional_batch_norm_applies_the_gain_and_bias_of_each_items_class():
    cbn = ConditionalBatchNorm2d(2, num_classes=3)
    with torch.no_grad():
        cbn.gain.copy_(torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]))
        cbn.bias.copy_(torch.tensor([[0.0, 0.5], [1.0, 1.5], [2.0, 2.5]]))
    x, y = torch.randn(4, 2, 3, 3), torch.tensor([0, 2, 2, 1])
    mean = x.mean(dim=(0, 2, 3), keepdim=True)
    var = x.var(dim=(0, 2, 3), unbiased=False, keepdim=True)
    x_hat = (x - mean) / torch.sqrt(var + 1e-5)
    expected = x_hat * cbn.gain[y][:, :, None, None] + cbn.bias[y][:, :, None, None]
    torch.testing.assert_close(cbn(x, y), expected.detach())


def test_cbn_generator_takes_labels_through_its_norms_not_through_z():
    G = family("model.condition=projection", "model.g_norm=cbn").build_models()["G"].eval()
    assert isinstance(G, DCGANGenerator)
    assert G.net[0].in_channels == 100                          # z only: no one-hot concatenated
    norms = [m for m in G.modules() if isinstance(m, ConditionalBatchNorm2d)]
    assert len(norms) == 2 and not any(isinstance(m, nn.BatchNorm2d) and m.affine for m in G.modules())
    z = torch.randn(3, 100)
    with torch.no_grad():
        a, b = G(z, torch.full((3,), 2)), G(z, torch.full((3,), 7))
    assert not torch.allclose(a, b)


# --- AC-GAN (Odena et al. 2017) ----------------------------------------------------------------------------

@pytest.mark.parametrize("fake_in_d", [True, False])
def test_acgan_adds_the_weighted_class_cross_entropy_to_both_players(fake_in_d):
    fam = family("model.condition=acgan", "model.g_norm=cbn", "gan.ac_weight=0.5", "gan.r1=0",
                 f"gan.ac_fake_in_d={str(fake_in_d).lower()}")
    models = fam.build_models()
    G, D = models["G"], models["D"]
    x, y = torch.rand(4, 1, 28, 28) * 2 - 1, torch.tensor([0, 3, 3, 9])
    with torch.no_grad():
        torch.testing.assert_close(D(x, y), D(x, torch.zeros(4, dtype=torch.long)))  # D never sees the label
    d_loss, logs = fam.loss("D", models, batch(x, y))
    g_loss, g_logs = fam.loss("G", models, batch(x, y))
    rng = batch(x, y).rng
    z = rng.randn(100)
    with torch.no_grad():
        fake = G(z, y)
        (s_real, l_real), (s_fake, l_fake) = D.score_and_logits(x), D.score_and_logits(fake)
    ce_real, ce_fake = F.cross_entropy(l_real, y), F.cross_entropy(l_fake, y)
    d_class = ce_real + ce_fake if fake_in_d else ce_real      # Odena et al. 2017, or real images only
    assert d_loss.item() == pytest.approx((d_loss_bce(s_real, s_fake) + 0.5 * d_class).item(), rel=1e-5)
    assert (logs["ac_real"], logs["ac_fake"]) == pytest.approx((ce_real.item(), ce_fake.item()), rel=1e-5)
    # the G phase draws the same z from a fresh batch rng, so it scores the same fake batch
    assert g_loss.item() == pytest.approx((g_loss_nonsaturating(s_fake) + 0.5 * ce_fake).item(), rel=1e-5)
    assert g_logs["ac_G"] == pytest.approx(ce_fake.item(), rel=1e-5)
    assert l_real.shape == (4, 10)


def test_conditioning_configurations_are_checked():
    with pytest.raises(ConfigError, match="g_norm = 'cbn'.*condition"):
        family("model.g_norm=cbn")
    with pytest.raises(ConfigError, match="arch = 'dcgan'"):
        family("model.arch=mlp", "model.condition=acgan", "model.g_norm=cbn")
    with pytest.raises(ConfigError, match="ac_weight"):
        family("model.condition=acgan", "gan.ac_weight=-1")
    mlp = family("model.arch=mlp", "model.condition=acgan").build_models()["D"]
    score, logits = mlp.score_and_logits(torch.zeros(2, 1, 28, 28), torch.tensor([1, 2]))
    assert score.shape == (2,) and logits is not None and logits.shape == (2, 10)


# --- label accuracy --------------------------------------------------------------------------------------

class ArgmaxOfFirstPixels(nn.Module):
    """A stand-in classifier: the logits are the first 10 pixels, so an image 'is' the class of its bright pixel."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)[:, :10]


def test_label_accuracy_counts_the_share_classified_as_asked_overall_and_per_class():
    predicted = torch.tensor([0, 1, 2, 0, 1, 5, 0, 1])
    asked = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])      # item 5 was asked to be a 2 and looks like a 5
    images = -torch.ones(8, 1, 28, 28)
    images.view(8, -1)[torch.arange(8), predicted] = 1.0
    out = label_accuracy(images, asked, ArgmaxOfFirstPixels(), num_classes=4, batch_size=3)
    assert out["label_accuracy"] == pytest.approx(7 / 8)
    per_class = out["label_accuracy_per_class"]
    assert per_class[:3] == [1.0, 1.0, 0.5] and per_class[3] != per_class[3]     # class 3 never asked: NaN
    with pytest.raises(ModelInputError, match=r"labels \(N,\)"):
        label_accuracy(images, asked[:4], ArgmaxOfFirstPixels(), num_classes=4)
    with pytest.raises(ModelInputError, match="need a run"):
        evaluate_images("a.npz", "mnist:test", metrics=["label_accuracy"])
