"""InfoGAN's categorical code (Chen et al. 2016): its losses recomputed from the same draws, the networks' shapes,
sampling with drawn or chosen codes, and the settings it refuses."""
from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from genlab.config import apply_overrides, run_config_from_dict
from genlab.errors import ConfigError
from genlab.gan import d_loss_bce, g_loss_nonsaturating
from genlab.gan.family import GANFamily
from genlab.training.objective import Batch, BatchRandom, DataInfo

DIGITS = DataInfo("image", (1, 28, 28), 10)

pytestmark = pytest.mark.usefixtures("one_thread")      # tests/conftest.py: tiny networks, one thread


def family(*overrides: str, info: DataInfo = DIGITS) -> GANFamily:
    config = run_config_from_dict(apply_overrides({"family": "gan"}, ["model.channels=8", *overrides]))
    return GANFamily(config.sections, data=info, train=config.train)


def batch(x: torch.Tensor, seed: int = 0) -> Batch:
    rng = BatchRandom(torch.Generator().manual_seed(seed), global_size=len(x), start=0, size=len(x))
    return Batch(x=x, y=torch.tensor([7] * len(x)), rng=rng)


def test_infogan_adds_the_code_cross_entropy_of_generated_samples_to_both_players():
    fam = family("gan.info_codes=5", "gan.info_weight=0.5", "gan.r1=0")  # the code term alone
    models = fam.build_models()
    G, D = models["G"], models["D"]
    x = torch.rand(4, 1, 28, 28) * 2 - 1
    d_loss, logs = fam.loss("D", models, batch(x))
    g_loss, g_logs = fam.loss("G", models, batch(x))
    rng = batch(x).rng
    z, code = rng.randn(100), rng.randint(5)              # the draws of the loss: z, then c ~ Cat(5)
    with torch.no_grad():
        fake = G(z, code)
        (s_real, l_real), (s_fake, l_fake) = D.score_and_logits(x), D.score_and_logits(fake)
    assert l_real is not None and l_real.shape == (4, 5) and l_fake is not None
    ce = F.cross_entropy(l_fake, code)                     # -L_I up to the constant H(c); the data labels unused
    assert d_loss.item() == pytest.approx((d_loss_bce(s_real, s_fake) + 0.5 * ce).item(), rel=1e-5)
    assert logs["info_D"] == pytest.approx(ce.item(), rel=1e-5) and "ac_real" not in logs
    assert g_loss.item() == pytest.approx((g_loss_nonsaturating(s_fake) + 0.5 * ce).item(), rel=1e-5)
    assert g_logs["info_G"] == pytest.approx(ce.item(), rel=1e-5)


def test_an_infogan_generator_reads_the_one_hot_code_beside_z():
    fam = family("gan.info_codes=3")
    G = fam.build_models()["G"].eval()
    assert G.net[0].in_channels == 100 + 3
    z = torch.randn(2, 100)
    with torch.no_grad():
        a, b = G(z, torch.tensor([0, 0])), G(z, torch.tensor([2, 2]))
    assert a.shape == (2, 1, 28, 28) and not torch.allclose(a, b)    # the code changes the image


def test_sampling_draws_uniform_codes_or_uses_the_chosen_one():
    fam = family("gan.info_codes=4")
    models = {k: m.eval() for k, m in fam.build_models().items()}
    assert not fam.conditional                              # the code is latent: no labels are needed
    z = torch.randn(6, 100)
    gen = torch.Generator().manual_seed(3)
    drawn = fam.sample(models, 6, generator=gen, z=z)
    codes = torch.randint(0, 4, (6,), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        torch.testing.assert_close(drawn, models["G"](z, codes))
        torch.testing.assert_close(fam.sample(models, 6, generator=gen, z=z, label=1),
                                   models["G"](z, torch.ones(6, dtype=torch.long)))


def test_infogan_works_with_the_mlp_pair_on_vectors():
    fam = family("gan.info_codes=8", "train.batch_size=6", info=DataInfo("vector", (2,), None))
    models = fam.build_models()
    x = torch.randn(6, 2)
    loss, logs = fam.loss("D", models, Batch(x=x, y=None, rng=batch(x).rng))
    assert torch.isfinite(loss) and logs["info_D"] > 0
    assert fam.sample(models, 5, generator=torch.Generator().manual_seed(0)).shape == (5, 2)


@pytest.mark.parametrize("overrides, match", [
    (("gan.info_codes=1",), "2 or more categories"),
    (("gan.info_codes=10", "model.condition=acgan"), "condition 'acgan'"),
    (("gan.info_codes=10", "gan.pack=2"), "pack 2"),
    (("gan.info_codes=10", "gan.info_weight=-1"), "info_weight"),
])
def test_infogan_settings_are_checked(overrides, match):
    with pytest.raises(ConfigError, match=match):
        family(*overrides)


def test_cli_trains_an_infogan_and_draws_one_row_per_code(tmp_path):
    from PIL import Image

    from genlab.cli.main import main
    from genlab.training.run import load_run
    from genlab.viz.grid import label_margins

    out = tmp_path / "info"
    assert main(["train", "gan", "--data", "digits", "--steps", "3", "--quiet", "--out", str(out),
                 "--set", "gan.info_codes=4", "--set", "model.arch=mlp", "--set", "train.batch_size=16",
                 "--set", "train.threads=1"]) == 0
    run = load_run(out)
    a = run.sample(4, seed=0, label=3)
    assert a.shape == (4, 1, 8, 8) and not torch.equal(a, run.sample(4, seed=0, label=1))
    assert main(["explore", str(out), "classes", "--n", "5", "--scale", "1",
                 "--out", str(tmp_path / "codes.png")]) == 0
    _, left = label_margins(row_labels=[str(k) for k in range(4)])          # row k: code k
    assert Image.open(tmp_path / "codes.png").size == (left + 2 + 5 * 10, 2 + 4 * 10)
