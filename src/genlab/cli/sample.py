"""`genlab sample RUN`: draw samples from a trained run and write a grid (and optionally an .npz)."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from genlab.cli.arguments import add_old_spelling, nonnegative_float, nonnegative_int, output_file, positive_int

EPILOG = """\
examples:
  genlab sample runs/mnist --n 64 --sampler ddim --sample-steps 50 --eta 0 --out grid.png
  genlab sample runs/mnist --n 16 --sampler ancestral --sample-steps 1000 --out ancestral.png
  genlab sample runs/mnist --n 64 --sampler dpmpp_2m --sample-steps 10      # probability-flow ODE, Karras spacing
  genlab sample runs/mnist --n 64 --sampler dpmpp_2m --sample-steps 5       # few steps: DPM-Solver's quadratic spacing
  genlab sample runs/mnist --n 10000 --npz samples.npz      # uint8 images for `genlab eval`
  genlab sample runs/gan_cond --n 64 --label 7              # class-conditional GAN: only sevens
  genlab sample runs/cfg_mnist --label 7 --guidance 3        # conditional diffusion, classifier-free guidance
  genlab sample runs/text_mnist --prompt "a handwritten seven" --guidance 3   # needs genlab[text]
  genlab sample runs/sr_mnist --low-res digit_7x7.png --n 16 # super-resolution: 16 draws for one input
  genlab sample runs/vdm --n 16 --out clip.gif              # video run: animated GIF + clip.png frame strip
  genlab sample runs/vdm --context first_frames.npz --frames 32 --out long.gif   # continue each given clip once
  torchrun --nproc_per_node 4 -m genlab.cli.main sample runs/mnist --n 50000 --npz s.npz  # 4 processes
Samples come from the EMA weights unless --raw is given; the same --seed gives the same samples, however
many processes draw them (chunk k of --batch-size always uses the stream (seed, k)).
"""


def add_parser(sub: Any) -> None:
    p = sub.add_parser("sample", help="draw samples from a trained run", epilog=EPILOG,
                       description="Draw samples from a trained run folder into a PNG grid and/or an .npz.",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", metavar="RUN", help="run folder written by `genlab train`")
    p.add_argument("--n", type=positive_int, default=None,
                   help="number of samples (default 64; with --context, one per context clip)")
    from genlab.diffusion.samplers import SAMPLERS
    p.add_argument("--sampler", metavar="NAME", help="diffusion sampler (default: the run's): "
                   + "; ".join(f"{name} = {s.summary}" for name, s in SAMPLERS.items()))
    p.add_argument("--sample-steps", dest="steps", type=positive_int, metavar="N",
                   help="sampling steps (default: the run's diffusion.sample_steps; ancestral: T); heun makes 2 "
                        "network calls per step but the last")
    add_old_spelling(p, "--steps", dest="steps", type=positive_int)
    p.add_argument("--eta", type=nonnegative_float, help="DDIM eta: 0 deterministic, 1 ~ ancestral")
    from genlab.diffusion.timesteps import SCHEDULE_SPACINGS
    p.add_argument("--spacing", choices=SCHEDULE_SPACINGS,
                   help="timestep spacing (default: the sampler's own, "
                   + "; ".join(f"{name}: {entry.spacing_rule()}" for name, entry in SAMPLERS.items() if entry.spacing)
                   + "; else the run's diffusion.spacing)")
    p.add_argument("--label", type=nonnegative_int, help="class to draw, for class-conditional models (e.g. a gan with "
                                         "model.condition=projection)")
    p.add_argument("--prompt", help="text prompt, for text-conditional diffusion runs (needs genlab[text])")
    p.add_argument("--guidance", type=nonnegative_float, metavar="W",
                   help="classifier-free guidance scale of a conditional "
                   "diffusion run: 0 unconditional, 1 conditional, >1 sharper (default: the run's); video runs: "
                   "towards the --context frames")
    p.add_argument("--low-res", metavar="IMAGE", help="low-resolution PNG to upsample (super-resolution runs)")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="seed of the samples (default 0)")
    p.add_argument("--batch-size", type=positive_int, default=256, help="samples drawn per chunk (memory stays flat)")
    p.add_argument("--precision", choices=["auto", "fp32", "bf16"], help="network precision while sampling "
                   "(default: the run's train.precision; auto: bf16 where the hardware has it natively)")
    p.add_argument("--raw", action="store_true", help="use the raw weights instead of their EMA")
    p.add_argument("--step", type=nonnegative_int, help="the run's checkpoint of this step (default: the newest)")
    p.add_argument("--out", type=output_file, default=None,
                   help="picture to write: the image grid, or a scatter plot for 2-D data (default "
                        "RUN/samples/sample.png)")
    p.add_argument("--scale", type=positive_int, default=None,
                   help="enlarge each image this many times in the grid (default: to at least 56 px, e.g. 2 for MNIST)")
    p.add_argument("--npz", type=output_file, default=None,
                   help="also write the samples to this .npz (key x, uint8 NCHW)")
    p.add_argument("--context", metavar="NPZ", help="video runs: .npz with uint8 clips x (N, k, C, H, W) to continue "
                   "(N = 1 or --n; k < the model's window)")
    p.add_argument("--frames", type=positive_int, help="video runs: frames per clip (default: the model's window; "
                   "longer clips extend by a sliding window)")
    p.add_argument("--context-method", dest="method", choices=["mask", "reconstruction"],
                   help="video runs: condition on --context by the frame masks the run was trained with, or by "
                   "reconstruction guidance (Ho et al. 2022; default: mask when the run has them)")
    p.add_argument("--realign", action=argparse.BooleanOptionalAction, default=None,
                   help="video runs trained with video.motion: re-align the moved reference to the sampler's x0 at "
                   "every step (default: the run's video.realign)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


SAMPLE_FLAGS = ("sampler", "steps", "eta", "spacing", "precision", "label", "prompt", "guidance", "low_res", "frames",
                "method", "realign")


def flag_of(option: str) -> str:
    """The command-line spelling of a sampling option: steps is --sample-steps, low_res is --low-res."""
    spelled = {"steps": "--sample-steps", "method": "--context-method"}
    return spelled.get(option, f"--{option.replace('_', '-')}")


def _what_it_takes(family: Any, refused: str) -> str:
    """Why a family refuses a sampling flag and which of `genlab sample`'s flags it does take, for the error line."""
    takes = [flag_of(k) for k in SAMPLE_FLAGS if k in family.sample_options]
    note = "it needs a class-conditional model" if refused == "label" else getattr(family, "sampler_note", "")
    listed = f"it takes: {', '.join(takes)}" if takes else "it takes none of the sampling options"
    return f"{note}; {listed}" if note else listed


