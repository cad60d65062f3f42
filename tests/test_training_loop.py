"""The training engine: exact resume, atomic checkpoints, NaN and Ctrl-C handling, data parallelism."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from conftest import LAUNCHED, free_port, world_of
from genlab.config import apply_overrides, run_config_from_dict
from genlab.errors import CheckpointError, ConfigError, TrainingError
from genlab.training import session as session_module
from genlab.training.checkpoint import latest_checkpoint, read_weights
from genlab.training.loop import lr_factor, train
from genlab.training.run import load_run

TINY = ["data.name=digits", "model.channels=[32, 32]", "model.groups=8", "train.batch_size=16", "train.log_every=1",
        "train.checkpoint_every=1000", "train.warmup_steps=2", "diffusion.T=100"]
BIN = Path(sys.executable).parent
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def tiny_config(*extra: str):
    return run_config_from_dict(apply_overrides({"family": "ddpm"}, TINY + list(extra)))


def losses(run_dir: Path) -> list[float]:
    return [json.loads(line)["loss"] for line in (run_dir / "log.jsonl").read_text().splitlines()]


def weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(str(latest_checkpoint(run_dir) / "weights.safetensors"))


def test_resumed_run_continues_the_uninterrupted_loss_curve(tmp_path):
    full = train(tiny_config("train.steps=8"), tmp_path / "full", progress=False)
    assert full.step == 8
    train(tiny_config("train.steps=4"), tmp_path / "split", progress=False)
    resumed = train(tiny_config("train.steps=8"), tmp_path / "split", progress=False)
    assert resumed.step == 8
    a, b = losses(tmp_path / "full"), losses(tmp_path / "split")
    assert len(a) == len(b) == 8
    assert a == pytest.approx(b, rel=1e-6, abs=1e-7)
    wa, wb = weights(tmp_path / "full"), weights(tmp_path / "split")
    assert wa.keys() == wb.keys() and any(k.startswith("ema.") for k in wa)
    for key in wa:
        torch.testing.assert_close(wa[key], wb[key], rtol=1e-6, atol=1e-7)


def test_training_lowers_the_loss_and_sampling_works(tmp_path):
    result = train(tiny_config("train.steps=30", "train.lr=3e-3"), tmp_path / "r", progress=False)
    curve = losses(tmp_path / "r")
    assert sum(curve[-5:]) / 5 < 0.6 * sum(curve[:3]) / 3
    run = load_run(tmp_path / "r")
    x = run.sample(5, seed=0, steps=10)
    assert x.shape == (5, 1, 8, 8) and torch.isfinite(x).all() and x.abs().max() <= 1.0
    assert torch.equal(x, run.sample(5, seed=0, steps=10))          # seeded
    assert result.items_per_s > 0


def test_changed_config_refuses_to_resume(tmp_path):
    train(tiny_config("train.steps=2"), tmp_path / "r", progress=False)
    with pytest.raises(ConfigError, match="model.channels"):
        train(tiny_config("train.steps=4", "model.channels=[32, 64]"), tmp_path / "r", progress=False)


def test_a_run_made_before_a_config_key_existed_resumes_with_its_default(tmp_path):
    """config.json of an older genlab lacks keys added since; load_run reads them as their defaults, so resuming
    with the default must work, and resuming with another value must still be refused."""
    run_dir = tmp_path / "r"
    train(tiny_config("train.steps=2"), run_dir, progress=False)
    record = json.loads((run_dir / "config.json").read_text())
    del record["config"]["diffusion"]["prediction"]                  # as if the key were added after the run
    (run_dir / "config.json").write_text(json.dumps(record))
    train(tiny_config("train.steps=3"), run_dir, progress=False)
    assert load_run(run_dir).step == 3
    with pytest.raises(ConfigError, match="diffusion.prediction = 'eps', not 'v'"):
        train(tiny_config("train.steps=4", "diffusion.prediction=v"), run_dir, progress=False)


def test_nan_loss_stops_with_the_step_and_keeps_the_last_checkpoint(tmp_path, monkeypatch):
    real_build = session_module.build_family

    def build_with_nan(config, info):
        family = real_build(config, info)
        real_loss, calls = family.loss, {"n": 0}

        def loss(phase, models, batch):
            calls["n"] += 1
            value, logs = real_loss(phase, models, batch)
            return (value * float("nan") if calls["n"] == 6 else value), logs
        family.loss = loss
        return family

    monkeypatch.setattr(session_module, "build_family", build_with_nan)
    with pytest.raises(TrainingError, match="at step 5") as err:
        train(tiny_config("train.steps=10", "train.checkpoint_every=3"), tmp_path / "r", progress=False)
    assert "step_0000003" in str(err.value)
    assert latest_checkpoint(tmp_path / "r").name == "step_0000003"
    assert load_run(tmp_path / "r").step == 3


def test_interrupted_checkpoint_write_leaves_the_previous_one_intact(tmp_path, monkeypatch):
    train(tiny_config("train.steps=2", "train.checkpoint_every=2"), tmp_path / "r", progress=False)
    from genlab.training import checkpoint as ckpt

    def crash(*args, **kwargs):
        raise OSError("disk full")
    monkeypatch.setattr(ckpt.torch, "save", crash)
    with pytest.raises(OSError):
        train(tiny_config("train.steps=4", "train.checkpoint_every=2"), tmp_path / "r", progress=False)
    monkeypatch.undo()
    assert latest_checkpoint(tmp_path / "r").name == "step_0000002"
    assert load_run(tmp_path / "r").step == 2


def test_corrupt_foreign_and_other_family_checkpoints_are_refused(tmp_path):
    train(tiny_config("train.steps=1"), tmp_path / "r", progress=False)
    folder = latest_checkpoint(tmp_path / "r")
    path = folder / "weights.safetensors"
    good = path.read_bytes()
    path.write_bytes(good[: len(good) // 2])
    with pytest.raises(CheckpointError, match="corrupt"):
        load_run(tmp_path / "r")
    save_file({"w": torch.zeros(2)}, str(path))                      # a safetensors file, not genlab's
    with pytest.raises(CheckpointError, match="not a genlab checkpoint"):
        load_run(tmp_path / "r")
    save_file({"w": torch.zeros(2)}, str(path), metadata={"format": "genlab-checkpoint", "family": "gan"})
    with pytest.raises(CheckpointError, match="'gan' model, expected a 'ddpm'"):
        read_weights(folder, family="ddpm")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="no config.json"):
        load_run(tmp_path / "empty")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_run(tmp_path / "missing")


def test_weights_of_another_shape_are_refused(tmp_path):
    train(tiny_config("train.steps=1"), tmp_path / "r", progress=False)
    shutil.copytree(tmp_path / "r", tmp_path / "r2")
    record = json.loads((tmp_path / "r2" / "config.json").read_text())
    record["config"]["model"]["channels"] = [32, 64]
    (tmp_path / "r2" / "config.json").write_text(json.dumps(record))
    with pytest.raises(CheckpointError, match="does not fit the 'model' network"):
        load_run(tmp_path / "r2")


def test_data_of_another_shape_refuses_to_resume(tmp_path):
    train(tiny_config("train.steps=1"), tmp_path / "r", progress=False)
    with pytest.raises(ConfigError, match=r"shape \[1, 8, 8\].*\[1, 16, 16\]"):
        train(tiny_config("train.steps=2", "data.image_size=16"), tmp_path / "r", progress=False)


def test_lr_schedule_is_a_pure_function_of_the_step():
    assert lr_factor(0, steps=100, warmup=10, schedule="constant") == pytest.approx(0.1)
    assert lr_factor(50, steps=100, warmup=10, schedule="constant") == 1.0
    assert lr_factor(50, steps=100, warmup=0, schedule="cosine") == pytest.approx(0.5)
    assert lr_factor(100, steps=100, warmup=0, schedule="cosine") == pytest.approx(0.0, abs=1e-12)


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "genlab.cli.main", *args]


def test_ctrl_c_saves_a_checkpoint_before_exiting(tmp_path):
    out = tmp_path / "r"
    cmd = _cli("train", "ddpm", "--out", str(out), "--quiet", "--steps", "100000",
               *[a for kv in TINY for a in ("--set", kv)])
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    log = out / "log.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and not (log.exists() and len(log.read_text().splitlines()) >= 3):
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr                # interrupted, even though it stopped cleanly
    assert "stopped at step" in stdout
    step = int(stdout.split("stopped at step ")[1].split()[0])
    assert step >= 3 and latest_checkpoint(out).name == f"step_{step:07d}"


def _initial_weights(run_dir: Path) -> list[torch.Tensor]:
    train(tiny_config("train.steps=0"), run_dir, progress=False)
    w = weights(run_dir)
    return [w[k] for k in sorted(w)]


def test_two_processes_match_one_with_the_same_global_batch(tmp_path):
    torchrun = Path(sys.executable).with_name("torchrun")
    # fp32: the check is 1e-5 agreement of two summation orders, which bf16's 8-bit mantissa does not keep
    common = ["train", "ddpm", "--quiet", "--steps", "6", "--precision", "fp32",
              *[a for kv in TINY for a in ("--set", kv)]]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(_cli(*common, "--out", str(tmp_path / "one")), check=True, env=env, capture_output=True)
    two = subprocess.run([str(torchrun), "--nproc_per_node", "2", "--master_port", free_port(), "-m",
                          "genlab.cli.main", *common, "--out",
                          str(tmp_path / "two")], env=env, capture_output=True, text=True)
    assert two.returncode == 0, two.stderr[-2000:]
    assert losses(tmp_path / "one") == pytest.approx(losses(tmp_path / "two"), rel=1e-5)
    # Adam divides by sqrt(v): on a few weights whose gradient is ~0, summation-order noise flips the
    # update's sign, so the check is on the whole parameter vector rather than element by element.
    wa, wb = weights(tmp_path / "one"), weights(tmp_path / "two")
    a = torch.cat([wa[k].flatten() for k in sorted(wa)])
    b = torch.cat([wb[k].flatten() for k in sorted(wa)])
    start = torch.cat([w.flatten() for w in _initial_weights(tmp_path / "init")])
    assert (a - b).norm() < 1e-3 * (a - start).norm()
    assert (tmp_path / "two" / "log.jsonl").read_text().count("\n") == 6     # written once, not per rank


def test_accelerate_launch_trains_like_one_process(tmp_path):
    script = tmp_path / "launched.py"
    script.write_text(LAUNCHED + "sys.exit(main(sys.argv[1:]))\n")
    # fp32: the check is 1e-5 agreement of two summation orders, which bf16's 8-bit mantissa does not keep
    common = ["train", "ddpm", "--quiet", "--steps", "6", "--precision", "fp32",
              *[a for kv in TINY for a in ("--set", kv)]]
    subprocess.run([sys.executable, "-m", "genlab.cli.main", *common, "--out", str(tmp_path / "one")], check=True,
                   env=ENV, capture_output=True)
    config = Path(__file__).parents[1] / "configs" / "accelerate_cpu2.yaml"
    two = subprocess.run([str(BIN / "accelerate"), "launch", "--config_file", str(config), "--main_process_port",
                          free_port(), str(script), *common, "--out", str(tmp_path / "two")],
                         env=ENV, capture_output=True, text=True)
    assert two.returncode == 0, two.stderr[-2000:]
    assert world_of(two.stderr) == 2
    assert losses(tmp_path / "one") == pytest.approx(losses(tmp_path / "two"), rel=1e-5)
    assert len(losses(tmp_path / "two")) == 6                      # logged once, not once per rank


def test_a_fresh_start_drops_the_log_of_a_start_that_crashed_before_any_checkpoint(tmp_path):
    run_dir = tmp_path / "r"
    run_dir.mkdir()
    (run_dir / "log.jsonl").write_text(json.dumps({"step": 1, "loss": 123.0}) + "\n")   # no checkpoint written
    train(tiny_config("train.steps=3"), run_dir, progress=False)
    rows = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3] and 123.0 not in [r["loss"] for r in rows]


def test_only_genlab_train_advises_running_a_budget_stopped_run_again(tmp_path, capsys):
    from genlab.cli.main import main
    # a budget of 1e-9 s is spent by the first step, whatever the machine: the run stops at step 1 of 50
    result = train(tiny_config("train.steps=50", "train.time_budget=1e-9"), tmp_path / "lib", progress=False,
                   sample_at_end=False)
    assert (result.stopped, result.step) == ("time_budget", 1)
    assert "again" not in capsys.readouterr().out          # the demo, compare and distill plan their own budgets
    sets = [a for kv in [*TINY, "train.sample_n=1"] for a in ("--set", kv)]
    assert main(["train", "ddpm", *sets, "--steps", "50", "--time-budget", "1e-9", "--quiet",
                 "--out", str(tmp_path / "cli")]) == 0
    out = capsys.readouterr().out
    assert "time budget: stopped at step 1 of 50" in out and "run the same command again to resume" in out
