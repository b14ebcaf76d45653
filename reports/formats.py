"""Output formats of the report: md (figures in figures/), html (one self-contained file), csv and json."""
from __future__ import annotations

import base64
import csv
import io
import json
import re
from pathlib import Path
from typing import Sequence

import markdown

from .markdown import render
from .run_files import FIGURES_DIR, GALLERY_FILE, REPORT_STEM, LoadedRun, load_run

FORMATS = ("md", "html", "csv", "json")
CSV_COLUMNS = ("run", "scope", "detector", "level", "metric", "value", "lo", "hi", "change", "change_lo",
               "change_hi", "change_excludes_zero")
SCALARS = ("auc", "ap", "accuracy", "log_loss", "frame_bce", "balanced_accuracy", "eer", "tpr_at_fpr_1", "tpr_at_fpr_5",
           "precision", "recall", "f1", "accuracy_at_clean", "balanced_accuracy_at_clean", "threshold_clean")
HTML_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Deepfake detector robustness report</title>
<style>body{{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em}}
p,li{{overflow-wrap:anywhere}}pre{{overflow-x:auto}}
.table-wrap{{overflow-x:auto;max-width:100%;margin:1em 0}}
table{{border-collapse:collapse;font-size:90%}}th,td{{border:1px solid #ccc;padding:3px 6px}}
td{{text-align:right}}td:first-child{{text-align:left}}img{{max-width:100%;height:auto}}</style></head>
<body>
{body}
</body></html>
"""
"""Readable at any width down to a phone's: every table sits in a `.table-wrap` that scrolls sideways on its own,
images shrink to the column, and long words (paths, hashes) in text break instead of widening the page
(tests/test_report_layout.py renders a wide report in Chromium at 700 px and checks nothing overflows)."""
TABLE_WRAP = '<div class="table-wrap">'


def resolve_out(out: Path, fmt: str | None) -> tuple[Path, str]:
    """(report file, format): a file name gives its own format (`--out x.md`, backward compatible)."""
    suffix = out.suffix.lstrip(".").lower()
    if suffix in FORMATS:
        return out, fmt or suffix
    fmt = fmt or "md"
    return out / f"{REPORT_STEM}.{fmt}", fmt


def write(runs: Sequence[LoadedRun], out: Path, fmt: str | None = None) -> Path:
    path, fmt = resolve_out(Path(out), fmt)
    if fmt not in FORMATS:
        raise ValueError(f"unknown report format {fmt!r} (choose from {', '.join(FORMATS)})")
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "md":
        path.write_text(render(runs, path.parent / FIGURES_DIR), encoding="utf-8")
    elif fmt == "html":
        fig_dir = path.parent / FIGURES_DIR
        path.write_text(to_html(render(runs, fig_dir), fig_dir), encoding="utf-8")
    elif fmt == "csv":
        path.write_text(to_csv(runs), encoding="utf-8")
    else:
        path.write_text(json.dumps(to_json(runs), indent=1) + "\n", encoding="utf-8")
    return path


def to_html(md_text: str, fig_dir: Path) -> str:
    """Markdown -> one HTML file with every figure inlined as a base64 data URI (nothing external)."""
    body = markdown.markdown(md_text, extensions=["tables"])
    body = body.replace("<table>", f"{TABLE_WRAP}<table>").replace("</table>", "</table></div>")

    def data_uri(file: Path) -> str:
        return f'src="data:image/png;base64,{base64.b64encode(file.read_bytes()).decode("ascii")}"'

    body = re.sub(f'src="{re.escape(FIGURES_DIR)}/([^"]+)"', lambda m: data_uri(fig_dir / Path(m.group(1)).name), body)
    # the run's gallery.png, linked where it lies when the report is in the run folder (stored once)
    body = re.sub(f'src="({re.escape(GALLERY_FILE)})"', lambda m: data_uri(fig_dir.parent / m.group(1)), body)
    return HTML_PAGE.format(body=body)


def rows_for_csv(runs: Sequence[LoadedRun]) -> list[dict]:
    out = []
    for run in runs:
        for scope in ("video", "frame"):
            for e in run["doc"].get(scope, []):
                for metric in SCALARS:
                    if metric not in e:
                        continue
                    ci = (e.get("ci") or {}).get(metric) or [None, None]
                    ch = (e.get("change") or {}).get(metric) or {}
                    out.append({"run": run["name"], "scope": scope, "detector": e["detector"], "level": e["level"],
                                "metric": metric, "value": e[metric], "lo": ci[0], "hi": ci[1],
                                "change": ch.get("estimate"), "change_lo": ch.get("lo"), "change_hi": ch.get("hi"),
                                "change_excludes_zero": ch.get("excludes_zero")})
    return out


def to_csv(runs: Sequence[LoadedRun]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: ("" if v is None else v) for k, v in row.items()} for row in rows_for_csv(runs))
    return buffer.getvalue()


def to_json(runs: Sequence[LoadedRun]) -> dict:
    """Merged comparison: each run's manifest essentials and full metrics.json document."""
    return {"runs": [{"name": r["name"], "dataset": r["manifest"].get("dataset"), "seed": r["manifest"].get("seed"),
                      "detectors": r["manifest"].get("detectors"), "metrics": r["doc"]} for r in runs]}


def write_report(run_dirs: Sequence[Path], out: Path, fmt: str | None = None) -> Path:
    """Write the report; `out` is a file (`report.md`, `x.html`, ...) or a folder (gets `report.<fmt>`).
    Figures go to `figures/` next to the report (inlined into HTML)."""
    return write([load_run(d) for d in run_dirs], Path(out), fmt)
