"""Reports from run folders' result files (scores.csv, metrics.json, manifest.json): no models, no videos."""
from .markdown import load_run, render, write_report
from .tables import main_table, markdown_table

__all__ = ["load_run", "main_table", "markdown_table", "render", "write_report"]
