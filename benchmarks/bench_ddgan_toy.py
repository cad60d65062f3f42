"""DDGAN on grid25, diagnosed: mode coverage of toy runs (EMA and raw G) and how well the MLP generator can fit
the last step's ideal map when it is *told* the answer; prints JSON lines.

Coverage: 2,500 samples of each run's T-step chain (seed 0), `genlab.metrics.toy.mode_coverage` (VEEGAN/PacGAN:
a sample is high quality within 3 std of a centre). Fit: at the last step (t = 0, alpha-bar 0.52) the ideal x0
for a given x_1 is nearly a rounding of x_1 / sqrt(alpha-bar) to the grid; the script regresses genlab's
`MLPGenerator` onto that map (MSE, Adam 5e-4, batch 256, fresh data every step) and reports the share of outputs
within 0.06 (3 std) of their target. A GAN cannot give G a better signal than that regression does.

    PYTHONPATH=src .venv/bin/python benchmarks/bench_ddgan_toy.py --runs RUN [RUN ...]
    PYTHONPATH=src .venv/bin/python benchmarks/bench_ddgan_toy.py --runs RUN --per-step

Per step (`--per-step`, any toy grid): for each t, G's x0 given *real* x_t (the forward chain's), and the chain's
own state x_t against the forward marginal at the same t, both measured as the distance to the nearest mode
centre after dividing by sqrt(alpha-bar_t) * data_scale (2,500 draws, seed 0). It shows which step of the chain
fails to make the modes.
    PYTHONPATH=src .venv/bin/python benchmarks/bench_ddgan_toy.py --fit --fourier 0 0.5 1 2 4 --steps 600 1500

With the coverage, where the samples that miss the 3-std disc lie: each sample goes to its nearest centre, and
the rows give the share within 3 std (high quality), in the halo out to a quarter of the grid's
spacing, and beyond it (between modes), with the per-coordinate std of the residuals within a quarter spacing,
both as a root mean square and as a robust (median absolute deviation) estimate. A core of the data's width with
heavy tails has a robust std near the data's and a larger RMS one; a uniformly widened mode has both larger.
`--d-scores` adds D's mean logit on G's last-step pairs (x0 from real x_1) binned by the distance of x0 to its
nearest centre: whether D scores the halo below the core, that is whether G is pushed to pull it in.
    PYTHONPATH=src .venv/bin/python benchmarks/bench_ddgan_toy.py --runs RUN --d-scores
"""
from __future__ import annotations

import argparse
import json
import math
from typing import Any

import torch

HQ_RADIUS = 0.06          # 3 std of a grid25 mode


def coverage(run_dir: str) -> list[dict[str, Any]]:
    """Modes covered and the spread (high quality, halo, between) of 2,500 samples, with the EMA and the raw G."""
    from genlab.data.toy import toy_modes
    from genlab.metrics.toy import mode_coverage
    from genlab.training.run import load_run

    rows = []
    for ema in (True, False):
        run = load_run(run_dir, ema=ema)
        x = run.family.sample(run.models, 2500, generator=torch.Generator().manual_seed(0), precision="fp32")
        centres, std = toy_modes(run.config.data.name)
        m = mode_coverage(x.numpy(), centres, std)
        rows.append({"run": run_dir, "weights": "ema" if ema else "raw", "step": run.step,
                     "modes": m.modes_covered, **spread(x, run.config.data.name)})
    return rows


def spread(samples: torch.Tensor, data: str) -> dict[str, float]:
    """`genlab.metrics.toy.mode_spread` of samples (N, 2) around the data's centres."""
    from genlab.data.toy import toy_modes
    from genlab.metrics.toy import mode_spread

    centres, std = toy_modes(data)
    return mode_spread(samples.double().numpy(), centres, std)


def d_scores(family: Any, models: Any, data: str, *, n: int = 20000, seed: int = 0) -> dict[str, float]:
    """D's mean logit on real last-step pairs and on G's (x0 from real x_1, t = 0), the fake ones binned by the
    distance of x0 to its nearest centre in units of the mode std (0-2, 2-3, 3-5, 5-10, > 10)."""
    from genlab.data.toy import sample_toy, toy_modes
    from genlab.ddgan.process import q_sample_pairs

    torch.manual_seed(seed)
    centres_np, std = toy_modes(data)
    centres = torch.as_tensor(centres_np, dtype=torch.float32)
    scale = family.config.ddgan.data_scale
    x0 = torch.as_tensor(sample_toy(data, n, seed=seed).x, dtype=torch.float32) * scale
    t = torch.zeros(n, dtype=torch.long)
    x_prev, x_t = q_sample_pairs(family.schedule, x0, t, torch.randn_like(x0), torch.randn_like(x0))
    with torch.no_grad():
        fake = family.predict_x0(models["G"], x_t, t, torch.randn(n, family.config.model.latent_dim))
        real_score, fake_score = models["D"](x_prev, x_t, t), models["D"](fake, x_t, t)
    dist = torch.cdist(fake / scale, centres).min(dim=1).values / std
    row = {"real": real_score.mean().item(), "fake": fake_score.mean().item()}
    for lo, hi in ((0, 2), (2, 3), (3, 5), (5, 10), (10, math.inf)):
        inside = (dist >= lo) & (dist < hi)
        row[f"fake_{lo}-{hi}_std"] = fake_score[inside].mean().item() if inside.any() else math.nan
        row[f"share_{lo}-{hi}_std"] = inside.float().mean().item()
    return row


