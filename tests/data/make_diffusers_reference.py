"""Record HF diffusers' DDPMScheduler / DDIMScheduler numbers in tests/data/diffusers_reference.npz.

Run from the repository root with the peer venv (`make peer`):
    .venv-peer/bin/python tests/data/make_diffusers_reference.py
diffusers is imported inside main() only, so tests can import `stand_in_model` from this file without it.
Schedulers keep diffusers' defaults (clip_sample=True, 'leading' spacing, set_alpha_to_one=True) unless a
case says otherwise. Every step's inputs (x_t, model output, noise) are stored beside diffusers' outputs.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

T = 1000
SHAPE = (2, 1, 6, 6)       # trajectories
STEP_SHAPE = (2, 1, 4, 4)  # single steps
OUT = Path(__file__).with_name("diffusers_reference.npz")
# genlab's schedule name -> (diffusers' beta_schedule, its options)
SCHEDULES = {
    "linear": ("linear", {}),
    "cosine": ("squaredcos_cap_v2", {}),
    "geodiff_sigmoid": ("sigmoid", {}),  # diffusers' "sigmoid" is GeoDiff's, not Chen 2023's
    "scaled_linear": ("scaled_linear", {"beta_start": 0.00085, "beta_end": 0.012}),
}
PREDICTIONS = {"eps": "epsilon", "x0": "sample", "v": "v_prediction"}


def stand_in_model(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """A smooth deterministic stand-in for a network: tanh(x) (0.5 + 0.4 cos(t/100)) + 0.05 sin(t/37)."""
    tf = torch.as_tensor(t).to(torch.float64).reshape(-1, *([1] * (x.ndim - 1)))
    gain = (0.5 + 0.4 * torch.cos(tf / 100.0)).to(x.dtype)
    shift = (0.05 * torch.sin(tf / 37.0)).to(x.dtype)
    return torch.tanh(x) * gain + shift


def _randn(seed: int, shape: tuple[int, ...] = STEP_SHAPE) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def _record_tables(ref: dict, DDPMScheduler) -> None:
    for name, (beta_schedule, options) in SCHEDULES.items():
        sched = DDPMScheduler(num_train_timesteps=T, beta_schedule=beta_schedule, **options)
        ref[f"betas_{name}"] = sched.betas.numpy()
        ref[f"alphas_cumprod_{name}"] = sched.alphas_cumprod.numpy()
        for kind in ("fixed_small", "fixed_large"):
            ref[f"{kind}_{name}"] = torch.stack([sched._get_variance(t, variance_type=kind) for t in range(T)]).numpy()
        # the same variances on the 50 visited steps of a respaced chain (betas recomputed from alpha-bar)
        sched.set_timesteps(50)
        ref[f"sub50_timesteps_{name}"] = sched.timesteps.numpy()
        for kind in ("fixed_small", "fixed_large"):
            ref[f"sub50_{kind}_{name}"] = torch.stack(
                [sched._get_variance(int(t), variance_type=kind) for t in sched.timesteps]).numpy()


def _record_timesteps(ref: dict, DDIMScheduler) -> None:
    for spacing in ("leading", "trailing", "linspace"):
        for n in (1, 7, 10, 50, 333, 1000):
            sched = DDIMScheduler(num_train_timesteps=T, timestep_spacing=spacing)
            sched.set_timesteps(n)
            ref[f"timesteps_{spacing}_{n}"] = sched.timesteps.numpy()
    sched = DDIMScheduler(num_train_timesteps=T, steps_offset=1)
    sched.set_timesteps(50)
    ref["timesteps_leading_50_offset1"] = sched.timesteps.numpy()


def _stack_cases(ref: dict, prefix: str, cases: list[dict]) -> None:
    for key in cases[0]:
        ref[f"{prefix}_{key}"] = np.stack([np.asarray(c[key]) for c in cases])


def _record_ddpm_steps(ref: dict, DDPMScheduler) -> None:
    cases, seed = [], 0
    for n_steps, ts in ((None, (999, 500, 1, 0)), (50, (980, 500, 20, 0))):
        for pred, dpred in PREDICTIONS.items():
            for variance, kind in (("beta_tilde", "fixed_small"), ("beta", "fixed_large")):
                for clip in ((True, False) if pred == "eps" else (True,)):
                    sched = DDPMScheduler(num_train_timesteps=T, variance_type=kind, prediction_type=dpred,
                                          clip_sample=clip)
                    if n_steps is not None:
                        sched.set_timesteps(n_steps)
                    for t in ts:
                        seed += 1
                        x, out = _randn(3 * seed), _randn(3 * seed + 1)
                        noise = _randn(3 * seed + 2)  # the draw step() makes from the same seeded generator
                        res = sched.step(out, t, x, generator=torch.Generator().manual_seed(3 * seed + 2))
                        cases.append(dict(t=t, prev=int(sched.previous_timestep(t)), prediction=pred,
                                          variance=variance, clip=clip, x=x.numpy(), output=out.numpy(),
                                          noise=noise.numpy(), prev_sample=res.prev_sample.numpy(),
                                          x0=res.pred_original_sample.numpy()))
    _stack_cases(ref, "ddpm_step", cases)


def _record_ddim_steps(ref: dict, DDIMScheduler) -> None:
    cases, seed = [], 1000
    for pred, dpred in PREDICTIONS.items():
        for eta in ((0.0, 0.5, 1.0) if pred == "eps" else (0.0, 0.5)):
            for clip, alpha_one in ((True, True), (False, True), (True, False)) if pred == "eps" else ((True, True),):
                sched = DDIMScheduler(num_train_timesteps=T, prediction_type=dpred, clip_sample=clip,
                                      set_alpha_to_one=alpha_one)
                sched.set_timesteps(50)
                for t in (980, 500, 20, 0):
                    seed += 1
                    x, out, noise = _randn(3 * seed), _randn(3 * seed + 1), _randn(3 * seed + 2)
                    res = sched.step(out, t, x, eta=eta, variance_noise=noise if eta > 0 else None)
                    cases.append(dict(t=t, prev=t - T // 50, prediction=pred, eta=eta, clip=clip,
                                      final_alpha_one=alpha_one, x=x.numpy(), output=out.numpy(),
                                      noise=noise.numpy(), prev_sample=res.prev_sample.numpy(),
                                      x0=res.pred_original_sample.numpy()))
    _stack_cases(ref, "ddim_step", cases)


def _run(sched, x: torch.Tensor, step_options: dict) -> tuple[np.ndarray, np.ndarray]:
    states, x0s = [x], []
    for t in sched.timesteps:
        res = sched.step(stand_in_model(x, t), t, x, **step_options)
        x = res.prev_sample
        states.append(x)
        x0s.append(res.pred_original_sample)
    return torch.stack(states).numpy(), torch.stack(x0s).numpy()


def _record_trajectories(ref: dict, DDPMScheduler, DDIMScheduler) -> None:
    x_T = _randn(7777, SHAPE)
    ref["traj_x_T"] = x_T.numpy()
    for spacing in ("leading", "trailing"):
        sched = DDIMScheduler(num_train_timesteps=T, timestep_spacing=spacing)
        sched.set_timesteps(50)
        ref[f"traj_ddim_{spacing}_timesteps"] = sched.timesteps.numpy()
        ref[f"traj_ddim_{spacing}"], ref[f"traj_ddim_{spacing}_x0"] = _run(sched, x_T, {"eta": 0.0})
    sched = DDIMScheduler(num_train_timesteps=T)
    sched.set_timesteps(50)
    ref["traj_ddim_eta1"], _ = _run(sched, x_T, {"eta": 1.0, "generator": torch.Generator().manual_seed(11)})
    for variance, kind in (("beta_tilde", "fixed_small"), ("beta", "fixed_large")):
        sched = DDPMScheduler(num_train_timesteps=T, variance_type=kind)
        sched.set_timesteps(50)
        ref[f"traj_ddpm_{variance}"], _ = _run(sched, x_T, {"generator": torch.Generator().manual_seed(12)})
    ref["traj_generator_seeds"] = np.array([11, 12])


def main() -> None:
    import diffusers
    from diffusers import DDIMScheduler, DDPMScheduler

    ref: dict[str, np.ndarray] = {"diffusers_version": np.array(diffusers.__version__)}
    _record_tables(ref, DDPMScheduler)
    _record_timesteps(ref, DDIMScheduler)
    _record_ddpm_steps(ref, DDPMScheduler)
    _record_ddim_steps(ref, DDIMScheduler)
    _record_trajectories(ref, DDPMScheduler, DDIMScheduler)
    np.savez_compressed(OUT, **ref)
    print(f"wrote {OUT} ({OUT.stat().st_size / 1024:.0f} KB, {len(ref)} arrays, diffusers {diffusers.__version__})")


if __name__ == "__main__":
    main()
