"""Reports: one self-contained HTML page on run folders and `genlab compare` folders (`genlab report`)."""
from genlab.report.render import render_report, write_report

__all__ = ["render_report", "write_report"]
