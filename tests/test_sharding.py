"""genlab.sharding: sampling and feature extraction shard over processes and give the single-process result;
sampling and eval never hold more than one chunk of images."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import LAUNCHED, free_port, world_of
from genlab.cli.main import main
from genlab.config import apply_overrides, run_config_from_dict
from genlab.data import to_uint8
from genlab.sharding import chunk_slices, shard
from genlab.training.loop import train
from genlab.training.run import load_run

TINY = ["data.name=digits", "model.channels=[32, 32]", "model.groups=8", "train.batch_size=16", "train.log_every=1",
        "train.checkpoint_every=1000", "train.warmup_steps=2", "diffusion.T=100"]
BIN = Path(sys.executable).parent
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("dist") / "run"
    # 28 x 28 (digits upscaled) so that genlab's MNIST classifier can judge the samples
    config = run_config_from_dict(apply_overrides({"family": "ddpm"}, TINY + ["train.steps=2", "data.image_size=28"]))
    train(config, run_dir, progress=False, sample_at_end=False)
    return run_dir


def test_shards_cover_every_chunk_once_for_any_world_size():
    assert [s.stop - s.start for s in chunk_slices(10, 4)] == [4, 4, 2]
    for world in (1, 2, 3, 7):
        ids = sorted(k for r in range(world) for k in shard(5, rank=r, world=world))
        assert ids == [0, 1, 2, 3, 4]


def _reference_images(tmp_path: Path) -> str:
    """20 random 28 x 28 images as an .npz (the MNIST classifier needs 28 x 28; digits are 8 x 8)."""
    path = tmp_path / "ref.npz"
    np.savez(path, x=np.random.default_rng(0).integers(0, 256, (20, 1, 28, 28), dtype=np.uint8))
    return str(path)


SHARDED = LAUNCHED + """
run, ref, out = sys.argv[1:4]
main(["sample", run, "--n", "10", "--batch-size", "3", "--sample-steps", "2", "--out", out + "/g.png",
      "--npz", out + "/s.npz"])
main(["eval", run, "--metrics", "fid,is", "--extractor", "classifier", "--ref", ref, "--n", "10",
      "--batch-size", "3", "--sample-steps", "2", "--out", out + "/e.json", "--quiet"])
"""


def test_sampling_and_eval_sharded_over_two_processes_equal_one_process(tiny_run, tmp_path):
    script = tmp_path / "sharded.py"
    script.write_text(SHARDED)
    ref = _reference_images(tmp_path)
    env = {**ENV, "GENLAB_CACHE": str(tmp_path / "cache")}
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
    subprocess.run([sys.executable, str(script), str(tiny_run), ref, str(tmp_path / "one")], check=True, env=env,
                   capture_output=True)
    two = subprocess.run([str(BIN / "torchrun"), "--nproc_per_node", "2", "--master_port", free_port(), str(script),
                          str(tiny_run), ref, str(tmp_path / "two")], env=env, capture_output=True, text=True)
    assert two.returncode == 0, two.stderr[-2000:]
    assert world_of(two.stderr) == 2
    a, b = np.load(tmp_path / "one" / "s.npz")["x"], np.load(tmp_path / "two" / "s.npz")["x"]
    assert a.shape == (10, 1, 28, 28) and np.array_equal(a, b)
    # ... and they are Run.sample's in a notebook, chunk for chunk
    assert np.array_equal(a, to_uint8(load_run(tiny_run).sample(10, seed=0, batch_size=3, steps=2)).numpy())
    ea, eb = (json.loads((tmp_path / n / "e.json").read_text()) for n in ("one", "two"))
    assert ea["n_fake"] == eb["n_fake"] == 10
    assert ea["fd_classifier"] > 0 and eb["fd_classifier"] == pytest.approx(ea["fd_classifier"], rel=1e-9, abs=1e-9)
    assert eb["classifier_score_mean"] == pytest.approx(ea["classifier_score_mean"], rel=1e-9)


class _SpyFamily:
    """Delegates to a family and records how many items each sample call asked for."""

    def __init__(self, family) -> None:
        self.family, self.sizes = family, []

    def sample(self, models, n, **options):
        self.sizes.append(n)
        return self.family.sample(models, n, **options)


def test_sampling_any_n_asks_the_family_for_at_most_one_chunk(tiny_run):
    run = load_run(tiny_run)
    run.family = _SpyFamily(run.family)
    x = run.sample(11, seed=5, batch_size=4, steps=2)
    assert x.shape == (11, 1, 28, 28)
    assert max(run.family.sizes) == 4 and sum(run.family.sizes) == 11
    # drawing more samples does not change the first chunks (chunk k depends on (seed, k) only)
    assert torch.equal(run.sample(8, seed=5, batch_size=4, steps=2), x[:8])
    assert not torch.equal(x[:4], x[4:8])


def test_eval_fake_pass_holds_one_chunk_of_images_at_a_time(tiny_run, tmp_path, monkeypatch):
    import genlab.metrics.features as features

    seen: list[int] = []
    real_get = features.get_extractor

    def spy_get(name, **kw):
        extractor = real_get(name, **kw)
        inner = extractor.features_and_logits

        def counted(images):
            seen.append(len(images))
            return inner(images)

        extractor.features_and_logits = counted
        return extractor

    monkeypatch.setattr(features, "get_extractor", spy_get)
    monkeypatch.setenv("GENLAB_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "e.json"
    assert main(["eval", str(tiny_run), "--metrics", "fid", "--extractor", "classifier",
                 "--ref", _reference_images(tmp_path),
                 "--n", "14", "--batch-size", "4", "--sample-steps", "2", "--out", str(out), "--quiet"]) == 0
    assert json.loads(out.read_text())["n_fake"] == 14
    assert max(seen) == 4 and sum(seen) == 14 + 14     # 14 fake and the first 14 reference images, 4 at a time


def test_run_networks_go_to_the_process_device(tiny_run, monkeypatch):
    from genlab.sharding import process_device
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert process_device() == torch.device("cpu")          # no GPU: the CPU, launched or not
    run = load_run(tiny_run, device=None)
    assert {p.device for m in run.models.values() for p in m.parameters()} == {torch.device("cpu")}
    assert run.sample(2, seed=0, steps=2).device == torch.device("cpu")


def test_a_label_list_is_cut_per_chunk_like_a_tensor():
    """Labels given as a list reach each chunk's rows, exactly as the same labels given as a tensor."""
    run = load_run(Path(__file__).parent / "data" / "legacy_runs" / "ddpm_cls")
    labels = [0] * 4 + [1] * 4
    as_list = run.sample(8, seed=3, batch_size=4, label=labels, steps=2, precision="fp32")
    as_tensor = run.sample(8, seed=3, batch_size=4, label=torch.tensor(labels), steps=2, precision="fp32")
    assert torch.equal(as_list, as_tensor)          # before the fix, chunk 1 drew class 0 (the list's first 4)
