"""What a report shows of a `genlab compare` folder: its table, the trilemma chart and the samples."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genlab.errors import DataError
from genlab.report.runs import Picture, png_uri

COLUMNS = ("label", "calls", "train_seconds", "train_steps", "fd", "precision", "recall", "modes_covered",
           "high_quality", "samples_per_s", "note")
HEADINGS = {"label": "row", "calls": "network calls", "train_seconds": "train s", "train_steps": "train steps",
            "fd": "Frechet distance", "modes_covered": "modes covered", "high_quality": "high quality",
            "samples_per_s": "samples/s"}


@dataclass
class ComparePage:
    """A comparison as the report shows it."""

    name: str
    path: str
    setup: dict[str, Any]
    headings: list[str]
    rows: list[list[Any]]
    trilemma: Picture | None
    samples: list[Picture]


def read_compare(folder: str | Path) -> ComparePage:
    """A `genlab compare` output folder (compare.json and its pictures)."""
    folder = Path(folder)
    try:
        record = json.loads((folder / "compare.json").read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        raise DataError(f"{folder}/compare.json is missing or not valid JSON (expected a `genlab compare` "
                        f"--out folder)") from None
    results = [{**r, **(r.get("metrics") or {})} for r in record.get("results", []) if isinstance(r, dict)]
    columns = [c for c in COLUMNS if any(r.get(c) not in (None, "") for r in results)]
    extractor = next((r["extractor"] for r in results if r.get("extractor")), None)
    setup = {k: record.get(k) for k in ("data", "seconds", "n", "cpu_flags", "threads") if k in record}
    if extractor:
        setup["features"] = extractor
    trilemma = folder / "compare_trilemma.png"
    names = ["samples"] + [str(r.get("label", "")).replace(" ", "_") for r in results]     # as compare writes them
    samples = [Picture(caption=name.replace("_", " "), uri=png_uri(folder / f"compare_{name}.png"))
               for name in dict.fromkeys(names) if (folder / f"compare_{name}.png").is_file()]
    return ComparePage(name=folder.name, path=str(folder), setup=setup,
                       headings=[HEADINGS.get(c, c) for c in columns],
                       rows=[[r.get(c) for c in columns] for r in results],
                       trilemma=Picture("trilemma", png_uri(trilemma)) if trilemma.is_file() else None,
                       samples=samples)
