"""Training throughput of a genlab U-Net preset over batch size and image size, and FLOPs of the DDPM CIFAR-10 model.

Prints JSON: for batch 16/64/256 and images 1x28x28, 3x32x32, 3x64x64, DDPM training images/s in fp32 and
bf16 autocast (median of `--repeats` fresh processes), model FLOPs per image per training step counted by
torch.utils.flop_counter, achieved GFLOP/s and peak memory; then the FLOPs per image per training step of
configs/ddpm_cifar10.toml's U-Net, which the cost estimate in BENCHMARKS.md ("Scaling") multiplies out.

    .venv/bin/python benchmarks/bench_scaling.py            # full grid, 3 processes per figure (quiet machine)
    .venv/bin/python benchmarks/bench_scaling.py --quick    # 1 process per figure, 1 timed step
"""
from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_diffusion import _flops_per_image, _median, _run, _timed  # noqa: E402  (same measurement helpers)

SHAPES = {28: 1, 32: 3, 64: 3}          # image size -> channels
BATCHES = (16, 64, 256)


def worker(a: argparse.Namespace) -> dict:
    """One measurement in this process: DDPM training steps (L_simple, fused AdamW) at one batch and size."""
    import torch

    from genlab.diffusion import Denoiser, NoiseSchedule, l_simple
    from genlab.nn import UNet
    from genlab.nn.runtime import tune_cpu
    tune_cpu(threads=a.threads)
    torch.manual_seed(0)
    channels = SHAPES[a.size]
    model = UNet.preset(a.preset, in_channels=channels)
    schedule = NoiseSchedule.from_name("linear", T=1000)
    x0 = torch.rand(a.batch, channels, a.size, a.size) * 2 - 1
    flops = _flops_per_image(model, x0[:2], torch.tensor([10, 900]), train=True)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)

    denoiser = Denoiser(model, schedule, precision=a.precision)   # bf16: autocast around the network only

    def step() -> None:  # one DDPM step as bench_diffusion's worker takes it
        t = torch.randint(0, schedule.T, (a.batch,))
        opt.zero_grad(set_to_none=True)
        l_simple(denoiser, x0, t=t, noise=torch.randn_like(x0)).backward()
        opt.step()

    for _ in range(a.warmup):
        step()
    seconds = _timed(lambda: [step() for _ in range(a.steps)])
    images = a.batch * a.steps
    return {"batch": a.batch, "shape": [channels, a.size, a.size], "precision": a.precision,
            "images_per_s": images / seconds, "gflop_per_image": flops / 1e9,
            "gflop_per_s": flops * images / seconds / 1e9,
            "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def cifar10_flops() -> dict:
    """FLOPs per image of one training step (forward + backward) of configs/ddpm_cifar10.toml's U-Net."""
    import torch

    from genlab.config import load_toml, run_config_from_dict
    from genlab.training.objective import DataInfo
    from genlab.training.run import build_family
    config = run_config_from_dict(load_toml(ROOT / "configs" / "ddpm_cifar10.toml"))
    model = build_family(config, DataInfo(kind="image", shape=(3, 32, 32), num_classes=10)).build_models()["model"]
    x = torch.randn(2, 3, 32, 32)
    train = _flops_per_image(model, x, torch.tensor([10, 900]), train=True)
    forward = _flops_per_image(model, x, torch.tensor([10, 900]), train=False)
    return {"params": sum(p.numel() for p in model.parameters()), "gflop_per_image_train_step": train / 1e9,
            "gflop_per_image_forward": forward / 1e9, "batch_size": config.train.batch_size,
            "steps": config.train.steps}


def orchestrate(a: argparse.Namespace) -> dict:
    common = ["--steps", str(a.steps), "--warmup", str(a.warmup), "--threads", str(a.threads), "--preset", a.preset]
    rows = []
    for size in SHAPES:
        for batch in BATCHES:
            for precision in ("fp32", "bf16"):
                runs = [_run([sys.executable, __file__, "--worker", "--size", str(size), "--batch", str(batch),
                              "--precision", precision, *common]) for _ in range(a.repeats)]
                row = _median(runs)
                rows.append(row)
                print(f"{size}px batch {batch} {precision}: {row['images_per_s']:.1f} img/s", file=sys.stderr)
    return {"machine": {"cpu": platform.processor() or platform.machine(), "threads": a.threads,
                        "python": platform.python_version()},
            "settings": {"model": a.preset, "train_steps": a.steps, "warmup": a.warmup, "repeats": a.repeats},
            "training": rows, "ddpm_cifar10": cifar10_flops()}


def main() -> None:
    from genlab.nn.unet import UNET_PRESETS
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worker", action="store_true", help="one measurement in this process")
    ap.add_argument("--flops-only", action="store_true", help="only the CIFAR-10 model's FLOPs")
    ap.add_argument("--size", type=int, choices=sorted(SHAPES), default=28)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    ap.add_argument("--preset", choices=sorted(UNET_PRESETS), default="mnist-1m-efficient",
                    help="genlab.nn.unet.UNET_PRESETS entry")
    ap.add_argument("--steps", type=int, default=10, help="timed training steps per process")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3, help="fresh processes per figure (median)")
    ap.add_argument("--quick", action="store_true", help="1 process per figure, 1 timed step after 1 warm-up")
    a = ap.parse_args()
    if a.quick:
        a.repeats, a.steps, a.warmup = 1, 1, 1
    out = worker(a) if a.worker else cifar10_flops() if a.flops_only else orchestrate(a)
    print(json.dumps(out, indent=None if (a.worker or a.flops_only) else 2))


if __name__ == "__main__":
    main()
