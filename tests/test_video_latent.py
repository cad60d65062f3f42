"""Latent video diffusion (Blattmann et al. 2023): the vdm family diffuses a frame autoencoder's latents."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from genlab.cli.main import main
from genlab.training.run import load_run

CLIPS = "moving-mnist:n=8,frames=4,size=16,digit_size=8"
AE = ["--set", "model.arch=conv_map", "--set", "model.channels=[8, 16]", "--set", "model.latent_channels=3",
      "--set", "train.batch_size=16", "--set", "train.threads=1", "--set", "vae.beta=0.01"]
TINY = ["--set", "model.channels=[8, 16]", "--set", "model.attention_levels=[1]", "--set", "model.groups=4",
        "--set", "model.heads=2", "--set", "diffusion.sample_steps=2", "--set", "train.batch_size=4",
        "--set", "train.threads=1", "--set", "video.image_fraction=0.25"]


@pytest.fixture(scope="module")
def autoencoder(tmp_path_factory, one_thread) -> Path:
    out = tmp_path_factory.mktemp("frame_ae") / "run"
    assert main(["train", "vae", "--data", CLIPS + ",stills=1", "--steps", "3", "--out", str(out), "--quiet",
                 *AE]) == 0
    return out


@pytest.fixture(scope="module")
def run(autoencoder, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("latent_vdm") / "run"
    assert main(["train", "vdm", "--data", CLIPS, "--autoencoder", str(autoencoder), "--steps", "2", "--out",
                 str(out), "--quiet", *TINY]) == 0
    return out


def test_the_diffusion_runs_on_latent_frames_and_samples_decode_to_pixels(run, tmp_path) -> None:
    loaded = load_run(run)
    assert loaded.family.shape == (4, 3, 4, 4) and tuple(loaded.info.shape) == (4, 1, 16, 16)  # 16 -> 4, 3 maps
    assert loaded.models["model"].unet.conv_in.in_channels == 3 + 1                            # + the mask plane
    assert main(["sample", str(run), "--n", "2", "--out", str(tmp_path / "clip.gif"), "--npz",
                 str(tmp_path / "clip.npz"), "--quiet"]) == 0
    assert np.load(tmp_path / "clip.npz")["x"].shape == (2, 4, 1, 16, 16)


def test_frames_are_encoded_one_by_one_by_the_autoencoder(run) -> None:
    loaded = load_run(run)
    codec = loaded.models["codec"]
    clips = torch.rand(2, 4, 1, 16, 16) * 2 - 1
    z = loaded.family.encode_frames(loaded.models, clips)
    mu, _ = codec.vae.encode(clips[1, 2:3])                   # frame 2 of clip 1 on its own, scaled (Rombach et al.)
    assert z.shape == (2, 4, 3, 4, 4)
    torch.testing.assert_close(z[1, 2], (mu * codec.scale).view(3, 4, 4))
    changed = clips.clone()
    changed[1, 0] = -1.0
    assert torch.equal(loaded.family.encode_frames(loaded.models, changed)[1, 1:], z[1, 1:])
    frames = loaded.family.decode(loaded.models, z)
    assert frames.shape == clips.shape and frames.min() >= -1 and frames.max() <= 1
    torch.testing.assert_close(frames[0, 3], codec.vae.decode_mean((z[0, 3] / codec.scale).reshape(1, -1))[0])


@pytest.mark.parametrize("method", ["mask", "reconstruction"])
def test_continued_clips_keep_their_context_pixels_exactly(run, tmp_path, method) -> None:
    context = np.random.default_rng(0).integers(0, 256, size=(2, 2, 1, 16, 16), dtype=np.uint8)
    np.savez(tmp_path / "first.npz", x=context)
    assert main(["sample", str(run), "--n", "2", "--context", str(tmp_path / "first.npz"), "--frames", "6",
                 "--context-method", method, "--steps", "2", "--out", str(tmp_path / "long.gif"), "--npz",
                 str(tmp_path / "long.npz"), "--quiet"]) == 0
    clips = np.load(tmp_path / "long.npz")["x"]
    assert clips.shape == (2, 6, 1, 16, 16) and np.array_equal(clips[:, :2], context)


def test_an_autoencoder_of_other_frames_is_one_line_and_status_2(tmp_path, capsys) -> None:
    other = tmp_path / "digits_ae"
    assert main(["train", "vae", "--data", "digits", "--steps", "1", "--out", str(other), "--quiet", *AE]) == 0
    capsys.readouterr()
    assert main(["train", "vdm", "--data", CLIPS, "--autoencoder", str(other), "--steps", "1", "--out",
                 str(tmp_path / "r"), "--quiet", *TINY]) == 2
    err = capsys.readouterr().err.strip()
    assert "trained on images of shape (1, 8, 8), not (1, 16, 16)" in err and len(err.splitlines()) == 1


def test_a_context_of_other_frames_is_checked_against_the_pixels_not_the_latents(run, tmp_path, capsys) -> None:
    np.savez(tmp_path / "ctx.npz", x=np.zeros((1, 2, 1, 4, 4), dtype=np.uint8))      # the latents' size, not 16x16
    assert main(["sample", str(run), "--n", "1", "--context", str(tmp_path / "ctx.npz"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "context frames of shape (1, 4, 4); the model's frames are (1, 16, 16)" in err and len(err.splitlines()) == 1


@pytest.mark.parametrize("sampler", ["ancestral", "heun", "dpmpp_2m", "unipc"])
def test_registry_samplers_draw_latent_clips_decoded_to_pixels(run, sampler) -> None:
    clips = load_run(run).sample(2, seed=0, sampler=sampler, steps=3)
    assert clips.shape == (2, 4, 1, 16, 16) and clips.min() >= -1 and clips.max() <= 1
