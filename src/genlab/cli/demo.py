"""`genlab demo`: train a DDPM on MNIST within a time budget and write its pictures and numbers."""
from __future__ import annotations

import argparse
import json
from typing import Any

from genlab.cli.arguments import add_old_spelling, output_dir, positive_float

EPILOG = """\
The demo trains a ~1M-parameter U-Net DDPM on MNIST (bf16 autocast where the CPU has native bf16, else
fp32), stops within the budget, then writes a 64-sample DDIM grid, a denoising trajectory strip and the loss
curve. A machine too slow or busy for a useful number of steps is told so in one line, and still gets its
pictures. Running it again on the same --out resumes the run instead of starting over.

examples:
  genlab demo                       # at most ~10 minutes on 2 cores
  genlab demo --time-budget 180 --out runs/quick
"""


def add_parser(sub: Any) -> None:
    p = sub.add_parser("demo", help="train a DDPM on MNIST in minutes and draw it", epilog=EPILOG,
                       description="Train a diffusion model on MNIST within a wall-clock time budget.",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=output_dir, default="runs/demo",
                   help="run folder to create or resume; the pictures and demo_summary.json go in it "
                        "(default runs/demo)")
    p.add_argument("--time-budget", type=positive_float, default=600.0, metavar="SECONDS",
                   help="wall-clock seconds for everything: probe, training and pictures (default 600)")
    add_old_spelling(p, "--minutes", dest="time_budget", type=positive_float, factor=60.0)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from genlab.demo import run_demo

    res = run_demo(args.out, minutes=args.time_budget / 60.0, overrides=args.set, progress=not args.quiet)
    print(json.dumps(res.summary, indent=2))
    print(f"samples:    {res.grid}\ntrajectory: {res.trajectory}\nloss curve: {res.loss_plot or 'none (no log row)'}")
    return 130 if res.summary.get("stopped") == "interrupted" else 0
