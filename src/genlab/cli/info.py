"""`genlab info RUN`: what a run folder holds, without loading its networks."""
from __future__ import annotations

import argparse
import json
from typing import Any

EPILOG = """\
Prints the family, the data, the steps done and planned, the checkpoints kept, the precision training used
(and why), parameter counts per network, the last row of log.jsonl and the results `genlab eval` wrote.

examples:
  genlab info runs/demo
  genlab info runs/demo --json
"""


def add_parser(sub: Any) -> None:
    p = sub.add_parser("info", help="what a run folder holds", epilog=EPILOG,
                       description="Describe a run folder: family, data, progress, checkpoints, precision, evals.",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", metavar="RUN", help="run folder written by `genlab train`")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from genlab.inspection import format_info, run_info

    info = run_info(args.run_dir)
    print(json.dumps(info, indent=2, default=str) if args.json else format_info(info))
    return 0
