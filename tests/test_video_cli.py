"""`genlab train vdm` and `genlab sample RUN --out clip.gif [--context NPZ --frames N]` end to end, and their errors."""
from __future__ import annotations

import numpy as np
import pytest

from genlab.cli.main import main
from genlab.data.video_files import read_gif

DATA = "moving-mnist:n=8,frames=4,size=16,digit_size=8"
TINY = ["--set", "model.channels=[8, 16]", "--set", "model.attention_levels=[1]", "--set", "model.groups=4",
        "--set", "model.heads=2", "--set", "diffusion.sample_steps=2", "--set", "train.batch_size=4",
        "--set", "train.threads=1"]


@pytest.fixture(scope="module")
def run(tmp_path_factory, one_thread):
    out = tmp_path_factory.mktemp("vdm") / "run"
    assert main(["train", "vdm", "--data", DATA, "--steps", "2", "--out", str(out), "--quiet", *TINY]) == 0
    return out


def test_sample_writes_an_animated_gif_and_a_strip(run, tmp_path) -> None:
    assert main(["sample", str(run), "--n", "2", "--out", str(tmp_path / "clip.gif"), "--quiet",
                 "--npz", str(tmp_path / "clip.npz")]) == 0
    assert read_gif(tmp_path / "clip.gif").shape[0] == 4 and (tmp_path / "clip.png").is_file()
    assert np.load(tmp_path / "clip.npz")["x"].shape == (2, 4, 1, 16, 16)


def test_context_is_continued_to_more_frames(run, tmp_path) -> None:
    context = np.random.default_rng(0).integers(0, 256, size=(2, 2, 1, 16, 16), dtype=np.uint8)
    np.savez(tmp_path / "first.npz", x=context)
    assert main(["sample", str(run), "--n", "2", "--context", str(tmp_path / "first.npz"), "--frames", "7",
                 "--steps", "2", "--out", str(tmp_path / "long.gif"), "--npz", str(tmp_path / "long.npz"),
                 "--quiet"]) == 0
    clips = np.load(tmp_path / "long.npz")["x"]
    assert clips.shape == (2, 7, 1, 16, 16) and np.array_equal(clips[:, :2], context)


def test_without_n_each_context_clip_is_continued_once(run, tmp_path) -> None:
    context = np.random.default_rng(1).integers(0, 256, size=(3, 2, 1, 16, 16), dtype=np.uint8)
    np.savez(tmp_path / "first.npz", x=context)
    assert main(["sample", str(run), "--context", str(tmp_path / "first.npz"), "--steps", "2",
                 "--out", str(tmp_path / "c.gif"), "--npz", str(tmp_path / "c.npz"), "--quiet"]) == 0
    clips = np.load(tmp_path / "c.npz")["x"]
    assert clips.shape == (3, 4, 1, 16, 16) and np.array_equal(clips[:, :2], context)


@pytest.mark.parametrize("shape, fragment", [((1, 4, 1, 16, 16), "does not fit the model's window of 4 frames"),
                                             ((1, 2, 1, 12, 12), "context frames of shape (1, 12, 12)")])
def test_bad_context_is_one_line_and_status_2(run, tmp_path, capsys, shape, fragment) -> None:
    np.savez(tmp_path / "ctx.npz", x=np.zeros(shape, dtype=np.uint8))
    assert main(["sample", str(run), "--n", "1", "--context", str(tmp_path / "ctx.npz"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert fragment in err and len(err.splitlines()) == 1


def test_vdm_on_images_is_one_line_and_status_2(tmp_path, capsys) -> None:
    assert main(["train", "vdm", "--data", "digits", "--steps", "1", "--out", str(tmp_path / "r"), "--quiet"]) == 2
    assert "trains on videos" in capsys.readouterr().err
