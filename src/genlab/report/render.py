"""`genlab report`: run folders and compare folders as one self-contained HTML page (Jinja2 templates).

Everything the page shows is inside the file: pictures as base64 PNG, curves as base64 SVG, styles inline;
it needs no network and no JavaScript, so it opens from disk, in a mail attachment or on an offline machine.
"""
from __future__ import annotations

import base64
import datetime
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from genlab import __version__
from genlab.errors import DataError
from genlab.files import write_text_atomic
from genlab.report.comparison import ComparePage, read_compare
from genlab.report.runs import RunPage, read_run, summary_row


def shown(value: Any) -> str:
    """A table cell: floats to 4 significant digits, None as '-', the rest as text."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10_000:
        return f"{value:,}"
    if isinstance(value, (list, tuple)):
        return ", ".join(shown(v) for v in value)
    return str(value)


def counts(parameters: dict[str, int]) -> str:
    """Parameter counts per network, e.g. 'G 1,234,567, D 456'."""
    return ", ".join(f"{name} {n:,}" for name, n in parameters.items()) or "-"


def svg_uri(svg: str) -> str:
    """SVG text as a data: URI (an <img> keeps each chart's ids to itself)."""
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")


def environment() -> Any:
    """The Jinja2 environment over genlab/report/templates, HTML-escaping every value."""
    try:
        import jinja2
    except ImportError:
        raise DataError("genlab report needs jinja2 (a dependency of genlab: pip install jinja2==3.1.6)") from None
    env = jinja2.Environment(loader=jinja2.PackageLoader("genlab.report", "templates"),
                             autoescape=jinja2.select_autoescape(default=True), undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    env.filters.update(shown=shown, svg_uri=svg_uri, counts=counts)
    return env


def _table(rows: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    """Rows of dicts as (headings, cells), columns in order of first appearance."""
    headings = list(dict.fromkeys(k for r in rows for k in r))
    return headings, [[r.get(h) for h in headings] for r in rows]


def render_report(runs: Sequence[RunPage], compares: Sequence[ComparePage], *, title: str) -> str:
    """The HTML text of a report on these runs and comparisons."""
    headings, cells = _table([summary_row(r) for r in runs])
    made = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return str(environment().get_template("report.html.j2").render(
        title=title, runs=runs, compares=compares, summary_headings=headings, summary_rows=cells,
        version=__version__, made=made))


def write_report(folders: Sequence[str | os.PathLike[str]], out: str | os.PathLike[str], *,
                 title: str | None = None) -> Path:
    """Write one HTML report on run folders and `genlab compare` folders (told apart by compare.json)."""
    if not folders:
        raise DataError("genlab report needs at least one run or compare folder")
    runs, compares = [], []
    for folder in map(Path, folders):
        if (folder / "compare.json").is_file():
            compares.append(read_compare(folder))
        else:
            runs.append(read_run(folder))
    names = [Path(f).name or str(f) for f in folders]
    text = render_report(runs, compares, title=title or f"genlab report: {', '.join(names)}")
    write_text_atomic(out, text)
    return Path(out)


__all__ = ["render_report", "write_report", "shown"]
