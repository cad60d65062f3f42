"""Hardware-chosen settings: train.precision = "auto" from CPU flags (or a probe), and threads from cores and ranks."""
from __future__ import annotations

import json
import sys
import tomllib
from pathlib import Path

import pytest
import torch

from genlab.config import TrainConfig, apply_overrides, run_config_from_dict
from genlab.errors import ConfigError
from genlab.nn import hardware
from genlab.nn.cpu_load import busy_cores_of_others, cpu_ticks, free_core_threads, own_ticks
from genlab.nn.hardware import (available_cores, cgroup_cpu_limit, cpu_features, default_threads,
                                resolve_precision)
from genlab.sharding import SamplingProgress

ROOT = Path(__file__).resolve().parents[1]

X86_AVX2 = """processor	: 0
vendor_id	: AuthenticAMD
model name	: AMD EPYC 7B12
flags		: fpu vme sse sse2 ssse3 avx avx2 fma bmi2 avx512f avx512bw
"""
X86_AVX512_BF16 = X86_AVX2.replace("avx512bw", "avx512bw avx512_bf16 avx512_vnni")
X86_AMX = X86_AVX2.replace("avx512bw", "avx512bw amx_tile amx_bf16 amx_int8")
ARM_BF16 = """processor	: 0
BogoMIPS	: 2100.00
Features	: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm bf16 i8mm
CPU implementer	: 0x41
"""
ARM_NO_BF16 = ARM_BF16.replace(" bf16 i8mm", "")


@pytest.fixture(autouse=True)
def fresh_cache():
    """resolve_precision caches "auto" per device and cpuinfo path: start each test without it."""
    hardware._auto.cache_clear()
    yield
    hardware._auto.cache_clear()


