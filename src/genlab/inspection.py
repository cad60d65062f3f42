"""What a run folder holds, read without building its networks: what `genlab info RUN` prints."""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from genlab.errors import CheckpointError


def _last_log_row(log: Path) -> dict[str, Any]:
    """The last parseable row of log.jsonl ({} when there is none)."""
    if not log.is_file():
        return {}
    for line in reversed(log.read_text(errors="replace").splitlines()):
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict):
            return row
    return {}


def _parameters(weights: Path) -> dict[str, int]:
    """Parameter counts per network of a checkpoint (raw weights, not their EMA), from the safetensors header."""
    from safetensors import safe_open

    counts: dict[str, int] = {}
    with safe_open(str(weights), framework="pt") as f:
        for key in f.keys():
            prefix, _, rest = key.partition(".")
            if prefix != "model" or not rest:
                continue
            network = rest.partition(".")[0]
            counts[network] = counts.get(network, 0) + math.prod(f.get_slice(key).get_shape())
    return counts


def _evals(run_dir: Path) -> list[dict[str, Any]]:
    """The results `genlab eval` wrote beside the run (RUN/eval/*.json), oldest first."""
    found = []
    for path in sorted((run_dir / "eval").glob("*.json"), key=os.path.getmtime):
        try:
            record = json.loads(path.read_text())
        except (json.JSONDecodeError, OSError, UnicodeDecodeError):
            continue
        if isinstance(record, dict):
            found.append({"file": path.name, **{k: v for k, v in record.items() if not isinstance(v, (dict, list))}})
    return found


def run_info(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Family, data, steps done, checkpoints, last log row, precision, parameters and eval results of a run folder."""
    from genlab.training.checkpoint import latest_checkpoint
    from genlab.training.run import load_config_record

    run_dir = Path(run_dir)
    record = load_config_record(run_dir)
    config, meta = record["config"], record["genlab"]
    latest = latest_checkpoint(run_dir)
    checkpoints = sorted(p.name for p in (run_dir / "checkpoints").glob("step_*") if p.is_dir())
    trainer: dict[str, Any] = {}
    if latest is not None and (latest / "trainer.json").is_file():
        try:
            trainer = json.loads((latest / "trainer.json").read_text())
        except (json.JSONDecodeError, OSError, UnicodeDecodeError):
            raise CheckpointError(f"{latest}/trainer.json is not valid JSON; the checkpoint is corrupt") from None
    train = config.get("train", {}) if isinstance(config.get("train"), dict) else {}
    last_log = _last_log_row(run_dir / "log.jsonl")
    return {
        "run": str(run_dir), "family": config.get("family"), "data": config.get("data", {}).get("name"),
        "data_info": meta.get("data_info"), "genlab_version": meta.get("version"),
        "precision": meta.get("precision", {}), "steps_planned": train.get("steps"),
        "step": trainer.get("step"), "checkpoints": checkpoints,
        "parameters": _parameters(latest / "weights.safetensors") if latest is not None else {},
        "last_log": last_log, "evals": _evals(run_dir), "stopped": _stop_reason(last_log, train),
    }


def _stop_reason(last: dict[str, Any], train: dict[str, Any]) -> str | None:
    """Why the last training session ended before train.steps, from the log's last row (None: it did not)."""
    why = last.get("stopped") if last else None
    if why == "time_budget":
        clock = "CPU" if train.get("budget_clock") == "cpu" else "wall-clock"
        budget = train.get("time_budget")
        shown = f"{budget:.4g}" if isinstance(budget, (int, float)) else "?"
        return f"stopped by its time budget ({shown} {clock} seconds)"
    return "stopped by an interrupt (Ctrl-C)" if why == "interrupted" else None


def format_info(info: dict[str, Any]) -> str:
    """run_info as aligned text lines."""
    di = info.get("data_info") or {}
    precision = info.get("precision") or {}
    last = info.get("last_log") or {}
    params = info.get("parameters") or {}
    lines = [
        f"run         {info['run']}",
        f"family      {info['family']}  (genlab {info.get('genlab_version')})",
        f"data        {info['data']}: {di.get('kind')}s of shape {tuple(di.get('shape') or ())}"
        + (f", {di['num_classes']} classes" if di.get("num_classes") else "")
        + (f"; b side {tuple(di['b_shape'])}, {'paired' if di.get('paired') else 'unpaired'}"
           if di.get("b_shape") else ""),
        f"steps       {info['step'] if info['step'] is not None else 0} of {info['steps_planned']}"
        + (f"; {info['stopped']}" if info.get("stopped") else ""),
        f"checkpoints {', '.join(info['checkpoints']) or 'none'}",
        f"precision   {precision.get('resolved', '?')} ({precision.get('reason', 'not recorded')})",
        "parameters  " + (", ".join(f"{k} {v:,}" for k, v in params.items()) or "-"),
    ]
    if last:
        shown = {k: v for k, v in last.items() if isinstance(v, (int, float)) and k != "step"}
        lines.append(f"last log    step {last.get('step')}: "
                     + ", ".join(f"{k} {v:.4g}" for k, v in shown.items()))
    for ev in info.get("evals") or []:
        numbers = {k: v for k, v in ev.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        lines.append(f"eval        {ev['file']}: " + ", ".join(f"{k} {v:.4g}" for k, v in numbers.items()))
    return "\n".join(lines)
