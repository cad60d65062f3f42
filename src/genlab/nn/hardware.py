"""What the machine offers a run: native bf16 (or not) and the cores this process may use.

bf16 autocast pays only where the hardware computes in bf16: on a CPU without avx512_bf16/AMX (x86) or the
bf16 extension (ARM), oneDNN emulates it and the demo's network trains 13x slower than in fp32 (AVX2 EPYC:
9.6 against 125.5 images/s, issue 12). `resolve_precision("auto", device)` decides from the CPU's flags, the
GPU's capability, or (flags unreadable, e.g. macOS) a short timed probe of both precisions.

Threads: PyTorch's default intra-op count ignores cgroup CPU quotas and other genlab processes on the same
cores; `default_threads()` takes the cores this process may use and splits them among the local ranks.
"""
from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import Literal

import torch

from genlab.errors import ConfigError

Precision = Literal["auto", "fp32", "bf16"]
PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16")
X86_BF16_FLAGS = ("avx512_bf16", "amx_bf16")
PROBE_MARGIN = 0.8          # the probe picks bf16 only when it takes at most 80% of fp32's time


def cpu_features(cpuinfo: str) -> set[str] | None:
    """The feature flags in /proc/cpuinfo text (x86 `flags`, ARM `Features`); None when it lists none."""
    flags: set[str] = set()
    found = False
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() in ("flags", "features"):
            found = True
            flags.update(value.split())
    return flags if found else None


def read_cpuinfo(path: str | Path = "/proc/cpuinfo") -> str | None:
    """The text of /proc/cpuinfo, or None where there is none (macOS, Windows) or it cannot be read."""
    try:
        return Path(path).read_text(errors="replace")
    except OSError:
        return None


def cpu_native_bf16(flags: set[str]) -> tuple[bool, str]:
    """Whether CPU flags include native bf16 arithmetic, and why (the flag found, or the ones missing)."""
    for flag in X86_BF16_FLAGS:
        if flag in flags:
            return True, f"CPU has {flag}"
    if "bf16" in flags:                                   # ARMv8.6 BF16 extension (Graviton3, Apple M2+, ...)
        return True, "CPU has bf16 (ARM)"
    return False, "CPU has no avx512_bf16, amx_bf16 or ARM bf16: bf16 would be emulated (13x slower, issue 12)"


def isa_limit(env: Mapping[str, str] = os.environ) -> str | None:
    """Why bf16 would be emulated although the CPU has it: oneDNN or ATen limited to an ISA without bf16.

    ONEDNN_MAX_CPU_ISA (e.g. AVX2, AVX512_CORE) caps the kernels of convolutions and matmuls, ATEN_CPU_CAPABILITY
    (default, avx2) those of element-wise ops; below AVX512_CORE_BF16 / avx512 bf16 runs emulated (on this 2-core
    EPYC under ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2: 18.4 bf16 against 193-202 fp32 images/s).
    """
    onednn = env.get("ONEDNN_MAX_CPU_ISA", env.get("DNNL_MAX_CPU_ISA", "")).strip().upper()
    if onednn and onednn != "ALL" and not any(tag in onednn for tag in ("BF16", "AMX", "FP16", "AVX10")):
        return f"ONEDNN_MAX_CPU_ISA={onednn} has no bf16 kernels"
    aten = env.get("ATEN_CPU_CAPABILITY", "").strip().lower()
    if aten in ("default", "avx2", "zvector", "vsx"):
        return f"ATEN_CPU_CAPABILITY={aten} has no bf16 kernels"
    return None


def _probe_once(conv: torch.nn.Module, x: torch.Tensor, w: torch.Tensor, *, bf16: bool) -> float:
    """Seconds of one conv + matmul under bf16 autocast (or fp32), synchronised on a GPU."""
    with torch.no_grad(), torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
        if x.device.type == "cuda":
            torch.cuda.synchronize(x.device)
        t0 = time.perf_counter()
        z = conv(x).reshape(-1, w.shape[0]) @ w           # a conv layer, then a linear one: (6272, 512)
        float(z.float().sum())
        return time.perf_counter() - t0


