"""The pictures of docs/translate.md: test items of a task as input | each run's output | target (where known).

Usage: PYTHONPATH=src python benchmarks/translate_pictures.py --task TASK --out PNG [--n 16] RUN [RUN ...]
"""
from __future__ import annotations

import argparse

import torch

from genlab.data.pairs import load_sides
from genlab.training.run import load_run
from genlab.translate.inference import translate_images
from genlab.viz import save_side_by_side


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+")
    p.add_argument("--task", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--n", type=int, default=16)
    args = p.parse_args()
    sides = load_sides(args.task, split="test")
    a = torch.from_numpy(sides.a.x[:args.n])
    columns = [a, *(translate_images(load_run(r), a) for r in args.runs)]
    if sides.paired:
        columns.append(torch.from_numpy(sides.b.x[:args.n]))
    save_side_by_side(columns, args.out, rows=max(1, args.n // 2), scale=2)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
