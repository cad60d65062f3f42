"""The diffusers side of quality_vs_diffusers.py, run by .venv-peer/bin/python: train for a wall-clock budget, sample.

It follows the recipe of diffusers' own unconditional training example (examples/unconditional_image_generation:
AdamW lr 1e-4 with betas (0.95, 0.999) and weight decay 1e-6, 500 warm-up steps then cosine decay, EMA with
inverse-gamma warm-up up to 0.9999, linear betas over 1000 steps, eps prediction, fp32), on the same U-Net
as bench_diffusion.py (1,062,497 parameters) and the same batch size as genlab's demo. Samples are drawn
with DDIMScheduler (50 steps, eta 0) from the EMA weights and saved as uint8 images in an .npz.
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True, help=".npz with x: uint8 (N, 1, 28, 28)")
    ap.add_argument("--seconds", type=float, required=True, help="wall-clock training budget")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--n", type=int, default=1000, help="samples to draw")
    ap.add_argument("--out", required=True, help=".npz to write the samples to")
    ap.add_argument("--grid-out", default=None)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    from diffusers import DDIMScheduler, DDPMScheduler, UNet2DModel
    from diffusers.optimization import get_cosine_schedule_with_warmup
    from diffusers.training_utils import EMAModel

    x_all = torch.from_numpy(np.load(a.data)["x"]).float() / 127.5 - 1.0
    model = UNet2DModel(sample_size=28, in_channels=1, out_channels=1, block_out_channels=(32, 64, 64),
                        layers_per_block=1, down_block_types=("DownBlock2D",) * 3, up_block_types=("UpBlock2D",) * 3)
    sched = DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear")
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.95, 0.999), weight_decay=1e-6, eps=1e-8)
    # The example sizes the cosine decay from its epoch count; here the budget is time, so we size it from a
    # measured rate after the first 20 steps, as genlab's demo does.
    ema = EMAModel(model.parameters(), decay=0.9999, use_ema_warmup=True, inv_gamma=1.0, power=0.75)
    gen = torch.Generator().manual_seed(0)
    start = time.perf_counter()
    step, lr_sched, losses = 0, None, []
    while time.perf_counter() - start < a.seconds:
        idx = torch.randint(0, len(x_all), (a.batch,), generator=gen)
        x0 = x_all[idx]
        noise = torch.randn_like(x0)
        t = torch.randint(0, 1000, (a.batch,))
        loss = torch.nn.functional.mse_loss(model(sched.add_noise(x0, noise, t), t).sample, noise)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if lr_sched is not None:
            lr_sched.step()
        ema.step(model.parameters())
        step += 1
        losses.append(loss.item())
        if step == 20:
            rate = step / (time.perf_counter() - start)
            total = max(step + 1, int(rate * a.seconds))
            lr_sched = get_cosine_schedule_with_warmup(opt, num_warmup_steps=min(500, total // 10),
                                                       num_training_steps=total)
            for _ in range(step):
                lr_sched.step()
    train_seconds = time.perf_counter() - start
    ema.copy_to(model.parameters())
    model.eval()
    ddim = DDIMScheduler(num_train_timesteps=1000, beta_schedule="linear")
    ddim.set_timesteps(50)
    out = []
    t0 = time.perf_counter()
    with torch.no_grad():
        for i in range(0, a.n, 250):
            x = torch.randn(min(250, a.n - i), 1, 28, 28, generator=gen)
            for t in ddim.timesteps:
                x = ddim.step(model(x, t).sample, t, x, eta=0.0).prev_sample
            out.append(((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy())
    sample_seconds = time.perf_counter() - t0
    np.savez_compressed(a.out, x=np.concatenate(out))
    print(json.dumps({"steps": step, "train_seconds": round(train_seconds, 1), "images_per_s":
                      round(step * a.batch / train_seconds, 1), "final_loss": float(np.mean(losses[-50:])),
                      "sample_seconds": round(sample_seconds, 1), "samples_per_s": round(a.n / sample_seconds, 2),
                      "lr_schedule_steps": None if lr_sched is None else int(lr_sched.last_epoch)}))


if __name__ == "__main__":
    main()