def probe_bf16(device: torch.device, *, pairs: int = 5) -> tuple[bool, str]:
    """Time both precisions on a conv + matmul (a second or two); bf16 only when clearly faster.

    The runs alternate fp32, bf16, fp32, ... so that another process's load falls on both alike; each side
    keeps its best time. Emulated bf16 is several times slower, native bf16 2-3x faster: the margin is wide.
    """
    gen = torch.Generator().manual_seed(0)
    conv = torch.nn.Conv2d(64, 64, 3, padding=1).to(device)
    x = torch.randn(32, 64, 28, 28, generator=gen).to(device)
    w = torch.randn(512, 512, generator=gen).to(device)
    for bf16 in (False, True):                            # the first run of each pays kernel selection
        _probe_once(conv, x, w, bf16=bf16)
    fp32 = bf16_t = math.inf
    for _ in range(pairs):
        fp32 = min(fp32, _probe_once(conv, x, w, bf16=False))
        bf16_t = min(bf16_t, _probe_once(conv, x, w, bf16=True))
    ratio = bf16_t / max(fp32, 1e-12)
    return ratio <= PROBE_MARGIN, f"timed probe: bf16 took {ratio:.2f}x the time of fp32"


@cache
def _auto(device_type: str, device_index: int | None, cpuinfo_path: str) -> tuple[str, str]:
    device = torch.device(device_type, device_index) if device_index is not None else torch.device(device_type)
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        if torch.cuda.is_bf16_supported():
            return "bf16", f"bf16: GPU {name} supports bf16"
        return "fp32", f"fp32: GPU {name} has no bf16 support"
    if device.type != "cpu":
        return "fp32", f"fp32: bf16 autocast not checked on {device.type}"
    text = read_cpuinfo(cpuinfo_path)
    flags = cpu_features(text) if text is not None else None
    if flags is not None:
        native, why = cpu_native_bf16(flags)
        limit = isa_limit() if native else None
        if limit is not None:
            return "fp32", f"fp32: {why}, but {limit}"
        return ("bf16", f"bf16: {why}") if native else ("fp32", f"fp32: {why}")
    fast, why = probe_bf16(device)
    return ("bf16", f"bf16: {why} (CPU flags unreadable)") if fast else ("fp32", f"fp32: {why} (CPU flags unreadable)")


VECTOR_FP32_REASON = ("fp32: vector data (bf16 keeps 8 bits of mantissa, so 4.0 rounds to steps of 0.03, "
                      "coarser than a toy mode's 3 std of 0.06)")


def resolve_precision(name: str, device: torch.device | str | None = None, *, kind: str | None = None,
                      cpuinfo_path: str | Path = "/proc/cpuinfo") -> tuple[str, str]:
    """("fp32" | "bf16", reason) for train.precision `name` on `device` (None: the CPU); "auto" asks the hardware.

    "auto" on `kind = "vector"` data is fp32 on any hardware: the coordinates are the output, and bf16 rounding
    is larger than the structure of the 2-D toy sets. The hardware answer is computed once per device and cached.
    """
    if name not in PRECISIONS:
        raise ConfigError(f"precision {name!r}: expected one of {', '.join(map(repr, PRECISIONS))}")
    if name != "auto":
        return name, f"{name}: set in the config"
    if kind == "vector":
        return "fp32", VECTOR_FP32_REASON
    dev = torch.device("cpu") if device is None else torch.device(device)
    return _auto(dev.type, dev.index, str(cpuinfo_path))


def _read_int_pair(path: Path) -> tuple[str, str] | None:
    try:
        parts = path.read_text().split()
    except OSError:
        return None
    return (parts[0], parts[1]) if len(parts) >= 2 else None


