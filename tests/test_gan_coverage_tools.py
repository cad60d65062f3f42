"""The mode-coverage tools of the GAN discriminator: PacGAN packing (shapes, one source per packed input),
spectral normalisation (largest singular value 1, exact resume of its power iteration), minibatch std."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from genlab.config import apply_overrides, run_config_from_dict
from genlab.errors import ConfigError, ModelInputError
from genlab.gan.family import GANFamily
from genlab.gan.minibatch_std import MinibatchStd, with_minibatch_std
from genlab.gan.packing import pack, packed_shape
from genlab.gan.spectral import apply_spectral_norm
from genlab.training.checkpoint import latest_checkpoint, read_weights
from genlab.training.loop import train
from genlab.training.objective import Batch, BatchRandom, DataInfo

VECTORS = DataInfo("vector", (2,), None)
DIGITS = DataInfo("image", (1, 28, 28), None)


pytestmark = pytest.mark.usefixtures("one_thread")      # conftest: tiny networks, one intra-op thread


def family(*overrides: str, info: DataInfo = VECTORS) -> GANFamily:
    config = run_config_from_dict(apply_overrides({"family": "gan"}, ["train.batch_size=12", *overrides]))
    return GANFamily(config.sections, data=info, train=config.train)


def batch(x: torch.Tensor, seed: int = 0) -> Batch:
    return Batch(x=x, y=None, rng=BatchRandom(torch.Generator().manual_seed(seed), global_size=len(x), start=0,
                                               size=len(x)))


class Recorder(nn.Module):
    """A discriminator that remembers every input it scores."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner, self.inputs = inner, []

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        self.inputs.append(x.detach().clone())
        return self.inner(x, y)


# --- packing ---------------------------------------------------------------------------------------------

def test_packing_concatenates_m_consecutive_samples_along_the_feature_axis():
    x = torch.arange(12.0).reshape(6, 2)
    assert pack(x, 3).tolist() == [[0, 1, 2, 3, 4, 5], [6, 7, 8, 9, 10, 11]]
    assert torch.equal(pack(x, 1), x)
    images = torch.randn(4, 3, 8, 8)
    packed = pack(images, 2)
    assert packed.shape == (2, 6, 8, 8)
    assert torch.equal(packed[1, 3:], images[3]) and torch.equal(packed[0, :3], images[0])
    assert packed_shape((1, 28, 28), 4) == (4, 28, 28) and packed_shape((2,), 3) == (6,)
    with pytest.raises(ModelInputError, match="divisible by 4"):
        pack(x, 4)


