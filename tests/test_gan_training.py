"""GANs through the one training loop: toy coverage improves on the untrained generator, collapse stops the run
with a clear message, runs resume exactly, and the CLI samples conditional runs by label."""
from __future__ import annotations

import json

import pytest
import numpy as np
import torch

from genlab.cli.main import main
from genlab.config import apply_overrides, run_config_from_dict
from genlab.data import toy_modes
from genlab.errors import TrainingError
from genlab.metrics.toy import mode_coverage
from genlab.training.loop import train
from genlab.training.run import load_run

TOY = ["data.name=ring8", "train.batch_size=128", "train.threads=1", "train.log_every=50",
       "train.checkpoint_every=10000", "train.warmup_steps=0", "model.hidden=[64, 64]"]


def config(*overrides: str):
    return run_config_from_dict(apply_overrides({"family": "gan"}, TOY + list(overrides)))


def coverage(run_dir, *, ema: bool = True) -> int:
    centres, std = toy_modes("ring8")
    return mode_coverage(load_run(run_dir, ema=ema).sample(2500, seed=0).numpy(), centres, std).modes_covered


def test_short_toy_training_covers_more_modes_than_the_untrained_generator(tmp_path):
    cfg = config("train.steps=600", "model.latent_dim=2", "gan.g_lr=5e-4", "gan.d_lr=2e-3")
    train(run_config_from_dict(apply_overrides(cfg.to_dict(), ["train.steps=0"])), tmp_path / "untrained",
          progress=False)
    untrained = coverage(tmp_path / "untrained")
    train(cfg, tmp_path / "trained", progress=False)
    trained = coverage(tmp_path / "trained")
    assert untrained == 0                                      # G(z) starts as a blob near the origin
    assert trained >= 2, f"600 steps covered {trained} of 8 modes"
    rows = [json.loads(line) for line in (tmp_path / "trained" / "log.jsonl").read_text().splitlines()]
    assert {"D_loss", "G_loss", "D(x)", "D(G(z))"} <= rows[-1].keys()


def test_a_discriminator_that_wins_outright_stops_the_run_with_a_clear_message(tmp_path):
    # A frozen generator (g_lr = 0) cannot answer: D separates its blob from the ring and the run must stop.
    cfg = config("train.steps=400", "gan.g_lr=0.0", "gan.d_lr=1e-2", "gan.collapse_patience=20")
    with pytest.raises(TrainingError, match="GAN collapse: the discriminator won outright .* 20 consecutive"):
        train(cfg, tmp_path / "r", progress=False)


def test_gan_runs_resume_exactly(tmp_path):
    extra = ["gan.d_steps=2", "gan.loss=wgan-gp", "train.log_every=1"]
    train(config("train.steps=6", *extra), tmp_path / "full", progress=False)
    train(config("train.steps=3", *extra), tmp_path / "split", progress=False)
    train(config("train.steps=6", *extra), tmp_path / "split", progress=False)
    a, b = load_run(tmp_path / "full"), load_run(tmp_path / "split")
    torch.testing.assert_close(a.sample(32, seed=1), b.sample(32, seed=1), rtol=1e-5, atol=1e-6)


def test_cli_trains_a_conditional_gan_and_samples_one_label(tmp_path, capsys):
    out = tmp_path / "cond"
    assert main(["train", "gan", "--data", "digits", "--steps", "3", "--quiet", "--out", str(out),
                 "--set", "model.condition=projection", "--set", "model.arch=mlp", "--set", "train.batch_size=16",
                 "--set", "train.threads=1"]) == 0
    assert main(["sample", str(out), "--n", "5", "--label", "3", "--out", str(tmp_path / "g.png")]) == 0
    assert (tmp_path / "g.png").is_file()
    run = load_run(out)
    a = run.sample(4, seed=0, label=3)
    assert a.shape == (4, 1, 8, 8) and not torch.equal(a, run.sample(4, seed=0, label=4))
    assert main(["explore", str(out), "classes", "--n", "4", "--scale", "1",
                 "--out", str(tmp_path / "classes.png")]) == 0
    from PIL import Image

    from genlab.viz.grid import label_margins
    _, left = label_margins(row_labels=[str(k) for k in range(10)])  # row k labelled k on the left
    assert Image.open(tmp_path / "classes.png").size == (left + 2 + 4 * 10, 2 + 10 * 10)   # 10 rows of 4 8x8 cells
    # without --label sample i has label i % 10: one column per label, headed by it, under a title line
    assert main(["sample", str(out), "--n", "5", "--scale", "1", "--out", str(tmp_path / "cols.png")]) == 0
    top, _ = label_margins(col_labels=[""], title="column: label")
    assert Image.open(tmp_path / "cols.png").size[1] == top + 2 + 10                       # one row of 5 labels
    # the training grid too: 64 samples in 10 labelled columns, 7 rows, each 8 px cell enlarged 7x
    assert Image.open(out / "samples" / "step_0000003.png").size == (2 + 10 * 58, top + 2 + 7 * 58)
    # over several chunks the labels still run 0..9 across the whole grid, as its column heads say
    assert main(["sample", str(out), "--n", "13", "--batch-size", "4", "--npz", str(tmp_path / "c.npz"),
                 "--out", str(tmp_path / "c.png")]) == 0
    from genlab.data import to_uint8
    want = to_uint8(run.sample(13, seed=0, batch_size=4, label=torch.arange(13) % 10)).numpy()
    np.testing.assert_array_equal(np.load(tmp_path / "c.npz")["x"].reshape(want.shape), want)
    assert main(["sample", str(out), "--n", "5", "--label", "11"]) == 2
    assert "0..9" in capsys.readouterr().err
    plain = tmp_path / "plain"
    assert main(["train", "gan", "--data", "digits", "--steps", "1", "--quiet", "--out", str(plain),
                 "--set", "model.arch=mlp", "--set", "train.batch_size=16"]) == 0
    assert main(["sample", str(plain), "--label", "3"]) == 2
    assert "unconditional" in capsys.readouterr().err
