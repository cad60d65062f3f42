"""Latent diffusion: the conv_map first stage, the latent scale round trip, the ldm family in the loop, PSNR."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from genlab.cli.main import main
from genlab.config import apply_overrides, run_config_from_dict
from genlab.errors import ConfigError, ModelInputError
from genlab.latent.codec import LatentCodec, measure_scale
from genlab.diffusion.superres import psnr
from genlab.training.checkpoint import latest_checkpoint, read_weights, split_prefix
from genlab.training.loop import train
from genlab.training.run import load_run
from genlab.vae.networks import BernoulliLikelihood, build_vae, latent_map_shape

AE = ["data.name=digits", "model.arch=conv_map", "model.channels=[8, 16]", "model.latent_channels=3",
      "train.batch_size=32", "train.steps=4", "train.log_every=1", "train.warmup_steps=1", "train.threads=1",
      "vae.beta=0.01"]
LDM = ["data.name=digits", "model.channels=[16, 16]", "model.groups=8", "model.attention_levels=[1]",
       "train.batch_size=16", "train.steps=3", "train.log_every=1", "train.warmup_steps=1", "train.threads=1",
       "diffusion.T=50", "diffusion.sample_steps=3"]


def run_config(family: str, *overrides: str):
    return run_config_from_dict(apply_overrides({"family": family}, list(overrides)))


@pytest.fixture(scope="module")
def autoencoder(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ae") / "run"
    train(run_config("vae", *AE), out, progress=False, sample_at_end=False)
    return out


@pytest.fixture(scope="module")
def ldm_run(autoencoder, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ldm") / "run"
    args = ["train", "ldm", "--data", "digits", "--autoencoder", str(autoencoder), "--out", str(out), "--quiet"]
    for override in LDM[1:] + ["condition.kind=class", "train.sample_n=4"]:
        args += ["--set", override]
    assert main(args) == 0
    return out


@pytest.mark.parametrize("size,latent", [(28, 7), (32, 8), (9, 3), (8, 2)])
def test_conv_map_downsamples_by_four_and_decodes_to_the_input_size(size, latent):
    vae = build_vae((1, size, size), arch="conv_map", latent_dim=0, hidden=(), channels=(8, 16),
                    likelihood=BernoulliLikelihood(), latent_channels=5)
    assert latent_map_shape((1, size, size), channels=(8, 16), latent_channels=5) == (5, latent, latent)
    mu, logvar = vae.encode(torch.zeros(2, 1, size, size))
    assert mu.shape == logvar.shape == (2, 5 * latent * latent) and vae.latent_dim == 5 * latent * latent
    assert vae.decode(mu).shape == (2, 1, size, size)


def test_latent_scale_makes_unit_variance_and_cancels_on_decoding():
    torch.manual_seed(0)
    vae = build_vae((1, 12, 12), arch="conv_map", latent_dim=0, hidden=(), channels=(8, 16),
                    likelihood=BernoulliLikelihood(), latent_channels=2).eval()
    x = torch.rand(300, 1, 12, 12) * 2 - 1
    scale = measure_scale(vae, x, generator=torch.Generator().manual_seed(1), batch_size=64)
    mu, logvar = vae.encode(x)
    eps = torch.randn(mu.shape, generator=torch.Generator().manual_seed(1))
    z = (mu + torch.exp(0.5 * logvar) * eps).double()
    assert scale == pytest.approx(1.0 / z.std(unbiased=False).item(), rel=1e-3)   # 4 significant digits
    of_means = measure_scale(vae, x, generator=torch.Generator(), batch_size=64, sample=False)  # posterior "mean"
    assert of_means == pytest.approx(1.0 / mu.double().std(unbiased=False).item(), rel=1e-3)
    codec = LatentCodec(vae, latent_shape=(2, 3, 3), scale=scale)
    latents = codec.encode(x, noise=eps)
    assert latents.shape == (300, 2, 3, 3)
    assert latents.double().std(unbiased=False).item() == pytest.approx(1.0, abs=1e-3)
    torch.testing.assert_close(codec.decode(codec.encode(x)), vae.decode_mean(mu))  # the scale cancels
    with pytest.raises(ModelInputError, match="latents must be"):
        codec.decode(torch.zeros(1, 2, 4, 4))


def test_ldm_trains_on_latents_stores_its_scale_and_resumes(autoencoder, ldm_run):
    out = ldm_run
    cfg = run_config("ldm", *LDM, f"latent.autoencoder={autoencoder}", "condition.kind=class", "train.sample_n=4")
    stored = json.loads((out / "config.json").read_text())["config"]["latent"]["scale_factor"]
    # The scale is 1 / std of posterior samples on the autoencoder's training data, measured independently here.
    from genlab.vae.runs import run_items
    ae = load_run(autoencoder)
    x, _ = run_items(ae, split="train", limit=5000, seed=0)
    mu, logvar = ae.models["vae"].encode(x)
    z = mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=torch.Generator().manual_seed(0))
    assert stored == pytest.approx(1.0 / z.double().std(unbiased=False).item(), rel=1e-3)
    tensors, _ = read_weights(latest_checkpoint(out), family="ldm")
    assert split_prefix(tensors, "model")["codec"]["scale"].item() == pytest.approx(stored)
    run = load_run(out)
    assert run.family.shape == (3, 2, 2) and run.models["model"].unet.conv_in.in_channels == 3
    x = run.sample(4, seed=0, label=7, guidance=2.0)
    assert x.shape == (4, 1, 8, 8) and x.min() >= -1 and x.max() <= 1
    cfg.train.steps = 4
    assert train(cfg, out, progress=False, sample_at_end=False).step == 4     # the re-measured scale matches
    with pytest.raises(ModelInputError, match="bits/dim"):
        run.family.likelihood(run.models, torch.zeros(2, 1, 8, 8, dtype=torch.uint8))


def test_ldm_super_resolution_concatenates_the_low_res_image_to_the_latents(autoencoder):
    from genlab.training.objective import Batch, BatchRandom, DataInfo
    from genlab.training.run import build_family
    fam = build_family(run_config("ldm", *LDM, f"latent.autoencoder={autoencoder}", "condition.kind=image",
                                  "condition.low_res=2"), DataInfo(kind="image", shape=(1, 8, 8), num_classes=10))
    models = fam.build_models()
    assert models["model"].unet.conv_in.in_channels == 3 + 1          # 3 latent maps + 1 image channel
    rng = BatchRandom(torch.Generator().manual_seed(0), global_size=4, start=0, size=4)
    loss, _ = fam.loss("denoise", models, Batch(x=torch.rand(4, 1, 8, 8) * 2 - 1, y=None, rng=rng))
    assert torch.isfinite(loss)
    x = fam.sample(models, 2, generator=torch.Generator(), low_res=torch.zeros(1, 1, 2, 2), steps=2)
    assert x.shape == (2, 1, 8, 8)


def test_ldm_refuses_a_missing_or_unsuitable_autoencoder(tmp_path):
    info_cfg = run_config("ldm", *LDM)
    from genlab.training.run import build_family
    from genlab.training.objective import DataInfo
    info = DataInfo(kind="image", shape=(1, 8, 8), num_classes=10)
    with pytest.raises(ConfigError, match="needs a trained autoencoder"):
        build_family(info_cfg, info)
    with pytest.raises(ConfigError, match="latent.autoencoder: run folder .* does not exist"):
        build_family(run_config("ldm", *LDM, f"latent.autoencoder={tmp_path / 'nope'}"), info)
    flat = tmp_path / "flat"
    train(run_config("vae", *[o for o in AE if "arch" not in o], "model.arch=conv"), flat, progress=False,
          sample_at_end=False)
    with pytest.raises(ConfigError, match="expected a 'vae' run with model.arch = 'conv_map'"):
        build_family(run_config("ldm", *LDM, f"latent.autoencoder={flat}"), info)


def test_sample_cli_draws_the_asked_class_and_refuses_a_prompt(ldm_run, tmp_path, capsys):
    out = tmp_path / "sevens.png"
    assert main(["sample", str(ldm_run), "--n", "3", "--label", "7", "--guidance", "3", "--steps", "2",
                 "--out", str(out), "--npz", str(tmp_path / "s.npz")]) == 0
    assert np.load(tmp_path / "s.npz")["x"].shape == (3, 1, 8, 8)
    capsys.readouterr()
    assert main(["sample", str(ldm_run), "--prompt", "a handwritten seven", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "class-conditional: --prompt needs a run trained with condition.kind = 'text'" in err
    assert main(["sample", str(ldm_run), "--low-res", str(tmp_path / "missing.png"), "--out", str(out)]) == 2
    assert "not found" in capsys.readouterr().err


def test_sample_cli_runs_the_ode_samplers_in_latent_space(ldm_run, tmp_path):
    for sampler in ("euler", "heun", "dpmpp_2m", "unipc"):
        npz = tmp_path / f"{sampler}.npz"
        assert main(["sample", str(ldm_run), "--n", "2", "--label", "7", "--guidance", "3", "--sampler", sampler,
                     "--steps", "3", "--quiet", "--out", str(tmp_path / f"{sampler}.png"), "--npz", str(npz)]) == 0
        assert np.load(npz)["x"].shape == (2, 1, 8, 8)


def test_psnr_closed_form():
    x = torch.zeros(2, 1, 4, 4)
    assert psnr(x + 0.1, x).tolist() == pytest.approx([10 * torch.log10(torch.tensor(4 / 0.01)).item()] * 2)
    with pytest.raises(ModelInputError, match="one shape"):
        psnr(x, torch.zeros(2, 1, 4, 5))


def test_low_res_png_is_read_as_a_condition_in_minus_one_to_one(tmp_path):
    from PIL import Image

    from genlab.errors import DataError
    from genlab.diffusion.superres import load_low_res
    pixels = np.arange(49, dtype=np.uint8).reshape(7, 7) * 5
    Image.fromarray(pixels).save(tmp_path / "low.png")
    low = load_low_res(tmp_path / "low.png", channels=1, size=7)
    assert low.shape == (1, 1, 7, 7)
    torch.testing.assert_close(low[0, 0], torch.from_numpy(pixels.astype(np.float32)) / 127.5 - 1.0)
    (tmp_path / "bad.png").write_text("not an image")
    with pytest.raises(DataError, match="not an image"):
        load_low_res(tmp_path / "bad.png", channels=1, size=7)
