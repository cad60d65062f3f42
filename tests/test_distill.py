"""Progressive distillation (Salimans & Ho 2022): the target math against closed forms, the nested grids, and
`genlab distill` end to end on a tiny teacher (stages, resume, warm start, guidance, one-line errors)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from genlab.cli.main import main
from genlab.diffusion import Denoiser, NoiseSchedule, sample_ddim, timesteps
from genlab.distill.family import DistillFamily
from genlab.distill.grid import coefficients_to_clean, grid, halvings, pair_steps, stage_plan
from genlab.distill.target import implied_x0, truncated_snr_weight, two_step_target, weighted_x_loss
from genlab.errors import ConfigError

SCHEDULES = {"linear": NoiseSchedule.from_name("linear", T=1000), "cosine": NoiseSchedule.from_name("cosine", T=64)}
M, S = 0.3, 0.5


def _gaussian_v(schedule: NoiseSchedule):
    """The exact v-network for data N(M, S^2), per row of t (B,) long: v = alpha eps - sigma E[x0 | x_t]."""
    def net(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        a, s = coefficients_to_clean(schedule, t, x_t)
        x0 = M + a * S * S / (a * a * S * S + s * s) * (x_t - a * M)
        return a * (x_t - a * x0) / s - s * x0
    return net


def _ideal_student(teacher: Denoiser, schedule: NoiseSchedule, n: int):
    """A v-network of n steps that outputs, at each of its grid steps, the v of Algorithm 2's target x~."""
    steps = grid(schedule.T, n)

    def net(z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        index = (steps[:-1][None, :] == t[:, None]).long().argmax(dim=1)
        t_, t_mid, t_next = pair_steps(schedule.T, n, index)
        assert torch.equal(t_, t)
        a, s = coefficients_to_clean(schedule, t, z)
        x_target = two_step_target(teacher.x0_eps, z, t=t, t_mid=t_mid, coef_t=(a, s),
                                   coef_mid=coefficients_to_clean(schedule, t_mid, z),
                                   coef_next=coefficients_to_clean(schedule, t_next, z))
        return (a * z - x_target) / s                         # x0 = alpha z - sigma v, solved for v
    return net


@pytest.mark.parametrize("name", SCHEDULES)
@pytest.mark.parametrize("n", [1, 2, 4, 16])
def test_one_student_ddim_step_lands_where_two_teacher_steps_land(name, n):
    schedule = SCHEDULES[name]
    teacher = Denoiser(_gaussian_v(schedule), schedule, prediction="v")
    student = Denoiser(_ideal_student(teacher, schedule, n), schedule, prediction="v")
    x_T = torch.linspace(-3.0, 3.0, 13, dtype=torch.float64)[:, None]
    two_n = sample_ddim(teacher, x_T, timesteps(schedule.T, 2 * n, spacing="trailing"), clip_x0=False)
    one_n = sample_ddim(student, x_T, timesteps(schedule.T, n, spacing="trailing"), clip_x0=False)
    assert torch.allclose(one_n, two_n, rtol=0, atol=1e-10)
    if n == 1:                                                 # one step: the teacher's x0 at the midpoint
        mid = int(timesteps(schedule.T, 2, spacing="trailing")[1])
        z_mid = sample_ddim(teacher, x_T, [schedule.T - 1, mid], clip_x0=False, final_alpha_one=True)
        assert torch.allclose(one_n, z_mid, atol=1e-10)


def test_the_loss_is_zero_for_the_ideal_student_and_weighted_otherwise():
    schedule = SCHEDULES["linear"]
    teacher = Denoiser(_gaussian_v(schedule), schedule, prediction="v")
    student = Denoiser(_ideal_student(teacher, schedule, 4), schedule, prediction="v")
    t = torch.tensor([999, 749, 499, 249], dtype=torch.long)
    z = torch.randn(4, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    _, t_mid, t_next = pair_steps(1000, 4, torch.arange(4))
    a, s = coefficients_to_clean(schedule, t, z)
    target = two_step_target(teacher.x0_eps, z, t=t, t_mid=t_mid, coef_t=(a, s),
                             coef_mid=coefficients_to_clean(schedule, t_mid, z),
                             coef_next=coefficients_to_clean(schedule, t_next, z))
    weight = truncated_snr_weight(a, s)
    assert torch.allclose(weighted_x_loss(student.x0(z, t), target, weight), torch.zeros(4, dtype=torch.float64),
                          atol=1e-18)
    off = weighted_x_loss(target + 0.1, target, weight)              # an error of 0.1 everywhere: w * 0.01
    assert torch.allclose(off, weight.reshape(-1) * 0.01)


def test_truncated_snr_weight_by_hand():
    # abar = 0.8: SNR = 4 -> 4; abar = 0.5: SNR = 1 -> 1; abar = 0.2: SNR = 0.25 -> 1 (truncated)
    abar = torch.tensor([0.8, 0.5, 0.2], dtype=torch.float64)
    weight = truncated_snr_weight(abar.sqrt(), (1 - abar).sqrt())
    assert torch.allclose(weight, torch.tensor([4.0, 1.0, 1.0], dtype=torch.float64))


def test_implied_x0_at_the_end_of_the_chain_is_the_teachers_point():
    z_t, z_end = torch.randn(5, 2), torch.randn(5, 2)
    assert torch.equal(implied_x0(z_t, z_end, alpha_t=0.3, sigma_t=0.9, alpha_s=1.0, sigma_s=0.0), z_end)


@pytest.mark.parametrize("T,n", [(1000, 1), (1000, 4), (1000, 32), (1000, 500), (64, 32), (20, 8), (7, 3)])
def test_the_n_grid_is_every_other_step_of_the_2n_grid(T, n):
    coarse, fine = grid(T, n), grid(T, 2 * n)
    assert torch.equal(coarse[:-1], timesteps(T, n, spacing="trailing"))
    assert torch.equal(fine[:-1], timesteps(T, 2 * n, spacing="trailing"))
    assert torch.equal(fine[::2], coarse) and coarse[-1] == -1          # after the last step: alpha-bar = 1
    assert bool((fine[1::2] < coarse[:-1]).all() and (fine[1::2] > coarse[1:]).all())   # strictly between
    t, t_mid, t_next = pair_steps(T, n, torch.arange(n))
    assert torch.equal(t, coarse[:-1]) and torch.equal(t_mid, fine[1::2]) and torch.equal(t_next, coarse[1:])


def test_coefficients_reach_clean_data_past_the_last_step():
    schedule = SCHEDULES["linear"]
    a, s = coefficients_to_clean(schedule, torch.tensor([-1, 0, 999]), torch.zeros(3, 1, 1, 1))
    assert a.shape == (3, 1, 1, 1)
    assert a[0].item() == 1.0 and s[0].item() == 0.0
    assert a[2].item() == pytest.approx(float(schedule.sqrt_alphas_cumprod[999]), rel=1e-6)


def test_stage_plan_halves_and_names_the_allowed_targets():
    assert halvings(64) == [32, 16, 8, 4, 2, 1] and halvings(48) == [24, 12, 6, 3]
    assert stage_plan(1000, 64, 4) == [32, 16, 8, 4]
    with pytest.raises(ConfigError, match="expected one of: 32, 16, 8, 4, 2, 1"):
        stage_plan(1000, 64, 5)
    with pytest.raises(ConfigError, match="expected one of: 32, 16, 8, 4, 2, 1"):
        stage_plan(1000, 64, 64)
    with pytest.raises(ConfigError, match="between 2 and the teacher's T = 20"):
        stage_plan(20, 32, 4)


# --- `genlab distill` end to end on tiny teachers -------------------------------------------------------------

RING = ["--set", "model.hidden=16", "--set", "model.layers=2", "--set", "diffusion.T=20",
        "--set", "diffusion.sample_steps=4", "--set", "diffusion.prediction=v", "--set", "data.limit=64",
        "--set", "train.threads=1", "--set", "train.warmup_steps=0", "--batch-size", "16", "--quiet"]
DISTILL = ["--steps-per-stage", "3", "--batch-size", "16", "--quiet"]


def _cli(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def _config(run: Path) -> dict:
    return json.loads((run / "config.json").read_text())["config"]


def _log_steps(run: Path) -> list[int]:
    return [json.loads(line)["step"] for line in (run / "log.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def ring_teacher(tmp_path_factory) -> Path:
    """A two-step ddpm on the ring of 8 Gaussians (MLP, T = 20, DDIM 4 steps): from_steps defaults to 4."""
    run = tmp_path_factory.mktemp("teacher") / "ring"
    assert main(["train", "ddpm", "--data", "ring8", *RING, "--steps", "2", "--out", str(run)]) == 0
    return run


def _weights(run: Path, *, ema: bool) -> dict[str, torch.Tensor]:
    from genlab.training.run import load_run
    return load_run(run, ema=ema).models["model"].state_dict()


def test_distill_to_one_step_makes_stages_that_sample_and_skips_them_when_run_again(ring_teacher, tmp_path, capsys):
    out = tmp_path / "student"
    code, text, err = _cli(["distill", ring_teacher, "--to-steps", 1, *DISTILL, "--out", out], capsys)
    assert code == 0, err
    stage = out / "stages" / "steps_2"
    assert "stage 4 -> 2 steps: 3 optimiser steps" in text and "stage 2 -> 1 steps: 3 optimiser steps" in text
    for run, n, teacher in [(stage, 2, ring_teacher), (out, 1, stage)]:
        config = _config(run)
        assert config["family"] == "distill"
        assert {k: config["diffusion"][k] for k in ("sampler", "sample_steps", "spacing", "eta", "prediction")} == \
            {"sampler": "ddim", "sample_steps": n, "spacing": "trailing", "eta": 0.0, "prediction": "v"}
        assert config["distill"]["teacher"] == str(teacher.resolve()) and config["distill"]["teacher_steps"] == 2 * n
        assert _log_steps(run) == [1, 2, 3] and json.loads((run / "stage.json").read_text())["train_steps"] == 3
    assert not (out / "stages" / "steps_1").exists()
    code, _, err = _cli(["sample", out, "--n", 4, "--out", tmp_path / "s.png", "--quiet"], capsys)
    assert code == 0 and (tmp_path / "s.png").is_file(), err
    code, text, err = _cli(["eval", out, "--metrics", "modes", "--n", 50, "--spacing", "trailing", "--quiet"], capsys)
    assert code == 0 and "modes_covered" in text, err
    logs = {run: (run / "log.jsonl").read_text() for run in (stage, out)}
    code, text, err = _cli(["distill", ring_teacher, "--to-steps", 1, *DISTILL, "--out", out], capsys)
    assert code == 0, err
    assert text.count("finished earlier, skipped") == 2
    assert all((run / "log.jsonl").read_text() == rows for run, rows in logs.items())
    code, _, err = _cli(["distill", ring_teacher, "--to-steps", 2, *DISTILL, "--out", out], capsys)   # OUT is 1-step
    assert code == 2 and "holds a finished 1-step student, not a 2-step one: pick another --out" in err


def test_an_interrupted_stage_resumes_to_the_weights_of_an_uninterrupted_one(ring_teacher, tmp_path, monkeypatch,
                                                                             capsys):
    import os
    import signal

    from genlab.training import session as session_module

    whole, cut = tmp_path / "whole", tmp_path / "cut"
    assert _cli(["distill", ring_teacher, "--to-steps", 2, *DISTILL, "--out", whole], capsys)[0] == 0
    real_build = session_module.build_family

    def build_and_interrupt(config, info):
        family = real_build(config, info)
        real_loss, calls = family.loss, {"n": 0}

        def loss(phase, models, batch):
            calls["n"] += 1
            if calls["n"] == 2:
                os.kill(os.getpid(), signal.SIGINT)             # one Ctrl-C: the loop stops after this step
            return real_loss(phase, models, batch)
        family.loss = loss
        return family
    monkeypatch.setattr(session_module, "build_family", build_and_interrupt)
    code, _, err = _cli(["distill", ring_teacher, "--to-steps", 2, *DISTILL, "--out", cut], capsys)
    assert code == 130, err
    assert not (cut / "stage.json").exists() and _log_steps(cut) == [1, 2]
    monkeypatch.setattr(session_module, "build_family", real_build)

    def no_warm_start(self, models):
        raise AssertionError("a resumed student must keep its own weights")
    monkeypatch.setattr(DistillFamily, "warm_start", no_warm_start)
    code, text, err = _cli(["distill", ring_teacher, "--to-steps", 2, *DISTILL, "--out", cut], capsys)
    assert code == 0 and f"resuming {cut} from step 2" in text, err
    assert _log_steps(cut) == [1, 2, 3]
    for ema in (False, True):
        a, b = _weights(whole, ema=ema), _weights(cut, ema=ema)
        assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_fresh_student_starts_from_the_teachers_ema_weights(ring_teacher, tmp_path):
    from genlab.distill.progressive import Budget, stage_config, teacher_record
    from genlab.training.loop import train

    config = stage_config(teacher_record(ring_teacher), teacher_dir=ring_teacher, student_steps=2,
                          budget=Budget(steps=0), guidance=1.0)
    train(config, tmp_path / "s", progress=False)                  # 0 steps: the initial weights are saved
    teacher, student = _weights(ring_teacher, ema=True), _weights(tmp_path / "s", ema=False)
    assert set(teacher) == set(student) and all(torch.equal(teacher[k], student[k]) for k in teacher)
    assert not all(torch.equal(teacher[k], _weights(ring_teacher, ema=False)[k]) for k in teacher)   # EMA, not raw


def test_a_student_loads_and_samples_without_its_teacher(ring_teacher, tmp_path, capsys):
    import shutil
    teacher = tmp_path / "teacher"
    shutil.copytree(ring_teacher, teacher)
    out = tmp_path / "student"
    assert _cli(["distill", teacher, "--to-steps", 2, *DISTILL, "--out", out], capsys)[0] == 0
    shutil.rmtree(teacher)
    code, _, err = _cli(["sample", out, "--n", 4, "--out", tmp_path / "s.png", "--quiet"], capsys)
    assert code == 0, err


def test_a_guided_class_conditional_teacher_distils_into_a_one_call_student(tmp_path, capsys):
    teacher, out = tmp_path / "cfg", tmp_path / "cfg_1"
    tiny = ["--data", "digits", "--set", "model.channels=[16, 16]", "--set", "model.groups=8",
            "--set", "diffusion.T=20", "--set", "diffusion.sample_steps=2", "--set", "diffusion.prediction=v",
            "--set", "condition.kind=class", "--set", "data.limit=64", "--set", "train.threads=1",
            "--set", "train.sample_n=4", "--batch-size", "16", "--quiet"]
    assert main(["train", "ddpm", *tiny, "--steps", "2", "--out", str(teacher)]) == 0
    code, text, err = _cli(["distill", teacher, "--to-steps", 1, "--guidance", 2, *DISTILL, "--out", out], capsys)
    assert code == 0, err
    config = _config(out)
    assert config["condition"]["kind"] == "class" and config["condition"]["guidance"] == 1.0
    assert config["condition"]["label_dropout"] == 0.0 and config["distill"]["guidance"] == 2.0
    code, _, err = _cli(["sample", out, "--n", 4, "--label", 3, "--out", tmp_path / "s.png", "--quiet"], capsys)
    assert code == 0, err


def test_the_guided_target_mixes_two_teacher_calls_and_the_student_makes_one(tmp_path):
    """Each teacher step of the target runs the doubled (conditional + null) batch; the student one plain batch."""
    from genlab.config import apply_overrides, run_config_from_dict
    from genlab.training.objective import Batch, BatchRandom, DataInfo
    from genlab.training.run import build_family

    info = DataInfo(kind="image", shape=(1, 8, 8), num_classes=10)
    values = apply_overrides({"family": "ddpm"}, ["model.channels=[16, 16]", "model.groups=8", "diffusion.T=20",
                                                  "diffusion.sample_steps=2",
                                                  "diffusion.prediction=v", "condition.kind=class"])
    teacher_family = build_family(run_config_from_dict(values), info)
    values = apply_overrides(values, ["family=distill", "distill.teacher=unused", "distill.teacher_steps=2",
                                      "distill.guidance=3", "diffusion.sample_steps=1", "diffusion.spacing=trailing",
                                      "condition.label_dropout=0"])
    student_family = build_family(run_config_from_dict(values), info)
    teacher_net, student_net = teacher_family.build_models()["model"], student_family.build_models()["model"]
    sizes: dict[str, list[int]] = {"teacher": [], "student": []}
    for name, net in (("teacher", teacher_net), ("student", student_net)):
        net.register_forward_hook(lambda m, args, out, name=name: sizes[name].append(args[0].shape[0]))

    class _Run:                                   # what the family reads of a loaded teacher run
        models, family = {"model": teacher_net.eval()}, teacher_family
    student_family._teacher = _Run()             # type: ignore[assignment]
    batch = Batch(x=torch.zeros(4, 1, 8, 8), y=torch.arange(4),
                  rng=BatchRandom(torch.Generator().manual_seed(0), global_size=4, start=0, size=4))
    loss, _ = student_family.loss("denoise", {"model": student_net}, batch)
    assert torch.isfinite(loss) and sizes == {"teacher": [8, 8], "student": [4]}


def test_the_linear_learning_rate_anneals_to_zero_over_the_stage():
    from genlab.training.loop import lr_factor
    assert [lr_factor(s, steps=100, warmup=0, schedule="linear") for s in (0, 50, 99, 100)] == \
        pytest.approx([1.0, 0.5, 0.01, 0.0])


def test_distill_help_teaches_with_examples(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["distill", "--help"])
    text = capsys.readouterr().out
    assert exit_.value.code == 0 and "examples:" in text and "--to-steps" in text and "trailing" in text


def test_a_latent_diffusion_teacher_distils_into_a_latent_student(tmp_path, capsys):
    from genlab.config import apply_overrides, run_config_from_dict
    from genlab.training.loop import train

    autoencoder, teacher, out = tmp_path / "ae", tmp_path / "ldm", tmp_path / "ldm_1"
    ae = ["data.name=digits", "data.limit=64", "model.arch=conv_map", "model.channels=[8, 16]",
          "model.latent_channels=3", "train.batch_size=16", "train.steps=2", "train.threads=1", "vae.beta=0.01"]
    train(run_config_from_dict(apply_overrides({"family": "vae"}, ae)), autoencoder, progress=False,
          sample_at_end=False)
    args = ["train", "ldm", "--data", "digits", "--autoencoder", autoencoder, "--steps", 2, "--batch-size", 16,
            "--out", teacher, "--quiet"]
    for override in ["model.channels=[16, 16]", "model.groups=8", "diffusion.T=20", "diffusion.sample_steps=2",
                     "diffusion.prediction=v", "data.limit=64", "train.threads=1", "train.sample_n=4"]:
        args += ["--set", override]
    assert _cli(args, capsys)[0] == 0
    code, _, err = _cli(["distill", teacher, "--to-steps", 1, *DISTILL, "--out", out], capsys)
    assert code == 0, err
    config = _config(out)
    assert config["family"] == "distill_ldm" and config["latent"] == _config(teacher)["latent"]
    code, _, err = _cli(["sample", out, "--n", 4, "--out", tmp_path / "s.png", "--quiet"], capsys)
    assert code == 0, err


def test_an_eps_teacher_gives_v_students_and_says_so(tmp_path, capsys):
    teacher, out = tmp_path / "eps", tmp_path / "eps_2"
    args = [a if a != "diffusion.prediction=v" else "diffusion.prediction=eps" for a in RING]
    assert main(["train", "ddpm", "--data", "ring8", *args, "--steps", "2", "--out", str(teacher)]) == 0
    code, text, err = _cli(["distill", teacher, "--to-steps", 2, *DISTILL, "--out", out], capsys)
    assert code == 0 and "note: the teacher predicts eps, its students v" in text, err
    assert _config(out)["diffusion"]["prediction"] == "v"


def test_the_library_call_genlab_compare_makes(ring_teacher, tmp_path):
    """distill(run, out, to_steps=..., seconds_per_stage=...) and stage_steps, as genlab.compare.runner calls them."""
    from genlab.distill.progressive import distill, stage_steps

    assert stage_steps(ring_teacher, to_steps=1) == [2, 1]
    results = distill(ring_teacher, tmp_path / "s", to_steps=1, seconds_per_stage=60.0, progress=False,
                      echo=lambda line: None)
    assert [(r.steps, r.run_dir) for r in results] == [(2, tmp_path / "s" / "stages" / "steps_2"), (1, tmp_path / "s")]
    assert all(r.train_steps == 300 and r.seconds > 0 and r.items_per_s > 0 for r in results)
    assert _config(tmp_path / "s")["train"]["time_budget"] == 60.0
