"""The command line: commands work end to end, bad input ends in one `error:` line and status 2."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from genlab.cli.main import main

TINY = ["--set", "model.channels=[32, 32]", "--set", "model.groups=8", "--set", "diffusion.T=50",
        "--set", "train.log_every=1", "--batch-size", "16"]


def test_help_teaches_with_examples(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    for command in ("train", "sample", "eval", "datasets", "demo"):
        assert command in text
    assert "genlab demo" in text and "examples:" in text


def test_datasets_lists_the_builtin_sets(capsys):
    assert main(["datasets"]) == 0
    text = capsys.readouterr().out
    for name in ("digits", "mnist", "ring8", "grid25", "moons", "swissroll", "checkerboard"):
        assert name in text


def test_train_sample_eval_round_trip(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "ddpm", "--data", "digits", "--steps", "3", "--out", str(run), "--quiet", *TINY]) == 0
    assert (run / "config.json").is_file() and len((run / "log.jsonl").read_text().splitlines()) == 3
    grid = tmp_path / "grid.png"
    npz = tmp_path / "s.npz"
    assert main(["sample", str(run), "--n", "6", "--sample-steps", "5", "--out", str(grid), "--npz", str(npz)]) == 0
    x = np.load(npz)["x"]
    assert x.shape == (6, 1, 8, 8) and x.dtype == np.uint8
    assert Image.open(grid).size[0] > 8
    assert main(["eval", str(run), "--metrics", "bpd", "--n", "4", "--ref", "digits:test", "--quiet",
                 "--batch-size", "4"]) == 0
    result = json.loads((run / "eval" / "bpd_n4.json").read_text())
    assert result["bpd_images"] == 4 and 0 < result["bpd"] < 100


def test_eval_two_image_sets_with_the_classifier(tmp_path, capsys):
    rng = np.random.default_rng(0)
    real = tmp_path / "real.npz"
    fake = tmp_path / "fake.npz"
    np.savez(real, x=rng.integers(0, 256, (40, 1, 28, 28), dtype=np.uint8))
    np.savez(fake, x=np.zeros((40, 1, 28, 28), dtype=np.uint8))
    out = tmp_path / "e.json"
    assert main(["eval", "--real", str(real), "--fake", str(fake), "--metrics", "fid", "--n", "40",
                 "--extractor", "classifier", "--out", str(out), "--quiet"]) == 0
    fid_far = json.loads(out.read_text())["fd_classifier"]
    assert main(["eval", "--real", str(real), "--fake", str(real), "--metrics", "fid", "--n", "40",
                 "--extractor", "classifier", "--out", str(out), "--quiet"]) == 0
    assert json.loads(out.read_text())["fd_classifier"] == pytest.approx(0.0, abs=1e-6) and fid_far > 1.0


@pytest.mark.parametrize("argv, fragment", [
    (["train", "ddpm", "--data", "nosuchset", "--out", "{tmp}/r"], "nosuchset"),
    (["train", "ddpm", "--set", "train.stepz=1", "--out", "{tmp}/r"], "unknown config key 'train.stepz'"),
    (["train", "wobble", "--out", "{tmp}/r"], "unknown family 'wobble'"),
    (["train", "--config", "{tmp}/missing.toml", "--out", "{tmp}/r"], "not found"),
    (["sample", "{tmp}/nothing"], "does not exist"),
    (["eval", "--real", "{tmp}/a.npz"], "both --real and --fake"),
])
def test_bad_input_is_one_line_and_status_2(tmp_path, capsys, argv, fragment):
    code = main([a.replace("{tmp}", str(tmp_path)) for a in argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("error: ") and fragment in err[0]


def test_train_classifier_through_the_loop_and_export_its_weights(tmp_path, capsys):
    run = tmp_path / "clf"
    assert main(["train", "classifier", "--data", "mnist", "--steps", "40", "--batch-size", "64", "--out", str(run),
                 "--quiet", "--set", "data.limit=4000", "--set", "train.lr=2e-3"]) == 0
    info = json.loads((run / "mnist_classifier.json").read_text())
    assert info["test_accuracy"] > 0.5                 # chance is 0.1; 40 steps of a small CNN reach ~0.8-0.9
    assert (run / "mnist_classifier.safetensors").stat().st_size > 10_000
    assert not list((run / "samples").glob("*.png"))  # a classifier draws no sample grids
