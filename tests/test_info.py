"""`genlab info` and `genlab --version`: what a run folder holds, counted independently of the code under test."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from genlab import __version__
from genlab.cli.main import main
from genlab.config import apply_overrides, run_config_from_dict
from genlab.inspection import run_info
from genlab.training.loop import train
from genlab.training.run import load_run

TINY = ["data.name=ring8", "train.batch_size=32", "train.steps=7", "train.checkpoint_every=5", "train.log_every=2",
        "model.hidden=16", "model.layers=2", "diffusion.T=20",
        "diffusion.sample_steps=5"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("info") / "run"
    train(run_config_from_dict(apply_overrides({"family": "ddpm"}, TINY)), run_dir, progress=False,
          sample_at_end=False)
    return run_dir


def test_info_counts_steps_checkpoints_and_parameters_of_a_real_run(tiny_run):
    info = run_info(tiny_run)
    net = load_run(tiny_run).models["model"]
    assert info["family"] == "ddpm" and info["data"] == "ring8" and info["step"] == 7 and info["steps_planned"] == 7
    assert info["checkpoints"] == ["step_0000005", "step_0000007"]
    assert info["parameters"] == {"model": sum(p.numel() for p in net.parameters())}
    assert info["last_log"]["step"] == 7 and info["data_info"]["shape"] == [2]


def test_info_lists_eval_results_and_prints_text_and_json(tiny_run, tmp_path, capsys):
    run_dir = tmp_path / "run"
    shutil.copytree(tiny_run, run_dir)
    (run_dir / "eval").mkdir()
    (run_dir / "eval" / "modes_n100.json").write_text(json.dumps({"modes_covered": 6, "high_quality": 0.5}))
    assert main(["info", str(run_dir)]) == 0
    text = capsys.readouterr().out
    assert "steps       7 of 7" in text and "modes_covered 6" in text and "ddpm" in text
    assert main(["info", str(run_dir), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["evals"][0]["high_quality"] == 0.5


def test_info_says_when_a_time_budget_stopped_the_run_and_forgets_it_once_the_run_completes(tiny_run, tmp_path,
                                                                                          capsys):
    assert run_info(tiny_run)["stopped"] is None                  # a run that reached train.steps
    run_dir = tmp_path / "budget"
    config = apply_overrides({"family": "ddpm"}, [*TINY, "train.time_budget=1e-9", "train.budget_clock=cpu"])
    result = train(run_config_from_dict(config), run_dir, progress=False, sample_at_end=False)
    assert result.stopped == "time_budget" and result.step == 1
    assert main(["info", str(run_dir)]) == 0
    text = capsys.readouterr().out
    assert "steps       1 of 7; stopped by its time budget (1e-09 CPU seconds)\n" in text
    config["train"]["time_budget"] = 0.0                         # resumed without a budget: it completes
    assert train(run_config_from_dict(config), run_dir, progress=False, sample_at_end=False).step == 7
    assert run_info(run_dir)["stopped"] is None


def test_info_on_a_missing_or_corrupt_run_is_one_line(tiny_run, tmp_path, capsys):
    assert main(["info", str(tmp_path / "nowhere")]) == 2
    assert "does not exist" in capsys.readouterr().err
    run_dir = tmp_path / "run"
    shutil.copytree(tiny_run, run_dir)
    (run_dir / "checkpoints" / "step_0000007" / "trainer.json").write_text("{not json")
    assert main(["info", str(run_dir)]) == 2
    assert "trainer.json is not valid JSON" in capsys.readouterr().err


def test_version_flag_prints_the_package_version(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0 and capsys.readouterr().out.strip() == f"genlab {__version__}"
