"""Training curves from log.jsonl rows as small SVG charts (matplotlib, text kept as text), one per kind of value."""
from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure

from genlab.viz import smooth

LOOP_KEYS = {"step", "lr", "items_per_s", "seconds", "ema_decay"}


@dataclass
class Chart:
    """One chart of a report: its title and its SVG text."""

    title: str
    svg: str


def panels(rows: Sequence[Mapping[str, Any]]) -> list[tuple[str, list[str], bool]]:
    """(title, keys, log y) per chart: losses, gradient norms, learning rate, speed, EMA decay, the family's values."""
    keys = list(dict.fromkeys(k for r in rows for k, v in r.items() if isinstance(v, (int, float))))
    losses = [k for k in keys if k == "loss" or k.endswith("_loss")]
    norms = [k for k in keys if k.endswith("grad_norm")]
    family = [k for k in keys if k not in LOOP_KEYS and k not in losses and k not in norms]
    found = [("loss", losses, True), ("gradient norm (before clipping)", norms, True),
             ("learning rate", ["lr"], False), ("items per second", ["items_per_s"], False),
             ("EMA decay", ["ema_decay"], False), ("the family's values", family, False)]
    return [(title, [k for k in ks if k in keys], logy) for title, ks, logy in found if any(k in keys for k in ks)]


def _svg(fig: Figure) -> str:
    buffer = io.StringIO()
    FigureCanvasSVG(fig).print_svg(buffer)
    return buffer.getvalue()


def curve_chart(rows: Sequence[Mapping[str, Any]], title: str, keys: Sequence[str], *, logy: bool) -> Chart:
    """Each key's values against the step: raw faint, smoothed solid; log y when every value is positive."""
    import matplotlib

    with matplotlib.rc_context({"svg.fonttype": "none", "font.size": 8, "svg.hashsalt": "genlab"}):
        fig = Figure(figsize=(4.4, 2.6))
        ax = fig.add_subplot()
        positive = True
        for i, key in enumerate(keys):
            points = [(r["step"], float(r[key])) for r in rows if isinstance(r.get(key), (int, float))
                      and isinstance(r.get("step"), int) and math.isfinite(float(r[key]))]
            steps, values = [p[0] for p in points], [p[1] for p in points]
            positive = positive and all(v > 0 for v in values)
            ax.plot(steps, values, color=f"C{i % 10}", alpha=0.3, linewidth=0.8)
            ax.plot(steps, smooth(values) if values else values, color=f"C{i % 10}", linewidth=1.4, label=key)
        if logy and positive:
            ax.set_yscale("log")
        ax.set(title=title, xlabel="step")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
        fig.tight_layout()
        return Chart(title=title, svg=_svg(fig))


def training_charts(rows: Sequence[Mapping[str, Any]]) -> list[Chart]:
    """The charts of a run's log.jsonl rows (none when it has no rows)."""
    return [curve_chart(rows, title, keys, logy=logy) for title, keys, logy in panels(rows)]
