"""`genlab datasets`: what data genlab can read offline, its shape and where it comes from."""
from __future__ import annotations

import argparse
from typing import Any

EPILOG = """\
Besides the built-in names, --data takes a path: a folder of images (class sub-folders give labels),
an .npz with `x` (and `y`), an idx(.gz) file pair, a CSV of numeric columns, or cifar10:PATH to the
binary CIFAR-10 batches. Video runs (vdm) take moving-mnist[:frames=16,...], an .npz of clips x (N, T, C, H, W),
a GIF, or video:FOLDER of GIFs or frame folders. Image-to-image runs take a task, an .npz with arrays `a` and
`b` (pairs), or two sources (--data-a A --data-b B; two folders with the same file names are paired).
"""


def add_parser(sub: Any) -> None:
    p = sub.add_parser("datasets", help="list the data genlab reads offline", epilog=EPILOG,
                       description="List built-in datasets, their shapes and sources.",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from genlab.data import list_datasets

    rows = list_datasets()
    print(f"{'name':<14}{'kind':<8}{'shape':<14}{'classes':<9}{'available':<11}source")
    for d in rows:
        shape = "x".join(str(s) for s in d.shape) if d.shape else "-"
        print(f"{d.name:<14}{d.kind:<8}{shape:<14}{str(d.num_classes or '-'):<9}"
              f"{'yes' if d.available else 'no':<11}{d.source}")
    from genlab.data.translation_tasks import TASKS

    print("\nimage-to-image tasks (two sides a and b, for pix2pix and cyclegan; 1x28x28, made from MNIST offline):")
    for name, task in TASKS.items():
        print(f"  {name:<14}{task.description}")
    print("\n" + EPILOG.strip())
    return 0
