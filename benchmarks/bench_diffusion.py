"""DDPM training and DDIM-50 sampling throughput of genlab's U-Net beside diffusers' UNet2DModel; prints JSON.

Every figure is the median over `--repeats` fresh processes (one measurement each, so peak memory is that
measurement's ru_maxrss). The diffusers peer runs the same work from .venv-peer (benchmarks/peer_diffusers.py).

    .venv/bin/python benchmarks/bench_diffusion.py                 # full run (about 10 min on a quiet machine)
    .venv/bin/python benchmarks/bench_diffusion.py --quick         # 1 process each, few steps: a smoke test
    .venv/bin/python benchmarks/bench_diffusion.py --worker train --precision bf16   # one measurement
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PEER_PYTHON = ROOT / ".venv-peer" / "bin" / "python"


def _amp(precision: str):
    import torch
    return torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bf16" else contextlib.nullcontext()


def _model(a: argparse.Namespace):
    import torch

    from genlab.nn import UNet
    torch.manual_seed(0)
    return UNet.preset(a.preset, time_embedding=a.time_embedding, channels_last=a.channels_last)


def _flops_per_image(model, x, t, *, train: bool) -> float:
    """Model FLOPs per image of one forward (sampling) or forward + backward (training), counted by torch."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    counter = FlopCounterMode(display=False)
    with counter:
        if train:
            model(x, t).square().mean().backward()
        else:
            with torch.no_grad():
                model(x, t)
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops() / x.shape[0]


