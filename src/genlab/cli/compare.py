"""`genlab compare`: train several families on the same data and budget, judge them by the same numbers."""
from __future__ import annotations

import argparse
from typing import Any

from genlab.cli.arguments import int_at_least, nonempty, nonnegative_int, output_dir, positive_float

EPILOG = """\
Each family trains for the same wall-clock --seconds on this machine (its step count calibrated by a short
probe), then draws --n samples. Images are judged on Frechet distance and precision/recall (genlab's MNIST
classifier features for 28x28 grey images, Inception otherwise), 2-D toys on modes covered and the share
of high-quality samples; sampling speed is measured for all. Writes compare.md, compare.json and plots.

examples:
  genlab compare --data mnist --seconds 300 --out runs/compare
  genlab compare --data ring8 --seconds 60 --families ddpm,gan,vae --out runs/compare-ring
"""


def add_parser(sub: Any) -> None:
    p = sub.add_parser("compare", help="the trilemma: families on the same data and budget", epilog=EPILOG,
                       description="Compare model families on quality, coverage and sampling speed.",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=nonempty, default="mnist")
    p.add_argument("--families", type=nonempty, default="ddpm,vae,gan", help="comma-separated (default ddpm,vae,gan)")
    p.add_argument("--seconds", type=positive_float, default=120.0, help="training budget of each family")
    p.add_argument("--n", type=int_at_least(2), default=1000, help="samples per family")
    p.add_argument("--seed", type=nonnegative_int, default=0)
    p.add_argument("--out", type=output_dir, default="runs/compare")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from genlab.compare import compare, markdown_table

    families = tuple(f.strip() for f in args.families.split(",") if f.strip())
    results = compare(data=args.data, families=families, seconds=args.seconds, n=args.n, out=args.out,
                      seed=args.seed, progress=not args.quiet)
    print(markdown_table(results))
    print(f"\nwrote {args.out}/compare.md, compare.json, compare_trilemma.png")
    return 0
