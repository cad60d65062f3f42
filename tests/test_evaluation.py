"""genlab.evaluation: evaluate_run is what `genlab eval` prints; evaluate_images and run_coverage."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from genlab.cli.main import main
from genlab.config import apply_overrides, run_config_from_dict
from genlab.errors import CheckpointError, ModelInputError
from genlab.evaluation import evaluate_images, evaluate_run, parse_source, run_coverage
from genlab.training.checkpoint import read_weights
from genlab.training.loop import train
from genlab.training.run import load_run

pytestmark = pytest.mark.usefixtures("one_thread")
TINY = ["data.name=digits", "data.image_size=28", "model.channels=[32, 32]", "model.groups=8",
        "train.batch_size=16", "train.checkpoint_every=1000", "diffusion.T=100", "train.steps=1"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("eval") / "run"
    train(run_config_from_dict(apply_overrides({"family": "ddpm"}, TINY)), run_dir, progress=False,
          sample_at_end=False)
    return run_dir


@pytest.fixture()
def ref(tmp_path, monkeypatch) -> str:
    monkeypatch.setenv("GENLAB_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "ref.npz"
    np.savez(path, x=np.random.default_rng(0).integers(0, 256, (12, 1, 28, 28), dtype=np.uint8))
    return str(path)


def test_evaluate_run_is_what_the_command_writes(tiny_run, ref, tmp_path):
    got = evaluate_run(tiny_run, metrics=["fid", "pr"], n=6, ref=ref, extractor="classifier", batch_size=3,
                       sampler_options={"steps": 2}, progress=False)
    out = tmp_path / "e.json"
    assert main(["eval", str(tiny_run), "--metrics", "fid,pr", "--n", "6", "--ref", ref, "--extractor",
                 "classifier", "--batch-size", "3", "--steps", "2", "--out", str(out), "--quiet"]) == 0
    written = json.loads(out.read_text())
    assert written.pop("seconds") >= 0 and written == json.loads(json.dumps(got, default=str))
    assert got["n_fake"] == 6 and got["fd_classifier"] > 0 and got["seed"] == 0 and got["run"] == str(tiny_run)
    # a loaded Run is taken as it is
    again = evaluate_run(load_run(tiny_run), metrics=["fid"], n=6, ref=ref, extractor="classifier", batch_size=3,
                         sampler_options={"steps": 2}, progress=False)
    assert again["fd_classifier"] == pytest.approx(got["fd_classifier"], rel=1e-12)


def test_evaluate_images_and_its_errors(ref):
    assert evaluate_images(ref, ref, metrics=["fid"], n=12, extractor="classifier",
                           progress=False)["fd_classifier"] == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ModelInputError, match="need a run"):
        evaluate_images(ref, ref, metrics=["bpd"], n=12)
    with pytest.raises(ModelInputError, match="at least 2"):
        evaluate_images(ref, ref, n=1)
    assert parse_source("mnist:test") == ("mnist", "test") and parse_source("cifar10:/d") == ("cifar10:/d", "test")


def test_run_coverage_counts_the_modes_of_a_toy_run(tmp_path):
    config = run_config_from_dict(apply_overrides({"family": "gan"}, [
        "data.name=ring8", "train.steps=1", "train.checkpoint_every=1000"]))
    train(config, tmp_path / "gan", progress=False, sample_at_end=False)
    cov = run_coverage(load_run(tmp_path / "gan"), n=200, seed=0)
    assert cov.num_modes == 8 and 0 <= cov.modes_covered <= 8 and 0.0 <= cov.high_quality <= 1.0


def test_modes_use_the_asked_sampler_and_the_result_records_it(tmp_path):
    config = run_config_from_dict(apply_overrides({"family": "ddpm"}, [
        "data.name=ring8", "train.steps=2", "train.checkpoint_every=1000", "diffusion.T=50"]))
    train(config, tmp_path / "ddpm", progress=False, sample_at_end=False)
    result = evaluate_run(tmp_path / "ddpm", metrics=["modes"], n=100, sampler_options={"sampler": "heun",
                                                                                       "steps": 3})
    assert result["sampler"] == "heun" and result["steps"] == 3 and result["num_modes"] == 8
    with pytest.raises(ModelInputError, match="sampling steps must be between 1 and T=50, got 999"):
        evaluate_run(tmp_path / "ddpm", metrics=["modes"], n=100, sampler_options={"steps": 999})


def test_a_run_is_loaded_and_evaluated_at_an_earlier_checkpoint(tmp_path):
    config = run_config_from_dict(apply_overrides({"family": "gan"}, [
        "data.name=ring8", "train.steps=3", "train.checkpoint_every=1", "train.keep_checkpoints=3"]))
    train(config, tmp_path / "gan", progress=False, sample_at_end=False)
    first, last = load_run(tmp_path / "gan", step=1), load_run(tmp_path / "gan")
    assert (first.step, last.step) == (1, 3)
    raw, _ = read_weights(tmp_path / "gan" / "checkpoints" / "step_0000001", family="gan")
    g_first = first.models["G"].state_dict()
    assert all(torch.equal(g_first[k], raw[f"ema.G.{k}"]) for k in g_first)      # the weights of that step
    assert any(not torch.equal(g_first[k], last.models["G"].state_dict()[k]) for k in g_first)
    with pytest.raises(CheckpointError, match=r"no checkpoint of step 7; it has steps 1, 2, 3$"):
        load_run(tmp_path / "gan", step=7)
    assert main(["eval", str(tmp_path / "gan"), "--metrics", "modes", "--n", "100", "--step", "2", "--quiet"]) == 0
    written = json.loads((tmp_path / "gan" / "eval" / "modes_step2_n100.json").read_text())  # no extractor: none read
    assert written["step"] == 2 and written["num_modes"] == 8


def test_a_launched_job_computes_modes_once_on_rank_0(tmp_path, monkeypatch):
    import genlab.sharding

    config = run_config_from_dict(apply_overrides({"family": "gan"}, [
        "data.name=ring8", "train.steps=1", "train.checkpoint_every=1000"]))
    train(config, tmp_path / "gan", progress=False, sample_at_end=False)
    run = load_run(tmp_path / "gan")
    monkeypatch.setattr(genlab.sharding, "process_rank", lambda: (1, 2))
    monkeypatch.setattr(type(run), "sample", lambda *a, **k: pytest.fail("rank 1 sampled"))
    assert evaluate_run(run, metrics=["modes"], n=100) == {}