def worker(a: argparse.Namespace) -> dict:
    """One measurement in this process: genlab training steps or one DDIM sampling run."""
    import torch

    from genlab.diffusion import Denoiser, NoiseSchedule, l_simple, sample_ddim, timesteps
    from genlab.nn.runtime import tune_cpu
    tune_cpu(threads=a.threads, allocator=a.allocator)
    model = _model(a)
    schedule = NoiseSchedule.from_name("linear", T=1000)
    fmt = torch.channels_last if a.channels_last else torch.contiguous_format
    x0 = (torch.rand(a.batch, 1, a.size, a.size) * 2 - 1).contiguous(memory_format=fmt)
    flops = _flops_per_image(model, x0[:4], torch.tensor([1, 10, 100, 999]), train=a.worker == "train")
    if a.worker == "sample":
        flops *= a.sample_steps  # one forward per DDIM step

    denoiser = Denoiser(model, schedule, precision=a.precision)   # bf16: autocast around the network only

    if a.worker == "train":
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=a.fused)

        def step() -> None:
            t = torch.randint(0, schedule.T, (a.batch,))
            loss = l_simple(denoiser, x0, t=t, noise=torch.randn_like(x0))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        for _ in range(a.warmup):
            step()
        start = time.perf_counter()
        for _ in range(a.steps):
            step()
        seconds, images = time.perf_counter() - start, a.batch * a.steps
    else:
        model.eval()
        ts = timesteps(schedule.T, a.sample_steps, spacing="leading")
        with torch.inference_mode():
            denoiser(x0, torch.full((a.batch,), 10))  # warm-up forward
            start = time.perf_counter()
            sample_ddim(denoiser, torch.randn_like(x0), ts, eta=0.0, clip_x0=True)
            seconds, images = time.perf_counter() - start, a.batch
    return {"who": "genlab", "task": a.worker, "precision": a.precision,
            "params": sum(p.numel() for p in model.parameters()), "images_per_s": images / seconds,
            "gflop_per_image": flops / 1e9, "gflop_per_s": flops * images / seconds / 1e9,
            "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def loss_check(a: argparse.Namespace) -> dict:
    """bf16 autocast vs fp32 training on the same data, steps, t and noise: mean L_simple over windows of steps."""
    import numpy as np
    import torch

    from genlab.data.builtin import load_digits
    from genlab.data.transforms import to_float
    from genlab.diffusion import Denoiser, NoiseSchedule, l_simple
    from genlab.nn.runtime import tune_cpu
    tune_cpu(threads=a.threads)
    data = to_float(torch.from_numpy(load_digits("train").x))
    schedule = NoiseSchedule.from_name("linear", T=1000)
    curves = {}
    for precision in ("fp32", "bf16"):
        model = _model(a)
        opt = torch.optim.AdamW(model.parameters(), lr=2e-4, fused=a.fused)
        gen = torch.Generator().manual_seed(1)
        losses = []
        for _ in range(a.loss_steps):
            idx = torch.randint(0, len(data), (a.batch,), generator=gen)
            t = torch.randint(0, schedule.T, (a.batch,), generator=gen)
            noise = torch.randn((a.batch, *data.shape[1:]), generator=gen)
            with _amp(precision):
                loss = l_simple(Denoiser(model, schedule), data[idx], t=t, noise=noise)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        windows = np.array(losses).reshape(-1, a.loss_steps // 5)
        curves[precision + "_losses"] = losses
        curves[precision] = {"window_means": windows.mean(1).round(4).tolist(),
                             "window_std_of_mean": (windows.std(1) / np.sqrt(windows.shape[1])).round(4).tolist()}
    diff = np.abs(np.array(curves.pop("fp32_losses")) - np.array(curves.pop("bf16_losses")))
    return {"data": "digits 8x8 train split", "steps": a.loss_steps, "batch": a.batch, **curves,
            "per_step_abs_diff": {"mean": float(diff.mean()), "max": float(diff.max())}}


def matmul_peak(threads: int) -> dict:
    """Best GFLOP/s of a 2048^3 matrix product in fp32 and bf16 (the machine's practical peak)."""
    import torch
    torch.set_num_threads(threads)
    out = {}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        n = 2048
        a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
        a @ b
        best = min(_timed(lambda a=a, b=b: a @ b) for _ in range(10))
        out[name] = 2 * n**3 / best / 1e9
    return out


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _run(cmd: list[str], env: dict[str, str] | None = None) -> dict:
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env)
    if done.returncode != 0:
        raise SystemExit(f"benchmark step failed: {' '.join(cmd)}\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _median(runs: list[dict]) -> dict:
    out = dict(runs[0])
    for key in ("images_per_s", "maxrss_mib", "gflop_per_s"):
        if key in out:
            out[key] = statistics.median(r[key] for r in runs)
    out["runs"] = [round(r["images_per_s"], 2) for r in runs]
    return out


def orchestrate(a: argparse.Namespace) -> dict:
    common = ["--batch", str(a.batch), "--size", str(a.size), "--steps", str(a.steps), "--warmup", str(a.warmup),
              "--sample-steps", str(a.sample_steps), "--threads", str(a.threads)]
    ours = common + ["--time-embedding", a.time_embedding, "--preset", a.preset] + (
        ["--channels-last"] if a.channels_last else []) + ([] if a.fused else ["--no-fused"]) + (
        [] if a.allocator else ["--no-allocator-tuning"])
    peer_env = None
    if a.peer_allocator_tuning:  # the same three mallopt values as genlab.nn.runtime.keep_freed_memory
        peer_env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": str(32 << 20), "MALLOC_TRIM_THRESHOLD_": str(1 << 34),
                    "MALLOC_TOP_PAD_": str(512 << 20)}
    results: dict[str, dict] = {}
    for task in ("train", "sample"):
        for precision in ("fp32", "bf16"):
            key = f"{task}_{precision}"
            gen, peer = [], []
            for _ in range(a.repeats):  # interleaved, so slow spells of a shared machine hit both sides
                gen.append(_run([sys.executable, __file__, "--worker", task, "--precision", precision, *ours]))
                if not a.no_peer:
                    peer.append(_run([str(PEER_PYTHON), str(ROOT / "benchmarks" / "peer_diffusers.py"),
                                      "--task", task, "--precision", precision, *common], env=peer_env))
            results[f"genlab_{key}"] = _median(gen)
            if peer:
                results[f"diffusers_{key}"] = _median(peer)
            print(f"{key}: genlab {results[f'genlab_{key}']['images_per_s']:.1f} img/s"
                  + (f", diffusers {results[f'diffusers_{key}']['images_per_s']:.1f} img/s" if peer else ""),
                  file=sys.stderr)
    peak = _run([sys.executable, __file__, "--peak", "--threads", str(a.threads)])
    report = {"machine": {"cpu": platform.processor() or platform.machine(), "threads": a.threads,
                          "python": platform.python_version(), "matmul_peak_gflop_s": peak},
              "settings": {"batch": a.batch, "size": a.size, "train_steps": a.steps, "sample_steps": a.sample_steps,
                           "repeats": a.repeats, "time_embedding": a.time_embedding, "preset": a.preset,
                           "channels_last": a.channels_last, "fused_adamw": a.fused,
                           "allocator_tuning": a.allocator, "peer_allocator_tuning": a.peer_allocator_tuning},
              "results": results}
    for key in ("train_fp32", "train_bf16", "sample_fp32", "sample_bf16"):
        res = results[f"genlab_{key}"]
        res["share_of_peak"] = res["gflop_per_s"] / peak[key.split("_")[1]]
    if not a.no_peer:
        ratios = {}
        for task in ("train", "sample"):
            peer32 = results[f"diffusers_{task}_fp32"]["images_per_s"]
            best = max(results[f"genlab_{task}_{p}"]["images_per_s"] for p in ("fp32", "bf16"))
            ratios[f"{task}_best_vs_diffusers_fp32"] = best / peer32
            for p in ("fp32", "bf16"):
                ratios[f"{task}_{p}_vs_diffusers_{p}"] = (results[f"genlab_{task}_{p}"]["images_per_s"]
                                                         / results[f"diffusers_{task}_{p}"]["images_per_s"])
        report["ratios"] = ratios
    return report


def main() -> None:
    from genlab.nn.unet import UNET_PRESETS
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worker", choices=["train", "sample"], help="run one measurement in this process")
    ap.add_argument("--peak", action="store_true", help="measure the matmul peak in this process")
    ap.add_argument("--loss-check", action="store_true", help="bf16 vs fp32 loss curves on digits, same draws")
    ap.add_argument("--loss-steps", type=int, default=500)
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--size", type=int, default=28)
    ap.add_argument("--steps", type=int, default=20, help="timed training steps per process")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--sample-steps", type=int, default=50)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3, help="fresh processes per figure (median)")
    ap.add_argument("--time-embedding", choices=["scale_shift", "add"], default="scale_shift")
    ap.add_argument("--preset", choices=sorted(UNET_PRESETS), default="mnist-1m-efficient",
                    help="genlab U-Net (genlab.nn.unet.UNET_PRESETS); mnist-1m has the peer's exact layer shapes")
    ap.add_argument("--channels-last", action="store_true", help="channels-last tensors (measured slower here)")
    ap.add_argument("--no-fused", dest="fused", action="store_false", help="foreach AdamW instead of fused")
    ap.add_argument("--no-allocator-tuning", dest="allocator", action="store_false",
                    help="leave glibc malloc as it is (genlab.nn.runtime.keep_freed_memory off)")
    ap.add_argument("--peer-allocator-tuning", action="store_true",
                    help="give diffusers the same malloc settings (through MALLOC_* variables)")
    ap.add_argument("--no-peer", action="store_true", help="skip diffusers")
    ap.add_argument("--quick", action="store_true", help="1 process per figure, 3 training steps")
    a = ap.parse_args()
    if a.quick:
        a.repeats, a.steps, a.warmup = 1, 3, 1
    if a.peak:
        out = matmul_peak(a.threads)
    elif a.loss_check:
        out = loss_check(a)
    elif a.worker:
        out = worker(a)
    else:
        out = orchestrate(a)
    print(json.dumps(out, indent=None if (a.worker or a.peak or a.loss_check) else 2))


if __name__ == "__main__":
    main()
