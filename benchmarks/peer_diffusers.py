"""The diffusers peer of bench_diffusion.py: one measurement per process, run by .venv-peer/bin/python.

Trains diffusers' UNet2DModel (block_out_channels=(32, 64, 64), layers_per_block=1, attention only in the
mid-block) with the DDPM eps loss and AdamW, or samples with DDIMScheduler; prints one JSON line.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import resource
import time

import torch


def build_model():
    from diffusers import UNet2DModel
    return UNet2DModel(sample_size=28, in_channels=1, out_channels=1, block_out_channels=(32, 64, 64),
                       layers_per_block=1, down_block_types=("DownBlock2D",) * 3,
                       up_block_types=("UpBlock2D",) * 3)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--task", choices=["train", "sample"], required=True)
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--size", type=int, default=28)
    ap.add_argument("--steps", type=int, default=10, help="timed training steps")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--sample-steps", type=int, default=50)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    from diffusers import DDIMScheduler, DDPMScheduler

    model = build_model()
    params = sum(p.numel() for p in model.parameters())
    amp = ((lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if a.precision == "bf16" else contextlib.nullcontext)
    x0 = torch.rand(a.batch, 1, a.size, a.size) * 2 - 1
    if a.task == "train":
        sched = DDPMScheduler(num_train_timesteps=1000)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

        def step() -> float:
            noise = torch.randn_like(x0)
            t = torch.randint(0, 1000, (a.batch,))
            with amp():
                pred = model(sched.add_noise(x0, noise, t), t).sample
            loss = torch.nn.functional.mse_loss(pred.float(), noise)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            return loss.item()

        for _ in range(a.warmup):
            step()
        start = time.perf_counter()
        for _ in range(a.steps):
            step()
        seconds = time.perf_counter() - start
        images = a.batch * a.steps
    else:
        model.eval()
        sched = DDIMScheduler(num_train_timesteps=1000)
        sched.set_timesteps(a.sample_steps)

        @torch.no_grad()
        def sample() -> torch.Tensor:
            x = torch.randn(a.batch, 1, a.size, a.size)
            for t in sched.timesteps:
                with amp():
                    eps = model(x, t).sample.float()
                x = sched.step(eps, t, x, eta=0.0).prev_sample
            return x

        with torch.no_grad(), amp():
            model(x0, torch.tensor(10))  # warm-up forward
        start = time.perf_counter()
        sample()
        seconds = time.perf_counter() - start
        images = a.batch
    print(json.dumps({"who": "diffusers", "task": a.task, "precision": a.precision, "params": params,
                      "images_per_s": images / seconds, "seconds": seconds,
                      "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


if __name__ == "__main__":
    main()
