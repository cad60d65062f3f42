"""Study: mode coverage of GANs on the 2-D toy mixtures (VEEGAN / PacGAN protocol), over losses x tools x seeds.

`nice -n 5 python studies/gan_coverage.py --data grid25 --losses nonsaturating hinge --tools none pack2 sn r1
--seeds 0 1 --cpu-budget 300 --jobs 2 --out runs/cov` trains one run per (data, loss, tools, seed) from the
PacGAN preset (configs/gan_<data>_pacgan.toml, packing set by the tools), each in its own single-thread process
(at most --jobs at once), stops it after --steps or --cpu-budget CPU seconds, draws 2,500 samples from the EMA
generator, and writes one JSON row per run (OUT/rows/; finished runs are skipped when rerun) and the Markdown
table of modes covered and high-quality share (mean +- std over seeds) with the CPU time of each cell.
`--diagnose RUN ...` only reads trained runs: the share of their samples in the cores, the halo and between
modes, and their discriminator's mean logit on packs of each distance band (docs/gan.md, the grid's second round).
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

CONFIGS = Path(__file__).parents[1] / "configs"
# The preset each data set trains from (with data.name set): VEEGAN's std-0.02 grid25 shares the networks of
# PacGAN's std-0.05 grid preset.
PRESETS = {"ring8": "gan_ring8_pacgan.toml", "grid25": "gan_grid25_pacgan.toml",
           "grid25-pacgan": "gan_grid25_pacgan.toml"}

# Published rows, 2,500 samples: (source, data, method, modes covered, high-quality share), as issue 15
# quotes them. VEEGAN (Srivastava et al. 2017, Table 1) uses std 0.02 for both sets, as genlab's ring8 and grid25
# do; PacGAN (Lin et al. 2018, Table 1; their code) uses a ring of radius 1 with std 0.01 (the same ratio) and
# the std-0.05 grid of grid25-pacgan. "plain GAN" is the range over both papers.
PUBLISHED: list[tuple[str, str, str, str, str]] = [
    ("VEEGAN and PacGAN papers", "ring8", "plain GAN", "1 to 6.3", "-"),
    ("VEEGAN paper", "ring8", "VEEGAN", "8", "-"),
    ("PacGAN paper", "ring8", "PacGAN2", "7.9", "over 90%"),
    ("VEEGAN and PacGAN papers", "grid25", "plain GAN", "3.3 to 17.3", "-"),
    ("VEEGAN paper (std 0.02)", "grid25", "VEEGAN", "24.6", "40%"),
    ("PacGAN paper (std 0.05)", "grid25-pacgan", "PacGAN2", "23.8", "91%"),
]

# WGAN-GP keeps its own k = 5 critic steps and Adam betas (0.5, 0.9) (Gulrajani et al. 2017, Algorithm 1).
LOSS_SETTINGS = {"wgan-gp": ["gan.d_steps=5", "gan.betas=[0.5, 0.9]"]}
R1_GAMMA = 0.001         # modes of std 0.02 need a steep D: the R1 weight that configs/ddgan_grid25.toml uses


def tool_overrides(tools: str, *, inputs_per_batch: int) -> list[str]:
    """Config overrides of a '+'-joined tool set: none, pack2..pack4, sn, mbstd, r1 (e.g. 'pack2+sn').

    Packing keeps the preset's number of D inputs per batch, so PacGANm trains on m times the samples (as in
    Lin et al. 2018, whose batch is 100 packed inputs).
    """
    out, pack = [], 1
    for tool in tools.split("+"):
        if tool.startswith("pack") and tool[4:].isdigit():
            pack = int(tool[4:])
            out.append(f"gan.pack={pack}")
        elif tool == "sn":
            out.append("model.d_spectral_norm=true")
        elif tool == "mbstd":
            out.append("model.d_minibatch_std=true")
        elif tool == "r1":
            out.append(f"gan.r1={R1_GAMMA}")
        elif tool != "none":
            raise SystemExit(f"unknown tool {tool!r}: use none, pack2, pack3, pack4, sn, mbstd, r1, joined by '+'")
    return [*out, f"train.batch_size={inputs_per_batch * pack}"]


def train_and_measure(data: str, loss: str, tools: str, *, seed: int, out: str | Path, steps: int, cpu_budget: float,
                      inputs_per_batch: int, extra: Sequence[str] = (), n: int = 2500) -> dict[str, Any]:
    """Train one toy GAN (PacGAN preset + tools) on one thread, then measure its coverage; returns a table row."""
    import tomllib

    from genlab.config import apply_overrides, run_config_from_dict
    from genlab.data import toy_modes
    from genlab.errors import TrainingError
    from genlab.evaluation import run_coverage
    from genlab.training.loop import train
    from genlab.training.run import load_run

    preset = tomllib.loads((CONFIGS / PRESETS[data]).read_text())
    overrides = [f"data.name={data}", f"gan.loss={loss}", *LOSS_SETTINGS.get(loss, []), "gan.pack=1",
                 *tool_overrides(tools, inputs_per_batch=inputs_per_batch), f"train.steps={steps}",
                 f"train.seed={seed}", "train.threads=1", f"train.checkpoint_every={steps}",
                 f"train.time_budget={cpu_budget}", "train.budget_clock=cpu", *extra]
    config = run_config_from_dict(apply_overrides(preset, overrides))
    run_dir = Path(out) / f"{data}_{loss}_{tools}_s{seed}"
    row: dict[str, Any] = {"data": data, "loss": loss, "tools": tools, "seed": seed,
                           "batch_size": config.train.batch_size, "d_steps": config.sections.gan.d_steps}
    cpu0 = time.process_time()
    try:
        result = train(config, run_dir, progress=False)
        cov = run_coverage(load_run(run_dir), n=n, seed=seed)
        row.update(steps=result.step, modes=cov.modes_covered, of=cov.num_modes,
                   high_quality=round(cov.high_quality, 4))
    except TrainingError as err:      # a collapsed run counts as covering nothing
        row.update(steps=None, modes=0, of=len(toy_modes(data)[0]), high_quality=0.0, error=str(err))
    return {**row, "cpu_seconds": round(time.process_time() - cpu0, 1)}


def _exit_with_parent(parent: int, *, every: float = 2.0) -> None:
    """Ends this worker process when the study that spawned it is gone (killed, not only interrupted)."""
    while os.getppid() == parent:
        time.sleep(every)
    os._exit(1)


def _cell(args: tuple[str, str, str, int, dict[str, Any]]) -> dict[str, Any]:
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    data, loss, tools, seed, options = args
    out = Path(options["out"])
    row = train_and_measure(data, loss, tools, seed=seed, **options)
    (out / "rows" / f"{data}_{loss}_{tools}_s{seed}.json").write_text(json.dumps(row))
    return row


def _mean_std(values: list[float]) -> str:
    mean = statistics.fmean(values)
    return f"{mean:.1f} +- {statistics.stdev(values):.1f}" if len(values) > 1 else f"{mean:.1f}"


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """Modes covered and high-quality share as mean +- std over seeds, one line per (data, loss, tools)."""
    lines = ["| data | loss | tools | batch (k) | steps | modes covered | high quality | seeds | CPU s/run |",
             "|---|---|---|---|---|---|---|---|---|"]
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["data"], r["loss"], r.get("tools", "none")), []).append(r)
    for (data, loss, tools), rs in sorted(groups.items()):
        steps = sorted({r["steps"] for r in rs if r.get("steps")})
        step_text = "-" if not steps else str(steps[0]) if len(steps) == 1 else f"{steps[0]}..{steps[-1]}"
        hq = [100 * r["high_quality"] for r in rs]
        lines.append(f"| {data} | {loss} | {tools} | {rs[0]['batch_size']} (k={rs[0]['d_steps']}) | {step_text} | "
                     f"{_mean_std([r['modes'] for r in rs])} of {rs[0]['of']} | {_mean_std(hq)}% | {len(rs)} | "
                     f"{statistics.fmean(r['cpu_seconds'] for r in rs):.0f} |")
    return "\n".join(lines)


def published_table(data: Sequence[str]) -> str:
    """The published rows for the data sets asked for (either grid brings the rows of both grids)."""
    shapes = {d.split("-")[0] for d in data}
    lines = ["| source | data | method | modes covered | high quality |", "|---|---|---|---|---|"]
    lines += [f"| {src} | {d} | {method} | {modes} | {hq} |"
              for src, d, method, modes, hq in PUBLISHED if d.split("-")[0] in shapes]
    return "\n".join(lines)


def coverage_figure(run_dir: str | Path, path: str | Path, *, n: int = 2500, seed: int = 0) -> str:
    """Scatter of n EMA-generator samples of a toy run with the mode centres, titled with its coverage; returns it."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from genlab.data import toy_modes
    from genlab.metrics.toy import mode_coverage
    from genlab.training.run import load_run

    run = load_run(run_dir)
    centres, std = toy_modes(run.config.data.name)
    x = run.sample(n, seed=seed).numpy()
    cov = mode_coverage(x, centres, std)
    step = json.loads((Path(run_dir) / "log.jsonl").read_text().splitlines()[-1])["step"]
    title = (f"{run.config.data.name}, step {step}: {cov.modes_covered}/{cov.num_modes} modes, "
             f"{100 * cov.high_quality:.0f}% high quality")
    fig = Figure(figsize=(5, 5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.scatter(x[:, 0], x[:, 1], s=1, alpha=0.5)
    ax.scatter(centres[:, 0], centres[:, 1], marker="x", color="red", label="modes")
    lim = 1.3 * float(abs(centres).max())
    ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal", title=title)
    ax.legend(loc="upper right")
    fig.savefig(path, dpi=110, bbox_inches="tight")
    return title


BANDS = ((0.0, 2.0), (2.0, 3.0), (3.0, 5.0), (5.0, 10.0), (10.0, float("inf")))    # distance to the centre, in stds


def diagnose(run_dir: str | Path, *, n: int = 20000, seed: int = 0) -> dict[str, Any]:
    """Where a toy run's samples lie and how its D scores them: the shares of n EMA-generator samples within 3 std
    of their nearest centre (high quality), in the halo out to a quarter spacing and beyond it (between modes), and
    D's mean logit on packs of real samples and of generated samples of one distance band (BANDS, in mode stds)."""
    import torch

    from genlab.data import sample_toy, toy_modes
    from genlab.metrics.toy import mode_spread
    from genlab.training.run import load_run

    run = load_run(run_dir)
    centres_np, std = toy_modes(run.config.data.name)
    centres = torch.as_tensor(centres_np, dtype=torch.float32)
    m, D = run.config.sections.gan.pack, run.models["D"]
    fake = run.sample(n, seed=seed).float()
    real = torch.as_tensor(sample_toy(run.config.data.name, n, seed=seed).x, dtype=torch.float32)
    dist = torch.cdist(fake, centres).min(dim=1).values

    def logit(x: torch.Tensor) -> float:
        """D's mean score on x (N, 2) packed m at a time, in order (NaN for fewer than m samples)."""
        x = x[:len(x) // m * m]
        with torch.no_grad():
            return float(D(x.reshape(-1, 2 * m)).mean()) if len(x) else float("nan")

    shares = mode_spread(fake.double().numpy(), centres_np, std)
    row: dict[str, Any] = {"run": str(run_dir), "step": run.step, "n": n,
                           **{k: shares[k] for k in ("high_quality", "halo", "between")},
                           "d_real": logit(real), "d_fake": logit(fake)}
    for lo, hi in BANDS:
        inside = (dist >= lo * std) & (dist < hi * std)
        row[f"share_{lo:g}-{hi:g}std"] = float(inside.float().mean())
        row[f"d_fake_{lo:g}-{hi:g}std"] = logit(fake[inside])
    return row


def main(argv: Sequence[str] | None = None) -> int:
    """Train and measure every (data, loss, tools, seed) not yet done; print the Markdown tables."""
    p = argparse.ArgumentParser(description="GAN mode coverage on ring8 / grid25 (VEEGAN/PacGAN protocol)")
    p.add_argument("--data", nargs="+", default=["ring8", "grid25"])
    p.add_argument("--losses", nargs="+", default=["nonsaturating"])
    p.add_argument("--tools", nargs="+", default=["none", "pack2"],
                   help="tool sets: none, pack2..pack4, sn, mbstd, r1, or several joined by '+'")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--steps", type=int, default=100_000, help="step cap per run")
    p.add_argument("--cpu-budget", type=float, default=300.0, help="CPU seconds of training per run (1 thread)")
    p.add_argument("--batch", type=int, default=100, help="discriminator inputs per batch (x pack samples)")
    p.add_argument("--jobs", type=int, default=1, help="runs at once, each a single-thread process")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="extra config overrides")
    p.add_argument("--out", type=Path, default=Path("runs/gan_coverage"))
    p.add_argument("--figure", nargs=2, type=Path, metavar=("RUN", "PNG"),
                   help="only draw RUN's 2,500 samples with the mode centres into PNG (titled with its coverage)")
    p.add_argument("--diagnose", nargs="+", type=Path, metavar="RUN",
                   help="only print where RUNs' samples lie (core, halo, between modes) and D's logit on each band")
    args = p.parse_args(argv)
    if args.diagnose:
        for run_dir in args.diagnose:
            print(json.dumps(diagnose(run_dir)), flush=True)
        return 0
    if args.figure:
        print(coverage_figure(*args.figure))
        return 0
    (args.out / "rows").mkdir(parents=True, exist_ok=True)
    options = {"out": str(args.out), "steps": args.steps, "cpu_budget": args.cpu_budget,
               "inputs_per_batch": args.batch, "extra": list(args.set)}
    cells = [(d, loss, tools, seed, options) for d in args.data for loss in args.losses for tools in args.tools
             for seed in args.seeds if not (args.out / "rows" / f"{d}_{loss}_{tools}_s{seed}.json").exists()]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=args.jobs, mp_context=context, max_tasks_per_child=1) as pool:
        for row in pool.map(_cell, cells):
            print(json.dumps(row), flush=True)
    rows = [json.loads(f.read_text()) for f in sorted((args.out / "rows").glob("*.json"))]
    print(markdown_table([r for r in rows if r["data"] in args.data]))
    print(published_table(args.data))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
