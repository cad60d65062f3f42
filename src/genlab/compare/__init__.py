"""`genlab compare`: families trained on the same data and budget, sampled several ways, judged alike."""
from genlab.compare.judge import judge
from genlab.compare.recipes import DEFAULT_FAMILIES, ENTRIES, RECIPES, Entry, Row, entry_names, recipe
from genlab.compare.report import markdown_table, plot_trilemma, write_report
from genlab.compare.runner import RowResult, compare, network_calls, sample_row

__all__ = ["DEFAULT_FAMILIES", "ENTRIES", "RECIPES", "Entry", "Row", "RowResult", "compare", "entry_names", "judge",
           "markdown_table", "network_calls", "plot_trilemma", "recipe", "sample_row", "write_report"]