def _cpuinfo(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cpuinfo"
    path.write_text(text)
    return path


@pytest.mark.parametrize("text, expected, flag", [
    (X86_AVX2, "fp32", "no avx512_bf16"),
    (X86_AVX512_BF16, "bf16", "avx512_bf16"),
    (X86_AMX, "bf16", "amx_bf16"),
    (ARM_BF16, "bf16", "bf16 (ARM)"),
    (ARM_NO_BF16, "fp32", "no avx512_bf16"),
])
def test_auto_precision_follows_the_cpu_flags(tmp_path, monkeypatch, text, expected, flag):
    monkeypatch.setattr(hardware, "probe_bf16", lambda device: pytest.fail("flags were readable: no probe"))
    precision, reason = resolve_precision("auto", "cpu", cpuinfo_path=_cpuinfo(tmp_path, text))
    assert precision == expected
    assert reason.startswith(f"{expected}: ") and flag in reason


@pytest.mark.parametrize("env, limited", [
    ({"ONEDNN_MAX_CPU_ISA": "AVX2"}, "ONEDNN_MAX_CPU_ISA=AVX2"),
    ({"ONEDNN_MAX_CPU_ISA": "avx512_core"}, "ONEDNN_MAX_CPU_ISA=AVX512_CORE"),
    ({"ATEN_CPU_CAPABILITY": "avx2"}, "ATEN_CPU_CAPABILITY=avx2"),
    ({"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_BF16"}, None),
    ({"ONEDNN_MAX_CPU_ISA": "ALL", "ATEN_CPU_CAPABILITY": "avx512"}, None),
])
def test_a_cpu_with_bf16_limited_to_an_isa_without_it_trains_in_fp32(tmp_path, monkeypatch, env, limited):
    for key in ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    precision, reason = resolve_precision("auto", "cpu", cpuinfo_path=_cpuinfo(tmp_path, X86_AVX512_BF16))
    assert precision == ("bf16" if limited is None else "fp32")
    assert limited is None or (limited in reason and "avx512_bf16" in reason)


@pytest.mark.parametrize("fast", [True, False])
def test_unreadable_cpu_flags_fall_back_to_the_timed_probe(tmp_path, monkeypatch, fast):
    calls = []

    def probe(device: torch.device) -> tuple[bool, str]:
        calls.append(device)
        return fast, "timed probe: bf16 took 0.40x the time of fp32"
    monkeypatch.setattr(hardware, "probe_bf16", probe)
    precision, reason = resolve_precision("auto", "cpu", cpuinfo_path=tmp_path / "missing")   # e.g. macOS
    assert precision == ("bf16" if fast else "fp32")
    assert "timed probe" in reason and "unreadable" in reason
    resolve_precision("auto", "cpu", cpuinfo_path=tmp_path / "missing")
    assert calls == [torch.device("cpu")]                 # probed once, then cached


def test_cpuinfo_without_a_flags_line_is_probed(tmp_path, monkeypatch):
    monkeypatch.setattr(hardware, "probe_bf16", lambda device: (False, "timed probe: bf16 took 3.10x"))
    assert cpu_features("processor : 0\nmodel name : something\n") is None
    assert resolve_precision("auto", "cpu", cpuinfo_path=_cpuinfo(tmp_path, "processor : 0\n"))[0] == "fp32"


def test_probe_answers_with_a_ratio():
    fast, reason = hardware.probe_bf16(torch.device("cpu"), pairs=1)
    assert isinstance(fast, bool) and reason.startswith("timed probe: bf16 took ")


def test_explicit_precisions_pass_through_and_unknown_ones_are_one_line_errors():
    assert resolve_precision("fp32", "cpu") == ("fp32", "fp32: set in the config")
    assert resolve_precision("bf16") == ("bf16", "bf16: set in the config")
    with pytest.raises(ConfigError, match="precision 'fp16'"):
        resolve_precision("fp16", "cpu")


def test_auto_is_the_default_everywhere():
    from genlab.demo import DEMO_CONFIG

    assert TrainConfig().precision == "auto"
    assert DEMO_CONFIG["train"]["precision"] == "auto"
    for name in ("ddpm_mnist.toml", "ldm_class_pixel.toml"):
        assert tomllib.loads((ROOT / "configs" / name).read_text())["train"]["precision"] == "auto"
    assert '"precision": "auto"' in (ROOT / "README.md").read_text()


def _fake_cgroup(root: Path, *, v2: str | None = None, v1: tuple[int, int] | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    if v2 is not None:
        (root / "cpu.max").write_text(v2 + "\n")
    if v1 is not None:
        (root / "cpu").mkdir()
        (root / "cpu" / "cpu.cfs_quota_us").write_text(f"{v1[0]}\n")
        (root / "cpu" / "cpu.cfs_period_us").write_text(f"{v1[1]}\n")
    return root


def test_cgroup_quota_v2_and_v1(tmp_path):
    assert cgroup_cpu_limit(_fake_cgroup(tmp_path / "a", v2="150000 100000")) == 1.5
    assert cgroup_cpu_limit(_fake_cgroup(tmp_path / "b", v2="max 100000")) is None
    assert cgroup_cpu_limit(_fake_cgroup(tmp_path / "c", v1=(300000, 100000))) == 3.0
    assert cgroup_cpu_limit(_fake_cgroup(tmp_path / "d", v1=(-1, 100000))) is None
    assert cgroup_cpu_limit(tmp_path / "none") is None


def test_threads_follow_affinity_quota_and_local_ranks(tmp_path, monkeypatch):
    monkeypatch.setattr(hardware.os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    free = _fake_cgroup(tmp_path / "free", v2="max 100000")
    quota = _fake_cgroup(tmp_path / "quota", v2="250000 100000")      # 2.5 CPUs
    assert available_cores(cgroup_root=free) == 8
    assert available_cores(cgroup_root=quota) == 3                    # rounded up
    quiet = lambda: 0.0                                               # noqa: E731  no other process runs
    assert default_threads(environ={}, cgroup_root=free, busy_others=quiet) == 8
    assert default_threads(environ={"LOCAL_WORLD_SIZE": "2"}, cgroup_root=free) == 4
    assert default_threads(environ={"LOCAL_WORLD_SIZE": "2"}, cgroup_root=quota) == 1
    assert default_threads(environ={"LOCAL_WORLD_SIZE": "16"}, cgroup_root=free) == 1    # at least one
    assert default_threads(environ={"GENLAB_THREADS": "3", "LOCAL_WORLD_SIZE": "2"}, cgroup_root=free) == 3
    for bad in ("0", "-1", "two"):
        with pytest.raises(ConfigError, match="GENLAB_THREADS"):
            default_threads(environ={"GENLAB_THREADS": bad}, cgroup_root=free)


def test_a_single_process_takes_the_cores_others_leave_free(tmp_path, monkeypatch):
    monkeypatch.setattr(hardware.os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    free = _fake_cgroup(tmp_path / "free", v2="max 100000")
    assert default_threads(environ={}, cgroup_root=free, busy_others=lambda: 2.6) == 5      # 5.4 free cores
    assert default_threads(environ={}, cgroup_root=free, busy_others=lambda: 7.9) == 1      # at least one
    assert default_threads(environ={}, cgroup_root=free, busy_others=lambda: None) == 8     # unknown load: all
    # launched ranks split the cores among themselves and do not look at the load
    assert default_threads(environ={"LOCAL_WORLD_SIZE": "2"}, cgroup_root=free, busy_others=lambda: 7.9) == 4
    assert default_threads(environ={"GENLAB_THREADS": "3"}, cgroup_root=free, busy_others=lambda: 7.9) == 3
    assert [free_core_threads(2, b) for b in (0.0, 0.4, 0.6, 1.0, 1.9, 3.0)] == [2, 2, 1, 1, 1, 1]
    quota = _fake_cgroup(tmp_path / "quota", v2="200000 100000")      # 2 CPUs of quota on the 8 of the affinity
    assert default_threads(environ={}, cgroup_root=quota, busy_others=lambda: 5.0) == 2      # 3 of 8 free
    assert default_threads(environ={}, cgroup_root=quota, busy_others=lambda: 6.8) == 1


def _proc(root: Path, cpu0: list[int], cpu1: list[int], own: tuple[int, int]) -> None:
    """A fake /proc: stat with two CPUs (user nice system idle iowait irq softirq steal) and self/stat."""
    (root / "self").mkdir(parents=True, exist_ok=True)
    total = " ".join(str(a + b) for a, b in zip(cpu0, cpu1, strict=True))
    lines = [f"cpu  {total}", f"cpu0 {' '.join(map(str, cpu0))}", f"cpu1 {' '.join(map(str, cpu1))}", "intr 1 2 3"]
    (root / "stat").write_text("\n".join(lines) + "\n")
    rest = ["S", *["0"] * 10, str(own[0]), str(own[1]), *["0"] * 30]      # fields 3.. ; utime, stime are 14, 15
    (root / "self" / "stat").write_text(f"4242 (py (odd) name) {' '.join(rest)}\n")


def test_busy_cores_of_others_subtracts_this_process_from_proc_stat(tmp_path):
    _proc(tmp_path, [100, 0, 50, 1000, 5, 0, 0, 0], [10, 0, 10, 2000, 0, 0, 0, 0], (40, 10))

    def later(seconds: float) -> None:      # over the window: cpu0 fully busy 20 ticks, cpu1 10 of 20; we ran 10
        _proc(tmp_path, [115, 0, 55, 1000, 5, 0, 0, 0], [15, 0, 15, 2010, 0, 0, 0, 0], (48, 12))

    assert busy_cores_of_others([0, 1], proc=tmp_path, sleep=later) == pytest.approx((30 - 10) / 40 * 2)
    assert busy_cores_of_others([1], proc=tmp_path, sleep=lambda s: None) is None      # no ticks passed
    assert busy_cores_of_others([0], proc=tmp_path / "missing", sleep=lambda s: None) is None    # not Linux
    assert cpu_ticks("cpu0 1 2 3 4 5 6 7 8\ncpu1 1 1 1 1 1 1 1 1\n", [0]) == (1 + 2 + 3 + 6 + 7 + 8, 36)
    assert own_ticks("7 (a) b) R " + " ".join(["0"] * 10) + " 5 6 9") == 11


def test_tune_cpu_explains_fewer_threads_only_when_the_load_chose_them(monkeypatch, capsys):
    from genlab.nn import runtime

    before = torch.get_num_threads()
    monkeypatch.setattr(hardware, "available_cores", lambda **_: 2)
    monkeypatch.setattr(hardware, "_affinity_cores", lambda: 2)
    monkeypatch.setattr(hardware, "others_at_start", lambda: 1.4)
    monkeypatch.setattr(runtime, "_TOLD", set())
    monkeypatch.delenv("GENLAB_THREADS", raising=False)
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    try:
        assert runtime.tune_cpu(allocator=False) == 1
        assert "threads 1 of 2 cores: other processes kept 1.4 cores busy" in capsys.readouterr().err
        monkeypatch.setattr(runtime, "_TOLD", set())
        monkeypatch.setenv("GENLAB_THREADS", "1")            # the user chose: no look, no explanation
        monkeypatch.setattr(hardware, "others_at_start", lambda: pytest.fail("looked at the load"))
        assert runtime.tune_cpu(allocator=False) == 1 and capsys.readouterr().err == ""
    finally:
        torch.set_num_threads(before)


def test_tune_cpu_applies_the_default_threads(monkeypatch):
    from genlab.nn.runtime import tune_cpu

    before = torch.get_num_threads()
    try:
        monkeypatch.setenv("GENLAB_THREADS", "1")
        assert tune_cpu(allocator=False) == 1 and torch.get_num_threads() == 1
        assert tune_cpu(threads=2, allocator=False) == 2 and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


TOY = ["data.name=ring8", "train.batch_size=64", "train.warmup_steps=1", "train.checkpoint_every=1000",
       "train.threads=1", "model.hidden=32", "diffusion.T=50", "diffusion.sample_steps=5"]


def _toy(*extra: str):
    return run_config_from_dict(apply_overrides({"family": "ddpm"}, TOY + list(extra)))


def test_a_run_records_the_resolved_precision_and_stays_resumable(tmp_path, monkeypatch, capsys):
    from genlab.training import processes
    from genlab.training.loop import train

    monkeypatch.setattr(processes, "resolve_precision", lambda name, device, **kw: ("fp32", "fp32: CPU has no bf16"))
    train(_toy("train.steps=2"), tmp_path / "r", progress=False)
    assert "precision fp32: CPU has no bf16" in capsys.readouterr().out
    record = json.loads((tmp_path / "r" / "config.json").read_text())
    assert record["genlab"]["precision"] == {"resolved": "fp32", "reason": "fp32: CPU has no bf16"}
    assert record["config"]["train"]["precision"] == "auto"       # the config keeps "auto"
    monkeypatch.setattr(processes, "resolve_precision", lambda name, device, **kw: ("bf16", "bf16: CPU has amx_bf16"))
    result = train(_toy("train.steps=3"), tmp_path / "r", progress=False)   # another machine resumes the run
    assert result.step == 3
    assert "started in fp32, it continues in bf16" in capsys.readouterr().out


def test_a_real_run_records_what_this_machine_resolves(tmp_path):
    from genlab.training.loop import train

    train(_toy("train.steps=1"), tmp_path / "r", progress=False)
    record = json.loads((tmp_path / "r" / "config.json").read_text())
    assert record["genlab"]["precision"] == {"resolved": "fp32", "reason": hardware.VECTOR_FP32_REASON}


@pytest.mark.parametrize("text", [X86_AVX512_BF16, X86_AVX2])
def test_auto_on_vector_data_is_fp32_on_any_cpu_and_an_explicit_choice_stands(tmp_path, text):
    """bf16 steps near 4.0 are 2**-5 = 0.031, half the 3-std radius of a ring8/grid25 mode (0.06)."""
    x = torch.tensor([4.0, 4.015, 4.02])
    assert x.bfloat16().float().tolist() == [4.0, 4.0, 4.03125]       # the premise: offsets of a toy mode's std vanish
    path = _cpuinfo(tmp_path, text)
    assert resolve_precision("auto", "cpu", kind="vector", cpuinfo_path=path)[0] == "fp32"
    assert resolve_precision("bf16", "cpu", kind="vector", cpuinfo_path=path)[0] == "bf16"
    assert resolve_precision("auto", "cpu", kind="image", cpuinfo_path=path) == \
        resolve_precision("auto", "cpu", cpuinfo_path=path)


def test_a_time_budget_stop_logs_its_partial_window(tmp_path):
    from genlab.training.loop import train

    result = train(_toy("train.steps=100", "train.log_every=1000", "train.time_budget=1e-9"), tmp_path / "r",
                   progress=False)
    assert result.stopped == "time_budget" and result.step == 1
    rows = [json.loads(line) for line in (tmp_path / "r" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1] and rows[0]["items_per_s"] > 0


def test_a_cpu_clock_budget_counts_process_cpu_seconds_not_wall_seconds(tmp_path, monkeypatch):
    import time

    from genlab.training.loop import train

    ticks = iter(range(10**6))
    monkeypatch.setattr(time, "process_time", lambda: 10.0 * next(ticks))   # 10 CPU seconds per look
    wall = train(_toy("train.steps=5", "train.time_budget=25"), tmp_path / "wall", progress=False)
    assert wall.stopped == "done" and wall.step == 5           # 25 wall seconds are far away
    cpu = train(_toy("train.steps=50", "train.time_budget=25", "train.budget_clock=cpu", "train.log_every=1"),
                tmp_path / "cpu", progress=False)
    assert cpu.stopped == "time_budget" and cpu.step < 5
    rows = [json.loads(line) for line in (tmp_path / "cpu" / "log.jsonl").read_text().splitlines()]
    assert rows[-1]["cpu_seconds"] >= 25 and rows[-1]["seconds"] < 25


def test_demo_probe_measures_a_rate_even_when_its_time_runs_out():
    from genlab.demo import MIN_STEPS, calibrate_steps, probe_steps_per_s

    values = apply_overrides({"family": "ddpm"}, TOY)
    assert probe_steps_per_s(values, max_seconds=1e-9) > 0           # one step, one (final) log row
    assert calibrate_steps(values, 1e-3) == MIN_STEPS                 # a tiny budget plans the floor


def test_the_demo_says_plainly_when_its_budget_ended_training_short_of_the_plan():
    from genlab.demo import USEFUL_STEPS, shortfall_note

    assert shortfall_note(1201, 1201, stopped="done", seconds=480.0) is None
    assert shortfall_note(1201, 1201, stopped="time_budget", seconds=480.0) is None    # stopped on its last step
    few = shortfall_note(158, 1201, stopped="time_budget", seconds=479.9)
    assert few is not None and "step 158 of the 1201" in few and "(480 s)" in few and "blurry" in few
    many = shortfall_note(USEFUL_STEPS + 1, 1201, stopped="time_budget", seconds=400.0)
    assert many is not None and "blurry" not in many and "shorter run" in many
    assert shortfall_note(10, 1201, stopped="interrupted", seconds=3.0) is None        # Ctrl-C speaks for itself


def test_the_demo_says_when_a_busy_probe_planned_far_fewer_steps_than_its_budget_fits():
    from genlab.demo import shortfall_note

    early = shortfall_note(360, 360, stopped="done", seconds=155.0, budget=465.0)   # the probe saw a busy machine
    assert early is not None and "360 steps" in early and "155 s of the 465 s" in early and "3.0x" in early
    assert shortfall_note(1164, 1164, stopped="done", seconds=440.0, budget=465.0) is None     # used its budget
    assert shortfall_note(360, 360, stopped="done", seconds=155.0) is None       # steps set by hand: no plan to miss


class _Stepper:
    """A family stand-in whose sampler reports 7 steps per chunk."""

    sample_options = frozenset({"callback"})

    def sample(self, models, n, *, generator, callback=None):
        for i in range(7):
            if callback is not None:
                callback(i, 7 - i, None, None)
        return torch.zeros(n, 2)


class _OneShot:
    """A family stand-in without per-step callbacks (like a GAN)."""

    sample_options = frozenset({"label"})

    def sample(self, models, n, *, generator):
        return torch.zeros(n, 2)


def test_sampling_progress_ticks_per_step_and_keeps_the_callers_callback(monkeypatch):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)           # bars show on a terminal only
    seen = []
    with SamplingProgress(_Stepper(), 3, desc="sample", enabled=True) as bar:
        for _ in range(3):
            _Stepper().sample({}, 4, generator=None, **bar.options({"callback": lambda i, *a: seen.append(i)}))
            bar.chunk_done()
        assert (bar.bar.n, bar.bar.total) == (21, 21)
    assert seen == list(range(7)) * 3
    with SamplingProgress(_OneShot(), 2, desc="sample", enabled=True) as bar:
        assert bar.options({"label": 3}) == {"label": 3}
        bar.chunk_done()
        bar.chunk_done()
        assert (bar.bar.n, bar.bar.total) == (2, 2)


def test_run_sample_with_progress_draws_the_same_samples(tmp_path):
    from genlab.training.loop import train
    from genlab.training.run import load_run

    train(_toy("train.steps=2", "train.precision=fp32"), tmp_path / "r", progress=False, sample_at_end=False)
    run = load_run(tmp_path / "r")
    torch.testing.assert_close(run.sample(10, seed=3, batch_size=4, progress=True),
                               run.sample(10, seed=3, batch_size=4))
