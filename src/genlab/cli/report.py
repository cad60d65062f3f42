"""`genlab report RUN [RUN ...] --out report.html`: one self-contained HTML page on runs and comparisons."""
from __future__ import annotations

import argparse
from typing import Any

from genlab.cli.arguments import nonempty, output_file

EPILOG = """\
Per run: the family, data, steps, checkpoints, precision and parameters; the budget and the hardware it trained
on; training curves from log.jsonl (SVG); the sample grids of RUN/samples over training and the pictures in the
run folder; every `genlab eval` result in RUN/eval with what it was computed on (reference, extractor, n, EMA or
raw weights, seed), likelihoods apart; the config. Across runs: a table side by side. A `genlab compare` folder
(one holding compare.json) adds its table, trilemma chart and samples. Pictures are embedded as base64 PNG:
the file opens from disk with the network off and needs no JavaScript.

examples:
  genlab report runs/demo --out report.html
  genlab report runs/vae runs/gan runs/ddpm --out runs/three.html
  genlab report runs/compare --out compare.html
"""


def add_parser(sub: Any) -> None:
    p = sub.add_parser("report", help="one HTML page on runs and comparisons", epilog=EPILOG,
                       description="Write a self-contained HTML report on run folders and compare folders.",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folders", nargs="+", metavar="RUN", help="run folders (genlab train) or compare folders")
    p.add_argument("--out", type=output_file, default="report.html", help="HTML file to write (default report.html)")
    p.add_argument("--title", type=nonempty, help="page title (default: the folder names)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from genlab.report import write_report

    path = write_report(args.folders, args.out, title=args.title)
    print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB, self-contained)")
    return 0
