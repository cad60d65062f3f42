"""`genlab distill TEACHER`: progressive distillation (Salimans & Ho 2022) of a diffusion run, stage by stage."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from genlab.cli.arguments import (add_old_spelling, nonempty, nonnegative_float, output_dir, positive_float,
                                   positive_int)

EPILOG = """\
Each stage halves the DDIM steps: a student of n steps learns to take, in one step, two DDIM steps of its
teacher (the previous stage; the first stage's teacher is TEACHER at --from-steps). Students are sampled by
DDIM, eta 0, on the "trailing" timestep grid, which nests exactly from stage to stage; each predicts v and
starts from its teacher's weights. The last student is the run folder OUT (`genlab sample OUT`,
`genlab eval OUT` work on it); earlier ones are OUT/stages/steps_N. Running the same command again resumes an
unfinished stage at its exact step and skips finished ones. The teacher is a `ddpm` or `ldm` run (or a student;
an ldm teacher gives `distill_ldm` students, which diffuse in its autoencoder's latents).

budget per stage: --steps-per-stage optimiser steps at a learning rate decaying linearly from --lr to 0
(default 300 steps of batch 32 from 3e-4: about 4 minutes a stage for the demo's MNIST U-Net on one core,
and a 4-step student within 1.12x of its teacher's DDIM-50 Frechet distance, see docs/sampling.md);
--stage-time-budget stops a stage earlier (its learning rate then has not reached 0).

examples:
  genlab distill runs/mnist --to-steps 4 --out runs/mnist_4              # 64 -> 32 -> 16 -> 8 -> 4
  genlab distill runs/mnist --to-steps 1 --out runs/mnist_1 --steps-per-stage 600
  genlab distill runs/mnist --to-steps 8 --from-steps 128 --stage-time-budget 120 --out runs/mnist_8
  genlab distill runs/cfg_mnist --to-steps 4 --guidance 3 --out runs/cfg_4   # guidance baked into the student
  genlab sample runs/mnist_4 --n 64                                       # 4 network calls per sample
  genlab eval runs/mnist_4 --metrics fid --extractor classifier --n 1000
"""


def add_parser(sub: Any) -> None:
    p = sub.add_parser("distill", help="distil a diffusion run into a few-step student (progressive distillation)",
                       description="Progressive distillation (Salimans & Ho 2022): halve a diffusion run's DDIM "
                                   "steps stage by stage, each stage a resumable run.",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("teacher", metavar="TEACHER_RUN", type=nonempty, help="run folder of a trained ddpm or ldm run")
    p.add_argument("--to-steps", type=positive_int, required=True, help="the final student's DDIM steps")
    p.add_argument("--from-steps", type=positive_int,
                   help="the teacher's DDIM steps in the first stage (default: the smallest power of two >= its "
                        "diffusion.sample_steps, e.g. 64 for 50)")
    p.add_argument("--steps-per-stage", type=positive_int, default=300, help="optimiser steps per stage (300)")
    p.add_argument("--stage-time-budget", type=nonnegative_float, default=0.0, metavar="SECONDS",
                   help="stop each stage after this many wall-clock seconds (default 0: no limit)")
    add_old_spelling(p, "--seconds-per-stage", dest="stage_time_budget", type=nonnegative_float)
    p.add_argument("--lr", type=positive_float, default=3e-4, help="peak learning rate of each stage (3e-4)")
    p.add_argument("--batch-size", type=positive_int, default=32, help="global batch size (32)")
    p.add_argument("--guidance", type=nonnegative_float, metavar="W",
                   help="classifier-free guidance scale of a conditional teacher's targets (default: the "
                        "teacher's condition.guidance); the student samples guided, one call per step")
    p.add_argument("--out", type=output_dir, required=True,
                   help="run folder of the final student; earlier students go in OUT/stages/steps_N")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from genlab.distill.progressive import Budget, distill

    budget = Budget(steps=args.steps_per_stage, seconds=args.stage_time_budget, lr=args.lr,
                    batch_size=args.batch_size)
    results = distill(args.teacher, Path(args.out), to_steps=args.to_steps, from_steps=args.from_steps,
                      budget=budget, guidance=args.guidance, progress=not args.quiet)
    if results and results[-1].stopped == "interrupted":
        print("interrupted; checkpoint saved: run the same command again to resume this stage")
        return 130
    print(f"student: {args.out} ({args.to_steps} DDIM steps; `genlab sample {args.out}`, `genlab eval {args.out}`)")
    return 0