def cgroup_cpu_limit(root: str | Path = "/sys/fs/cgroup") -> float | None:
    """CPUs allowed by the cgroup quota (v2 cpu.max, or v1 cpu.cfs_quota_us / cpu.cfs_period_us); None: no limit."""
    root = Path(root)
    v2 = _read_int_pair(root / "cpu.max")
    if v2 is not None:
        quota, period = v2
        if quota != "max" and quota.isdigit() and period.isdigit() and int(period) > 0:
            return int(quota) / int(period)
        return None
    for sub in ("cpu", "cpu,cpuacct", "cpuacct,cpu"):
        try:
            quota_us = int((root / sub / "cpu.cfs_quota_us").read_text())
            period_us = int((root / sub / "cpu.cfs_period_us").read_text())
        except (OSError, ValueError):
            continue
        return quota_us / period_us if quota_us > 0 and period_us > 0 else None
    return None


def _affinity_cores() -> int:
    """The CPUs this process may be scheduled on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:                                # macOS, Windows: no affinity call
        return os.cpu_count() or 1


def available_cores(*, cgroup_root: str | Path = "/sys/fs/cgroup") -> int:
    """Cores this process may run on: its CPU affinity, capped by the cgroup quota (rounded up), at least 1."""
    cores = _affinity_cores()
    limit = cgroup_cpu_limit(cgroup_root)
    if limit is not None:
        cores = min(cores, math.ceil(limit))
    return max(1, cores)


@cache
def others_at_start() -> float | None:
    """Cores other processes kept busy when this process first asked (one 0.2 s look at /proc/stat)."""
    from genlab.nn.cpu_load import busy_cores_of_others
    return busy_cores_of_others()


def thread_choice(*, environ: Mapping[str, str] | None = None, cgroup_root: str | Path = "/sys/fs/cgroup",
                  busy_others: Callable[[], float | None] | None = None) -> tuple[int, int, float | None]:
    """(threads, usable cores, the busy cores of others that made threads < cores, else None): GENLAB_THREADS when
    set, else the cores / local ranks, at least 1; a single process takes only the cores that other processes
    left free at its start (`genlab.nn.cpu_load`; `busy_others` defaults to `others_at_start`)."""
    env = os.environ if environ is None else environ
    given = env.get("GENLAB_THREADS", "").strip()
    if given:
        if not given.isdigit() or int(given) < 1:
            raise ConfigError(f"GENLAB_THREADS = {given!r}: expected a whole number of threads >= 1")
        return int(given), int(given), None
    local = env.get("LOCAL_WORLD_SIZE", "").strip()
    ranks = int(local) if local.isdigit() and int(local) > 0 else 1
    cores = max(1, available_cores(cgroup_root=cgroup_root) // ranks)
    if ranks > 1 or cores == 1:
        return cores, cores, None
    from genlab.nn.cpu_load import free_core_threads
    busy = (busy_others or others_at_start)()
    threads = free_core_threads(cores, busy, seen=_affinity_cores())
    return threads, cores, busy if threads < cores else None


def default_threads(*, environ: Mapping[str, str] | None = None, cgroup_root: str | Path = "/sys/fs/cgroup",
                    busy_others: Callable[[], float | None] | None = None) -> int:
    """Intra-op threads for this process: the first of `thread_choice`."""
    return thread_choice(environ=environ, cgroup_root=cgroup_root, busy_others=busy_others)[0]


def describe_machine(device: torch.device, *, processes: int = 1) -> dict[str, object]:
    """What a run trained on, for its config.json: device, CPU model, cores, threads, processes, torch version."""
    cpu = next((line.partition(":")[2].strip() for line in (read_cpuinfo() or "").splitlines()
                if line.lower().startswith(("model name", "hardware"))), "") or "unknown CPU"
    record: dict[str, object] = {"device": device.type, "cpu": cpu, "cores": available_cores(),
                                 "threads": torch.get_num_threads(), "processes": processes, "torch": torch.__version__}
    if device.type == "cuda":
        record["gpu"] = torch.cuda.get_device_name(device)
    return record


__all__ = ["Precision", "describe_machine", "resolve_precision", "default_threads", "available_cores",
           "others_at_start", "thread_choice", "cgroup_cpu_limit",
           "cpu_features", "cpu_native_bf16", "probe_bf16"]
