"""Reports from run folders' result files (scores.csv, metrics.json, manifest.json): no models, no videos.

The renderers are re-exported lazily (name -> "module:attribute"): they import matplotlib and markdown (about
0.6 s), while the run folder contract in `reports.run_files` is what the benchmark's writer imports on every
run and must stay cheap.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .run_files import load_run

if TYPE_CHECKING:
    from .formats import FORMATS, to_csv, to_html, to_json, write, write_report
    from .markdown import render
    from .predictions import frame_curves_figure, severity_figure
    from .tables import main_table, markdown_table

_LAZY = {
    "FORMATS": "reports.formats:FORMATS",
    "frame_curves_figure": "reports.predictions:frame_curves_figure",
    "severity_figure": "reports.predictions:severity_figure",
    "main_table": "reports.tables:main_table",
    "markdown_table": "reports.tables:markdown_table",
    "render": "reports.markdown:render",
    "to_csv": "reports.formats:to_csv",
    "to_html": "reports.formats:to_html",
    "to_json": "reports.formats:to_json",
    "write": "reports.formats:write",
    "write_report": "reports.formats:write_report",
}

__all__ = ["FORMATS", "frame_curves_figure", "load_run", "main_table", "markdown_table", "render", "severity_figure",
           "to_csv", "to_html", "to_json", "write", "write_report"]


def __getattr__(attr: str) -> Any:
    if attr in _LAZY:
        module, name = _LAZY[attr].split(":")
        return getattr(importlib.import_module(module), name)
    raise AttributeError(f"module 'reports' has no attribute {attr!r}")
