"""The VAE and AE families in the one training loop, on the 8x8 digits: training, resume, sampling, bounds, tools."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from genlab.cli.main import main
from genlab.config import apply_overrides, run_config_from_dict
from genlab.errors import CheckpointError, ConfigError, ModelInputError
from genlab.training.checkpoint import latest_checkpoint, read_weights
from genlab.training.loop import train
from genlab.training.run import load_run
from genlab.vae import explore
from genlab.vae.likelihood import evaluate_likelihood
from genlab.viz.grid import label_margins

TINY = ["data.name=digits", "model.hidden=[64]", "model.latent_dim=4", "train.batch_size=32", "train.log_every=1",
        "train.checkpoint_every=1000", "train.warmup_steps=1", "train.lr=3e-3", "train.threads=1"]


def config(family: str = "vae", *extra: str):
    return run_config_from_dict(apply_overrides({"family": family}, TINY + list(extra)))


def log(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("vae") / "run"
    # fp32: the log's loss = recon + kl check is to 1e-5, finer than bf16 autocast's rounding of the terms
    train(config("vae", "train.steps=60", "train.precision=fp32"), out, progress=False)
    return out


@pytest.fixture(scope="module")
def run2d(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("vae2d") / "run"
    train(config("vae", "train.steps=5", "model.latent_dim=2"), out, progress=False)
    return out


def test_training_lowers_the_negative_elbo(vae_run):
    rows = log(vae_run)
    first, last = sum(r["neg_elbo"] for r in rows[:3]) / 3, sum(r["neg_elbo"] for r in rows[-5:]) / 5
    assert last < 0.8 * first
    assert all(r["loss"] == pytest.approx(r["recon"] + r["kl"], rel=1e-5) for r in rows)   # beta = 1


@pytest.mark.parametrize("family,extra", [("ae", ()), ("vae", ("model.arch=conv", "model.channels=[8, 16]",
                                                                 "vae.likelihood=gaussian", "vae.c=0.2"))])
def test_autoencoder_and_conv_gaussian_variants_train(tmp_path, family, extra):
    train(config(family, "train.steps=25", *extra), tmp_path / "r", progress=False)
    rows = log(tmp_path / "r")
    assert rows[-1]["loss"] < rows[0]["loss"]
    assert ("kl" in rows[0]) == (family == "vae")
    x = load_run(tmp_path / "r").sample(3, seed=0)
    assert x.shape == (3, 1, 8, 8) and x.min() >= -1 and x.max() <= 1


def test_kl_warmup_ramps_beta_and_resumes_exactly(tmp_path):
    extra = ("vae.kl_warmup=4", "vae.beta=0.5")
    train(config("vae", "train.steps=6", *extra), tmp_path / "full", progress=False)
    train(config("vae", "train.steps=3", *extra), tmp_path / "split", progress=False)
    train(config("vae", "train.steps=6", *extra), tmp_path / "split", progress=False)
    full, split = log(tmp_path / "full"), log(tmp_path / "split")
    assert [r["beta"] for r in full] == [0.0, 0.125, 0.25, 0.375, 0.5, 0.5]      # 0.5 * min(1, step / 4)
    assert [r["beta"] for r in split] == [r["beta"] for r in full]
    assert [r["loss"] for r in split] == pytest.approx([r["loss"] for r in full], rel=1e-6)


def test_samples_come_back_in_image_range_and_refuse_diffusion_options(vae_run):
    run = load_run(vae_run)
    x = run.sample(7, seed=3)
    assert x.shape == (7, 1, 8, 8) and x.min() >= -1 and x.max() <= 1
    torch.testing.assert_close(x, run.sample(7, seed=3))
    with pytest.raises(ModelInputError, match="no sampling option steps"):
        run.sample(2, steps=10)


def test_likelihood_of_a_trained_run(vae_run):
    result = evaluate_likelihood(vae_run, k=50, n=200, batch_size=64)
    assert result["n"] == 200 and result["k"] == 50 and result["binarize"] == "stochastic"
    assert result["elbo"] < result["iwae"] < 0                       # nats of binary 8x8 images: log p < 0
    assert result["nll"] == -result["iwae"]
    assert result["elbo"] == pytest.approx(-(result["recon"] + result["kl"]), rel=1e-6)
    assert 0 <= result["active_units"] <= 4


def test_explore_pictures_have_the_expected_layout(vae_run, run2d, tmp_path):
    def size(path: Path) -> tuple[int, int]:
        return Image.open(path).size

    cell = 8 + 2                                                      # 8x8 items, 2 px padding
    line, _ = label_margins(col_labels=[""])                          # a line of column labels on top
    _, names = label_margins(row_labels=["original", "decoded"])      # row labels on the left
    _, dims = label_margins(row_labels=["z0", "z1", "z2", "z3"])       # the traversal's latent dimensions
    assert size(explore.save_prior_samples(vae_run, tmp_path / "s.png", n=9)) == (2 + 3 * cell,) * 2
    assert size(explore.save_reconstructions(vae_run, tmp_path / "r.png", n=5)) == (
        names + 2 + 5 * cell, 2 + 2 * cell)
    assert size(explore.save_interpolation(vae_run, tmp_path / "i.png", pairs=3, steps=6, method="slerp")) == (
        2 + 8 * cell, line + 2 + 3 * cell)                            # a, 6 points t = 0 ... 1, b
    assert size(explore.save_traversal(vae_run, tmp_path / "t.png", steps=7)) == (
        dims + 2 + 7 * cell, line + 2 + 4 * cell)
    assert size(explore.save_attribute(vae_run, tmp_path / "a.png", label=1, n=2)) == (
        2 + 6 * cell, line + 2 + 2 * cell)
    assert size(explore.save_manifold(run2d, tmp_path / "m.png", n=4)) == (32, 32)
    assert explore.save_scatter(vae_run, tmp_path / "sc.png", n=100).stat().st_size > 0
    units = explore.run_active_units(vae_run)
    assert units["latent_dim"] == 4 and len(units["variances"]) == 4
    assert units["active_units"] == sum(v > 0.01 for v in units["variances"])


def test_wrong_latent_size_and_wrong_family_give_clear_errors(vae_run, tmp_path, capsys):
    vae = load_run(vae_run).models["vae"]
    with pytest.raises(ModelInputError, match=r"latents must have shape \(B, 4\)"):
        vae.decode(torch.zeros(3, 2))
    with pytest.raises(ModelInputError, match=r"items of shape \(1, 8, 8\)"):
        vae.encode(torch.zeros(3, 1, 28, 28))
    with pytest.raises(ModelInputError, match="needs a 2-D latent"):
        explore.save_manifold(vae_run, tmp_path / "m.png")
    with pytest.raises(CheckpointError, match="expected a 'ddpm' one"):
        read_weights(latest_checkpoint(vae_run), family="ddpm")
    ddpm = tmp_path / "ddpm"
    train(run_config_from_dict(apply_overrides({"family": "ddpm"}, [
        "data.name=digits", "model.channels=[8]", "model.groups=4", "model.mid_attention=false", "diffusion.T=10",
        "diffusion.sample_steps=2", "train.sample_n=1",
        "train.steps=1", "train.batch_size=4"])), ddpm, progress=False)
    with pytest.raises(CheckpointError, match="holds a 'ddpm' model; this needs a VAE"):
        explore.save_prior_samples(ddpm, tmp_path / "x.png")
    assert main(["explore", str(ddpm), "likelihood"]) == 2
    assert "error: " in capsys.readouterr().err


def test_config_refusals():
    with pytest.raises(ConfigError, match="needs images"):
        train(config("vae", "data.name=ring8", "model.arch=conv"), "/nonexistent/never", progress=False)
    with pytest.raises(ConfigError, match="likelihood=gaussian"):
        train(config("vae", "data.name=ring8", "vae.likelihood=bernoulli"), "/nonexistent/never", progress=False)
    with pytest.raises(ConfigError, match="unknown config key 'ae.beta'"):
        config("ae", "ae.beta=2")
    with pytest.raises(ConfigError, match="needs vae.objective = 'elbo'"):
        train(config("vae", "vae.objective=iwae", "vae.free_bits=0.5"), "/nonexistent/never", progress=False)
    with pytest.raises(ConfigError, match="free_bits_group = 3 must divide model.latent_dim = 4"):
        train(config("vae", "vae.free_bits=0.5", "vae.free_bits_group=3"), "/nonexistent/never", progress=False)


@pytest.mark.parametrize("extra", [("vae.objective=iwae", "vae.k=4", "vae.kl_warmup=3"),
                                   ("vae.free_bits=0.25", "vae.free_bits_group=2", "vae.kl_warmup=3")])
def test_iwae_and_free_bits_objectives_train(tmp_path, extra):
    train(config("vae", "train.steps=30", *extra), tmp_path / "r", progress=False)
    rows = log(tmp_path / "r")
    assert [r["beta"] for r in rows[:5]] == pytest.approx([0.0, 1 / 3, 2 / 3, 1.0, 1.0])   # min(1, step / 3)
    assert sum(r["neg_elbo"] for r in rows[-5:]) < 0.8 * sum(r["neg_elbo"] for r in rows[:5])
    if "vae.k=4" in extra:
        assert all(r["loss"] == r["neg_iwae4"] for r in rows)
    result = evaluate_likelihood(tmp_path / "r", k=20, n=50)
    assert result["elbo"] < result["iwae"] < 0


def test_explore_cli_writes_pictures(vae_run, tmp_path, capsys):
    assert main(["explore", str(vae_run), "interpolate", "--slerp", "--out", str(tmp_path / "i.png")]) == 0
    assert (tmp_path / "i.png").is_file()
    assert main(["explore", str(vae_run), "attribute"]) == 2
    assert "--label" in capsys.readouterr().err


def test_genlab_eval_reports_vae_nats(vae_run, tmp_path):
    out = tmp_path / "nll.json"
    assert main(["eval", str(vae_run), "--metrics", "nll", "--n", "64", "--quiet", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["n"] == 64 and result["elbo"] < result["iwae"] == -result["nll"]