@pytest.mark.parametrize("loss", ["nonsaturating", "wgan-gp"])
def test_a_packed_discriminator_sees_m_samples_of_one_source(loss):
    m, n = 3, 12
    fam = family(f"gan.pack={m}", "gan.r1=1.0", f"gan.loss={loss}", "model.latent_dim=2", "model.hidden=[16]")
    models = fam.build_models()
    D = Recorder(models["D"])
    models["D"] = D
    x = torch.randn(n, 2) * 3 + 10            # real samples far from anything the untrained G makes
    fam.loss("D", models, batch(x))
    with torch.no_grad():
        fake = models["G"](batch(x).rng.randn(2))     # the same z the loss drew first
    real_in, fake_in = D.inputs[0], D.inputs[1]
    assert real_in.shape == fake_in.shape == (n // m, 2 * m)
    torch.testing.assert_close(real_in, pack(x, m))
    torch.testing.assert_close(fake_in, pack(fake, m))
    for packed in D.inputs:            # every D input (scores, GP interpolates, R1): all real, all fake, or a segment
        members = packed.reshape(n // m, m, 2)
        is_real = (members - 10).abs().max(dim=2).values < 9
        if loss == "nonsaturating":
            assert bool(is_real.all()) or not bool(is_real.any()), "a packed input mixed real and fake samples"
    D.inputs.clear()
    fam.loss("G", models, batch(x))
    assert D.inputs[0].shape == (n // m, 2 * m)


def test_dcgan_discriminator_packs_along_channels():
    fam = family("gan.pack=2", "model.channels=8", "train.batch_size=4", info=DIGITS)
    models = fam.build_models()
    assert models["D"].features[0].in_channels == 2
    loss, _ = fam.loss("D", models, batch(torch.rand(4, 1, 28, 28) * 2 - 1))
    assert torch.isfinite(loss)


def test_packing_refuses_bad_settings():
    with pytest.raises(ConfigError, match="gan.pack must be one of 1, 2, 3, 4"):
        family("gan.pack=5")
    with pytest.raises(ConfigError, match="divisible by it, got 8 / 1 = 8"):
        family("gan.pack=3", "train.batch_size=8")
    with pytest.raises(ConfigError, match="got 24 / 4 = 6"):              # each micro-batch is packed
        family("gan.pack=4", "train.batch_size=24", "train.grad_accum=4")
    with pytest.raises(ConfigError, match="condition"):
        family("gan.pack=2", "model.condition=concat", info=DataInfo("image", (1, 28, 28), 10))


# --- spectral normalisation ------------------------------------------------------------------------------

@pytest.mark.parametrize("layer", [nn.Linear(20, 30), nn.Conv2d(3, 8, 4, 2, 1)])
def test_spectral_norm_gives_a_largest_singular_value_of_one(layer):
    torch.manual_seed(0)
    nn.init.normal_(layer.weight, 0.0, 1.0)
    before = torch.linalg.svdvals(layer.weight.detach().flatten(1))[0]
    apply_spectral_norm(layer)
    x = torch.randn(4, 20) if isinstance(layer, nn.Linear) else torch.randn(4, 3, 8, 8)
    for _ in range(300):                # one power iteration per training forward
        layer(x)
    layer.eval()
    sigma = torch.linalg.svdvals(layer.weight.detach().flatten(1))[0]
    assert before > 3
    assert sigma.item() == pytest.approx(1.0, abs=1e-3)


def test_spectral_norm_wraps_every_linear_layer_of_the_discriminator():
    D = family("model.d_spectral_norm=true", "model.hidden=[16, 16]").build_models()["D"]
    wrapped = [m for m in D.modules() if isinstance(m, nn.Linear)]
    assert len(wrapped) == 3 and all(hasattr(m, "parametrizations") for m in wrapped)
    dcgan = family("model.d_spectral_norm=true", "model.channels=8", info=DIGITS).build_models()["D"]
    assert not any(isinstance(m, nn.BatchNorm2d) for m in dcgan.modules())      # SN-GAN's D has no batchnorm
    assert all(hasattr(m, "parametrizations") for m in dcgan.modules() if isinstance(m, nn.Conv2d))


def test_runs_with_spectral_norm_resume_exactly(tmp_path):
    base = ["data.name=ring8", "train.batch_size=32", "train.threads=1", "train.log_every=1", "train.warmup_steps=0",
            "train.checkpoint_every=10000", "model.hidden=[16, 16]", "model.latent_dim=2", "gan.pack=2",
            "model.d_spectral_norm=true", "model.d_minibatch_std=true", "train.precision=fp32"]

    def run(steps: int, out: str) -> None:
        cfg = run_config_from_dict(apply_overrides({"family": "gan"}, [*base, f"train.steps={steps}"]))
        train(cfg, tmp_path / out, progress=False)

    run(6, "full")
    run(3, "split")
    run(6, "split")
    full, _ = read_weights(latest_checkpoint(tmp_path / "full"))
    split, _ = read_weights(latest_checkpoint(tmp_path / "split"))
    u = [k for k in full if k.startswith("model.D.") and k.endswith("._u")]
    assert len(u) == 3                   # the power iteration's vectors are checkpointed, one per layer
    assert full.keys() == split.keys()
    for k in full:
        torch.testing.assert_close(full[k], split[k], rtol=0, atol=0, msg=k)


# --- minibatch standard deviation ------------------------------------------------------------------------

def test_minibatch_std_appends_the_mean_feature_std_over_the_batch():
    x = torch.tensor([[1.0, 2.0], [3.0, 6.0]])          # feature stds 1 and 2 (population), mean 1.5
    torch.testing.assert_close(MinibatchStd()(x), torch.tensor([[1.0, 2.0, 1.5], [3.0, 6.0, 1.5]]))
    maps = torch.zeros(3, 2, 2, 2)
    maps[:, 0, 0, 0] = torch.tensor([0.0, 3.0, 6.0])     # one feature with std sqrt(6), seven constant ones
    out = MinibatchStd()(maps)
    assert out.shape == (3, 3, 2, 2)
    torch.testing.assert_close(out[:, 2], torch.full((3, 2, 2), 6.0 ** 0.5 / 8), atol=1e-4, rtol=0)


def test_minibatch_std_goes_before_the_last_layer_for_mlp_and_dcgan():
    D = family("model.d_minibatch_std=true", "model.hidden=[16]", "gan.pack=2").build_models()["D"]
    assert isinstance(D.score[0], MinibatchStd) and D.score[1].in_features == 17
    assert D(torch.randn(6, 4)).shape == (6,)
    conv = family("model.d_minibatch_std=true", "model.channels=8", info=DIGITS).build_models()["D"]
    assert conv.score[1].in_channels == 17 and conv(torch.randn(3, 1, 28, 28)).shape == (3,)
    with pytest.raises(TypeError, match="nn.Linear or nn.Conv2d"):
        with_minibatch_std(nn.Identity())


# --- Fourier-feature inputs of the toy MLPs ----------------------------------------------------------------

def test_fourier_d_reads_sin_and_cos_of_the_packed_input_at_its_frequencies():
    D = family("model.d_fourier=0.5", "model.hidden=[16]", "gan.pack=2").build_models()["D"]
    B = D.fourier.freqs
    assert B.shape == (4, 64)                        # the packed input has 2 x 2 features
    assert D.features[0].in_features == 4 + 2 * 64
    x = torch.tensor([[0.5, -1.0, 2.0, 0.25]])
    angle = 2 * torch.pi * (0.5 * B[0, 3] - 1.0 * B[1, 3] + 2.0 * B[2, 3] + 0.25 * B[3, 3])   # by hand, feature 3
    out = D.fourier(x)
    torch.testing.assert_close(out[0, :4], x[0])
    torch.testing.assert_close(out[0, 4 + 3], torch.sin(angle))
    torch.testing.assert_close(out[0, 4 + 64 + 3], torch.cos(angle))
    assert D(torch.randn(6, 4)).shape == (6,)


def test_fourier_g_widens_the_latent_and_scale_zero_keeps_the_old_weights():
    G = family("model.g_fourier=1.0", "model.latent_dim=2", "model.hidden=[16]").build_models()["G"]
    assert G.net[0].in_features == 2 + 2 * 64 and G(torch.randn(5, 2)).shape == (5, 2)
    plain = family("model.latent_dim=2", "model.hidden=[16]").build_models()
    assert not any("fourier" in k for m in plain.values() for k in m.state_dict())  # old checkpoints still load
    assert plain["G"].net[0].in_features == 2
    with pytest.raises(ConfigError, match="MLP networks only"):
        family("model.d_fourier=0.5", "model.channels=8", info=DIGITS)


def test_fourier_per_sample_maps_each_packed_sample_alone_with_one_b():
    D = family("model.d_fourier=0.5", "model.d_fourier_per_sample=true", "model.hidden=[16]",
               "gan.pack=3").build_models()["D"]
    B = D.fourier.sample.freqs
    assert B.shape == (2, 64)                        # one sample's 2 coordinates, shared by the 3 packed samples
    assert D.features[0].in_features == 3 * (2 + 2 * 64)
    x = torch.tensor([[0.5, -1.0, 2.0, 0.25, -3.0, 1.5]])
    out = D.fourier(x)
    for i, (a, b) in enumerate([(0.5, -1.0), (2.0, 0.25), (-3.0, 1.5)]):
        angle = 2 * torch.pi * (a * B[0, 5] + b * B[1, 5])                      # by hand, feature 5 of sample i
        row = out[0, i * 130:(i + 1) * 130]
        torch.testing.assert_close(row[:2], torch.tensor([a, b]))
        torch.testing.assert_close(row[2 + 5], torch.sin(angle))
        torch.testing.assert_close(row[2 + 64 + 5], torch.cos(angle))
    swapped = D.fourier(x[:, [2, 3, 0, 1, 4, 5]])       # swapping two samples swaps their features, nothing else
    torch.testing.assert_close(swapped[0, :130], out[0, 130:260])
    assert D(torch.randn(6, 6)).shape == (6,)
    with pytest.raises(ConfigError, match="d_fourier > 0"):
        family("model.d_fourier_per_sample=true", "gan.pack=2")


def test_g_skip_adds_s_z_to_the_output_and_starts_g_near_the_moment_matched_gaussian():
    G = family("model.g_skip=2.5", "model.g_fourier=1.0", "model.latent_dim=2", "model.hidden=[16]").build_models()["G"]
    z = torch.tensor([[0.4, -1.2], [2.0, 0.5]])
    with torch.no_grad():
        residual = G.net(G.fourier(z))
        torch.testing.assert_close(G(z), residual + 2.5 * z)          # G(z) = net(z) + s z, by hand
        last = G.net[-1]
        last.weight.zero_(), last.bias.zero_()
        torch.testing.assert_close(G(z), 2.5 * z)                       # net's output off: exactly s z
    plain = family("model.latent_dim=2", "model.hidden=[16]").build_models()["G"]
    assert set(plain.state_dict()) == set(family("model.g_skip=1.0", "model.latent_dim=2", "model.hidden=[16]")
                                          .build_models()["G"].state_dict())      # no new weights: checkpoints load
    with pytest.raises(ConfigError, match="latent_dim equal to the data's dimension"):
        family("model.g_skip=1.0", "model.latent_dim=3").build_models()
    with pytest.raises(ConfigError, match="MLP networks only"):
        family("model.g_skip=1.0", "model.channels=8", info=DIGITS)
    with pytest.raises(ConfigError, match="vector data"):
        family("model.g_skip=1.0", "model.arch=mlp", "model.latent_dim=784", info=DIGITS).build_models()
