"""What a report shows of one run folder, read from its files: config, hardware, curves, grids, evals."""
from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genlab.report.charts import Chart, training_charts

MAX_GRIDS = 8              # sample grids shown over training: evenly spaced, always the last
PROVENANCE = ("file", "step", "ref", "extractor", "n_fake", "n_ref", "n", "weights", "seed", "sampler", "steps",
              "likelihood", "binarize", "kid_subset_size", "seconds")
LIKELIHOOD_KEYS = {"bpd", "nll", "elbo", "iwae", "elbo_bpd", "iwae_bpd"}


@dataclass
class Picture:
    """An image for the page: its caption and a data: URI (PNG bytes in base64)."""

    caption: str
    uri: str


@dataclass
class EvalRow:
    """One RUN/eval/*.json result: where its numbers come from, and the numbers."""

    provenance: dict[str, Any]
    numbers: dict[str, float]
    likelihood: bool


@dataclass
class RunPage:
    """Everything the report shows of one run."""

    name: str
    path: str
    info: dict[str, Any]
    sections: dict[str, dict[str, Any]]
    hardware: dict[str, Any]
    budget: dict[str, Any]
    charts: list[Chart]
    grids: list[Picture]
    pictures: list[Picture]
    evals: list[EvalRow] = field(default_factory=list)


def png_uri(path: Path) -> str:
    """A PNG file as a data: URI."""
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def read_log(path: Path) -> list[dict[str, Any]]:
    """The parseable rows of a log.jsonl (torn or foreign lines skipped)."""
    rows = []
    for line in path.read_text(errors="replace").splitlines() if path.is_file() else []:
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict) and isinstance(row.get("step"), int):
            rows.append(row)
    return rows


def sample_grids(run_dir: Path, *, most: int = MAX_GRIDS) -> list[Picture]:
    """RUN/samples/step_*.png in step order, thinned evenly to at most `most` (the last one kept)."""
    found = sorted((int(m.group(1)), p) for p in (run_dir / "samples").glob("step_*.png")
                   if (m := re.fullmatch(r"step_(\d+)\.png", p.name)))
    if len(found) > most:
        picks = {round(i * (len(found) - 1) / (most - 1)) for i in range(most)}
        found = [found[i] for i in sorted(picks)]
    return [Picture(caption=f"step {step}", uri=png_uri(path)) for step, path in found]


def eval_rows(run_dir: Path) -> list[EvalRow]:
    """RUN/eval/*.json, newest first, split into provenance and numbers."""
    rows = []
    files = sorted((run_dir / "eval").glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    for path in files:
        try:
            record = json.loads(path.read_text())
        except (json.JSONDecodeError, OSError, UnicodeDecodeError):
            continue
        if not isinstance(record, dict):
            continue
        record = {"file": path.name, **record}
        provenance = {k: record[k] for k in PROVENANCE if k in record}
        numbers = {k: float(v) for k, v in record.items() if k not in PROVENANCE and isinstance(v, (int, float))
                   and not isinstance(v, bool)}
        rows.append(EvalRow(provenance, numbers, likelihood=bool(LIKELIHOOD_KEYS & set(numbers))))
    return rows


def _budget(train: dict[str, Any], rows: list[dict[str, Any]], run_dir: Path) -> dict[str, Any]:
    """Steps planned and done, batch size, time budget, and the seconds and speed training took."""
    last = rows[-1] if rows else {}
    clock = train.get("budget_clock", "wall")
    budget = {"steps planned": train.get("steps"), "steps logged": last.get("step"),
              "batch size": train.get("batch_size"),
              "time budget (s)": f"{train['time_budget']:g} ({clock} clock)" if train.get("time_budget") else "none",
              "seconds (last training call)": round(float(last.get("seconds", 0.0)), 1) if last else None,
              "CPU seconds (last training call)": round(float(last["cpu_seconds"]), 1) if "cpu_seconds" in last
              else None}
    summary = run_dir / "demo_summary.json"
    if summary.is_file():
        try:
            demo = json.loads(summary.read_text())
            budget.update({f"demo: {k}": v for k, v in demo.items() if k in ("train_seconds", "wall_seconds",
                                                                                 "train_images_per_s", "stopped")})
        except json.JSONDecodeError:
            pass
    return budget


def read_run(run_dir: str | Path) -> RunPage:
    """A run folder as the report shows it (a CheckpointError when it is not a genlab run)."""
    from genlab.inspection import run_info
    from genlab.training.run import load_config_record

    run_dir = Path(run_dir)
    info = run_info(run_dir)
    record = load_config_record(run_dir)
    config = record["config"]
    sections = {k: v for k, v in config.items() if isinstance(v, dict)}
    rows = read_log(run_dir / "log.jsonl")
    hardware = record["genlab"].get("hardware") or {"recorded": "no (run made before genlab recorded hardware)"}
    pictures = [Picture(caption=p.name, uri=png_uri(p)) for p in sorted(run_dir.glob("*.png"))]
    return RunPage(name=run_dir.name, path=str(run_dir), info=info, sections=sections, hardware=hardware,
                   budget=_budget(sections.get("train", {}), rows, run_dir), charts=training_charts(rows),
                   grids=sample_grids(run_dir), pictures=pictures, evals=eval_rows(run_dir))


def summary_row(page: RunPage) -> dict[str, Any]:
    """One line of the runs-side-by-side table: identity, cost, last loss and the newest value of each eval number."""
    last = page.info.get("last_log") or {}
    loss = last.get("loss", next((v for k, v in last.items() if k.endswith("_loss")), None))
    row: dict[str, Any] = {
        "run": page.name, "family": page.info.get("family"), "data": page.info.get("data"),
        "steps": page.info.get("step"), "parameters": sum((page.info.get("parameters") or {}).values()) or None,
        "precision": (page.info.get("precision") or {}).get("resolved"),
        "seconds": page.budget.get("seconds (last training call)"), "last loss": loss,
    }
    for ev in reversed(page.evals):                 # oldest first, so the newest value of a number wins
        row.update(ev.numbers)
    return row
