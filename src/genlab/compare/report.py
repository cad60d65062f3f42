"""What `genlab compare` writes: compare.json, compare.md, the samples side by side, the trilemma chart and
compare.html (all of it on one self-contained page, by genlab.report)."""
from __future__ import annotations

from pathlib import Path

import torch

from genlab.compare.runner import RowResult
from genlab.files import write_json_atomic, write_text_atomic

COVERAGE_KEYS = ("fd", "precision", "recall", "modes_covered", "high_quality")


def _cell(value: float | str | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def markdown_table(results: list[RowResult]) -> str:
    """The comparison as a Markdown table: one row per sampled model, with its training and sampling cost."""
    keys = [k for k in COVERAGE_KEYS if any(k in r.metrics for r in results)]
    head = ["row", "network calls", "train s", "train steps", *keys, "samples/s", "note"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        cells = [r.label, str(r.calls), f"{r.train_seconds:.0f}", str(r.train_steps)]
        cells += [_cell(r.metrics.get(k)) for k in keys]
        cells += [f"{r.samples_per_s:.1f}", r.note]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_trilemma(results: list[RowResult], path: Path, *, data: str) -> None:
    """Quality against sampling time (log), one point per scored row, coloured by entry (Xiao et al. 2022, Fig. 1)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scored = [r for r in results if "fd" in r.metrics]
    entries = list(dict.fromkeys(r.entry for r in results))
    colours = {e: plt.get_cmap("tab10")(i % 10) for i, e in enumerate(entries)}
    fig, ax = plt.subplots(figsize=(7, 4.8))
    for r in scored:
        ms_per_sample = 1000.0 / r.samples_per_s
        fd = float(r.metrics["fd"])
        ax.scatter(ms_per_sample, fd, s=60, color=colours[r.entry], label=r.entry)
        ax.annotate(r.label, (ms_per_sample, fd), textcoords="offset points", xytext=(5, 4), fontsize=8)
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    ax.legend(unique.values(), unique.keys(), fontsize=8, loc="best")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("sampling time per sample (ms, log scale)")
    extractor = scored[0].metrics["extractor"] if scored else "features"
    ax.set_ylabel(f"Frechet distance ({extractor} features, log), lower is better")
    ax.set_title(f"{data}: sample quality against sampling time")
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(results: list[RowResult], *, out: Path, data: str, seconds: float, n: int, kind: str) -> None:
    """compare.json, compare.md, samples side by side (images) or per row (toys), compare_trilemma.png, compare.html."""
    from genlab.nn.hardware import cpu_features, read_cpuinfo
    from genlab.viz import plot_points, save_strip

    out.mkdir(parents=True, exist_ok=True)
    rows = [{k: v for k, v in r.__dict__.items() if k != "samples"} for r in results]
    listed = cpu_features(read_cpuinfo() or "") or set()
    flags = ", ".join(sorted(listed & {"avx2", "avx512f", "avx512_bf16", "amx_bf16"})) or "none listed"
    write_json_atomic(out / "compare.json", {"data": data, "seconds": seconds, "n": n, "cpu_flags": flags,
                                             "threads": torch.get_num_threads(), "results": rows})
    table = markdown_table(results)
    write_text_atomic(out / "compare.md", f"Data {data}, {seconds:.0f} s of training per entry (students: plus "
                      f"their distillation), {n} samples per row; CPU flags: {flags}.\n\n{table}\n")
    drawn = [r for r in results if r.samples is not None]
    if kind == "image" and drawn:
        save_strip([torch.from_numpy(r.samples[:12]) for r in drawn if r.samples is not None],
                   out / "compare_samples.png", scale=2)
    else:
        for r in drawn:
            if r.samples is not None:
                plot_points(r.samples, out / f"compare_{r.label.replace(' ', '_')}.png")
    plot_trilemma(results, out / "compare_trilemma.png", data=data)
    from genlab.report import write_report as write_html
    write_html([out], out / "compare.html", title=f"genlab compare on {data}")