def per_step(family: Any, models: Any, data: str, *, n: int = 2500, seed: int = 0) -> list[dict[str, Any]]:
    """One row per chain step t: median distance to the nearest centre and high-quality share (within 3 std) of
    G's x0 given real x_t, and median distance of the chain's state x_t and of the forward chain's, both divided
    by sqrt(alpha-bar_t) * data_scale (the chain's state at t = T - 1 is noise and gets no state columns)."""
    from genlab.data.toy import sample_toy, toy_modes
    from genlab.ddgan.process import q_sample_pairs

    torch.manual_seed(seed)
    centres_np, std = toy_modes(data)
    centres = torch.as_tensor(centres_np, dtype=torch.float32)
    schedule, scale = family.schedule, family.config.ddgan.data_scale
    x0 = torch.as_tensor(sample_toy(data, n, seed=seed).x, dtype=torch.float32) * scale
    states: dict[int, torch.Tensor] = {}
    with torch.no_grad():
        family.sample(models, n, generator=torch.Generator().manual_seed(seed), precision="fp32",
                      callback=lambda i, t, x_t, x0_pred: states.__setitem__(t, x_t))
    rows = []
    for t in reversed(range(schedule.T)):
        tt = torch.full((n,), t, dtype=torch.long)
        _, x_t = q_sample_pairs(schedule, x0, tt, torch.randn_like(x0), torch.randn_like(x0))
        with torch.no_grad():
            pred = family.predict_x0(models["G"], x_t, tt, torch.randn(n, family.config.model.latent_dim)) / scale
        d_pred = torch.cdist(pred, centres).min(dim=1).values
        row = {"t": t, "alpha_bar": float(schedule.alphas_cumprod[t]), "x0_given_real_median": d_pred.median().item(),
               "x0_given_real_high_quality": (d_pred <= 3 * std).float().mean().item()}
        if t < schedule.T - 1:
            unit = math.sqrt(float(schedule.alphas_cumprod[t])) * scale
            row["state_median"] = torch.cdist(states[t] / unit, centres).min(dim=1).values.median().item()
            row["forward_median"] = torch.cdist(x_t / unit, centres).min(dim=1).values.median().item()
        rows.append(row)
    return rows


def fit(fourier: float, steps: int, *, hidden: int = 256, seed: int = 0) -> dict[str, Any]:
    """Regress MLPGenerator(x_1, t=0, z) onto the grid point nearest x_1 / sqrt(alpha-bar_1) (grid25, T = 4)."""
    from genlab.data.toy import sample_toy, toy_modes
    from genlab.ddgan.networks import MLPGenerator
    from genlab.ddgan.process import ddgan_schedule, q_sample_pairs

    torch.manual_seed(seed)
    schedule = ddgan_schedule(4)
    centres = torch.as_tensor(toy_modes("grid25")[0], dtype=torch.float32)
    G = MLPGenerator(dim=2, latent_dim=2, hidden=hidden, layers=3, fourier=fourier)
    opt = torch.optim.Adam(G.parameters(), lr=5e-4, betas=(0.5, 0.9))
    t = torch.zeros(256, dtype=torch.long)
    for step in range(steps + 1):
        x0 = torch.as_tensor(sample_toy("grid25", 256, seed=seed * 100_000 + step).x)
        _, x_t = q_sample_pairs(schedule, x0, t, torch.randn_like(x0), torch.randn_like(x0))
        target = centres[torch.cdist(x_t / math.sqrt(schedule.alphas_cumprod[0]), centres).argmin(1)]
        out = G(x_t, t, torch.randn(256, 2))
        loss = (out - target).pow(2).sum(1).mean()
        if step < steps:
            opt.zero_grad()
            loss.backward()
            opt.step()
    within = ((out - target).norm(dim=1) <= HQ_RADIUS).float().mean().item()
    return {"fourier": fourier, "steps": steps, "hidden": hidden, "mse": loss.item(), "within_3std": within}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="*", default=[])
    parser.add_argument("--per-step", action="store_true", help="with --runs: the per-step rows instead")
    parser.add_argument("--d-scores", action="store_true", help="with --runs: D's last-step logit by distance of x0")
    parser.add_argument("--fit", action="store_true")
    parser.add_argument("--fourier", nargs="*", type=float, default=[0.0, 1.0])
    parser.add_argument("--steps", nargs="*", type=int, default=[600])
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from genlab.training.run import load_run

    for run_dir in args.runs:
        if args.per_step:
            run = load_run(run_dir, ema=True)
            rows = [{"run": run_dir, "step": run.step, **r}
                    for r in per_step(run.family, run.models, run.config.data.name)]
        else:
            rows = coverage(run_dir)
            if args.d_scores:
                run = load_run(run_dir, ema=False)
                rows.append({"run": run_dir, "step": run.step, "weights": "raw G, D",
                             **d_scores(run.family, run.models, run.config.data.name)})
        for row in rows:
            print(json.dumps(row), flush=True)
    if args.fit:
        for steps in args.steps:
            for f in args.fourier:
                print(json.dumps(fit(f, steps, hidden=args.hidden)), flush=True)


if __name__ == "__main__":
    main()
