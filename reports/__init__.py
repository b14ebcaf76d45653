"""Reports from run folders' result files (scores.csv, metrics.json, manifest.json): no models, no videos."""
from .formats import FORMATS, to_csv, to_html, to_json, write, write_report
from .markdown import render
from .run_files import load_run
from .tables import main_table, markdown_table

__all__ = ["FORMATS", "load_run", "main_table", "markdown_table", "render", "to_csv", "to_html", "to_json", "write",
           "write_report"]
