"""`genlab compare`: train several families on the same data and budget, judge them by the same numbers."""
from __future__ import annotations

import argparse
from typing import Any

from genlab.cli.arguments import add_old_spelling, int_at_least, nonempty, nonnegative_int, output_dir, positive_float

EPILOG = """\
Each entry trains for the same wall-clock --time-budget on this machine (its step count calibrated by a short
probe), then every row draws --n samples in this one process, batch by batch of the same size:
  ddpm     the demo's diffusion recipe, sampled by DDPM ancestral (all T steps), DDIM 50/10/4/1 and
           DPM-Solver++(2M) 10/5 (one row each)
  distill  progressive distillation of the ddpm run (Salimans & Ho 2022) down to 1 step in
           --distill-time-budget; rows for the 8, 4, 2 and 1-step students (needs ddpm)
  ddgan    the denoising diffusion GAN (Xiao et al. 2022) with T = 4 steps; ddgan2 the same with T = 2
  vae, gan each family's CPU recipe (a conv VAE; DCGAN with the non-saturating loss)
Images are judged on Frechet distance and precision/recall (genlab's MNIST classifier features for 28x28 grey
images, Inception otherwise), 2-D toys on modes covered and the share of high-quality samples; sampling speed
is measured for all. A row whose samples would take more than --sample-time-budget says so and keeps only its
speed. Writes compare.html (all of it on one self-contained page), compare.md, compare.json,
compare_samples.png and compare_trilemma.png (quality against sampling time, the trilemma of Xiao et al. 2022).

examples:
  genlab compare --data mnist --time-budget 300 --out runs/compare
  genlab compare --data mnist --families ddpm,distill,ddgan,ddgan2,gan,vae --time-budget 300 \
      --distill-time-budget 600
  genlab compare --data ring8 --time-budget 60 --families ddpm,gan,vae --out runs/compare-ring
"""


def add_parser(sub: Any) -> None:
    from genlab.compare.recipes import DEFAULT_FAMILIES, entry_names

    p = sub.add_parser("compare", help="the trilemma: families on the same data and budget", epilog=EPILOG,
                       description="Compare model families on quality, coverage and sampling speed.",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=nonempty, default="mnist",
                   help="dataset of every entry: mnist, ring8, grid25, ... (see `genlab datasets`; default mnist)")
    p.add_argument("--families", type=nonempty, default=",".join(DEFAULT_FAMILIES),
                   help=f"comma-separated entries among {', '.join(entry_names())} "
                        f"(default {','.join(DEFAULT_FAMILIES)})")
    p.add_argument("--time-budget", type=positive_float, default=120.0, metavar="SECONDS",
                   help="wall-clock training seconds of each entry (default 120)")
    p.add_argument("--distill-time-budget", type=positive_float, default=None, metavar="SECONDS",
                   help="distillation seconds of the students in all, split equally over the stages "
                        "(default: --time-budget)")
    p.add_argument("--sample-time-budget", type=positive_float, default=600.0, metavar="SECONDS",
                   help="most seconds one row may take to draw its --n samples (default 600)")
    for old, new in (("--seconds", "time_budget"), ("--distill-seconds", "distill_time_budget"),
                     ("--sample-seconds", "sample_time_budget")):
        add_old_spelling(p, old, dest=new, type=positive_float)
    p.add_argument("--n", type=int_at_least(2), default=1000, help="samples per row (default 1000)")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="seed of training and sampling (default 0)")
    p.add_argument("--out", type=output_dir, default="runs/compare",
                   help="folder for the entries' run folders and compare.html/.md/.json and pictures "
                        "(default runs/compare)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from genlab.compare import compare, markdown_table

    families = tuple(f.strip() for f in args.families.split(",") if f.strip())
    results = compare(data=args.data, families=families, seconds=args.time_budget, n=args.n, out=args.out,
                      seed=args.seed, progress=not args.quiet, distill_seconds=args.distill_time_budget,
                      sample_seconds=args.sample_time_budget)
    print(markdown_table(results))
    pictures = ", ".join(sorted(p.name for p in args.out.glob("compare_*.png")))
    print(f"\nwrote {args.out / 'compare.html'} (the whole comparison on one page), compare.md, compare.json, "
          f"{pictures}; each entry's run folder is in {args.out}")
    return 0