def _grid_labels(args: argparse.Namespace, classes: int | None) -> dict[str, Any]:
    """Labels of a conditional run's grid: with --label or --prompt a title naming it (and the guidance); a
    class-conditional run (K = `classes`) without --label draws label i % K at i, so one row per K samples,
    label per column."""
    from genlab.viz import class_columns

    said = [f"label {args.label}" if args.label is not None else "", f'"{args.prompt}"' if args.prompt else "",
            f"guidance {args.guidance:g}" if args.guidance is not None else ""]
    if classes and args.label is None:
        return class_columns(args.n, classes, title=", ".join(["column: label", *filter(None, said)]))
    return {"title": ", ".join(filter(None, said))} if any(said) else {}


def run(args: argparse.Namespace) -> int:
    import torch

    from genlab.data import to_uint8
    from genlab.errors import ModelInputError
    from genlab.labels import sampled_classes
    from genlab.sharding import process_rank, sample_sharded
    from genlab.training.run import load_run
    from genlab.viz import plot_points, readable_scale, save_grid

    if args.n is not None and args.n < 1:
        raise ModelInputError(f"--n must be at least 1, got {args.n}")
    if args.low_res is not None:
        from genlab.diffusion.superres import low_res_path
        low_res_path(args.low_res)                                  # a missing file is named before any loading
    run_ = load_run(args.run_dir, ema=not args.raw, device=None, step=args.step)  # this process's GPU if it has one
    options = {k: getattr(args, k) for k in SAMPLE_FLAGS if getattr(args, k) is not None}
    if args.context is not None:
        options["context"] = _context_clips(args.context)
    if args.n is None:                                  # one continuation per given clip, else the usual 64
        args.n = len(options["context"]) if "context" in options else 64
    if args.sampler is not None:
        from genlab.diffusion.samplers import get_sampler
        get_sampler(args.sampler)                               # an unknown name lists the registry's
    for key in options:
        if key not in run_.family.sample_options:
            raise ModelInputError(f"{flag_of(key)} does not apply to {args.run_dir}, a '{run_.config.family}' run "
                                  f"({_what_it_takes(run_.family, key)})")
    classes = sampled_classes(run_.family, run_.info.num_classes)
    if classes and "label" not in options:      # label i % K for sample i over all chunks, as the grid's columns say
        options["label"] = torch.arange(args.n) % classes
    # under torchrun / accelerate launch each process draws its share of the chunks; rank 0 writes
    x = sample_sharded(run_, args.n, seed=args.seed, batch_size=args.batch_size, progress=not args.quiet, **options)
    if process_rank()[0] != 0:
        return 0
    if not bool(x.isfinite().all()):
        raise ModelInputError(f"sampling {args.run_dir} gave non-finite values (NaN/inf); nothing written "
                              "(were the weights trained to NaN?)")
    out = Path(args.out) if args.out else run_.path / "samples" / "sample.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    arr = x.numpy() if run_.info.kind == "vector" else to_uint8(x).numpy()
    if run_.info.kind == "video":
        out = _save_clips(x, out, scale=args.scale or readable_scale(x.shape[-2]))
    elif run_.info.kind == "image":
        save_grid(x, out, scale=args.scale or readable_scale(x.shape[-2]), **_grid_labels(args, classes))
    else:
        plot_points(arr, out)
    print(f"wrote {args.n} samples to {out}")
    if args.npz:
        np.savez_compressed(args.npz, x=arr)
        print(f"wrote {args.npz}")
    return 0


def _context_clips(path: str) -> Any:
    """--context: an .npz of uint8 clips x (N, k, C, H, W) as float clips in [-1, 1]."""
    import torch

    from genlab.data import to_float
    from genlab.data.arrays import load_npz
    from genlab.errors import DataError

    data = load_npz(Path(path))
    if data.kind != "video":
        raise DataError(f"{path}: --context needs uint8 clips x (N, k, C, H, W), got {data.kind}s of shape "
                        f"{tuple(data.x.shape)}")
    return to_float(torch.from_numpy(data.x))


def _save_clips(x: Any, out: Path, *, scale: int) -> Path:
    """Clips as OUT.gif (animated) plus OUT.png (frame strip), or only the strip for a .png --out."""
    from genlab.viz.video import save_gif, save_strip_png

    if out.suffix.lower() == ".gif":
        save_gif(x, out, scale=scale)
        print(f"wrote {out.with_suffix('.png')} (frame strip)")
    save_strip_png(x, out.with_suffix(".png"), scale=scale)
    return out
