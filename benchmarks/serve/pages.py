"""What the pages show, built from the run folders' files (no web framework here): a run's report as HTML, the
comparison of several runs, a video's rows and charts, and the robustness profile of a checked video."""
from __future__ import annotations

import base64
import re
import tempfile
import threading
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import markdown

from reports import render
from reports.run_files import FIGURES_DIR, GALLERY_FILE, REPORT_FILE, SCORES_FILE, load_run

from ..prediction.profile import severity_profiles
from ..prediction.rows import Prediction
from .charts import line_chart
from .table import TableRow

__all__ = ["ReportPages", "markdown_html", "video_charts", "profile"]

FIRST_SECTIONS = ("Results", "Change against the clean level", "Robustness", "Figures", "Perturbation gallery")
IMAGE_SRC = re.compile(r'src="([^"]+)"')


def markdown_html(text: str) -> str:
    """Report markdown -> HTML. `<` is escaped first: a video id or dataset name cannot inject markup."""
    return markdown.markdown(text.replace("&", "&amp;").replace("<", "&lt;"), extensions=["tables"])


def split_sections(text: str) -> tuple[str, str]:
    """The report's markdown cut at its `##`/`###` headings into the sections the run page shows first
    (`FIRST_SECTIONS`) and the rest, each in the report's order; the report's title is dropped."""
    main, more, chunk = [], [], []

    def close() -> None:
        if chunk:
            title = chunk[0].lstrip("#").strip()
            (main if title.startswith(FIRST_SECTIONS) else more).append("\n".join(chunk))
    for line in text.splitlines():
        if line.startswith("# "):
            continue
        if line.startswith(("## ", "### ")):
            close()
            chunk = []
        chunk.append(line)
    close()
    return "\n".join(main), "\n".join(more)


def inline_images(html: str, fig_dir: Path) -> str:
    """Figures written to `fig_dir` inlined as data URIs (a comparison's figures live in a temporary folder)."""
    def inline(match: re.Match) -> str:
        file = fig_dir / Path(match.group(1)).name
        if not file.is_file():
            return match.group(0)
        return f'src="data:image/png;base64,{base64.b64encode(file.read_bytes()).decode("ascii")}"'
    return IMAGE_SRC.sub(inline, html)


class ReportPages:
    """Reports as HTML: a run's own report.md (its figures served from the run folder), or, for several runs or
    a run without report.md, the report rendered from the files; kept until one of the files changes."""

    def __init__(self) -> None:
        self._done: dict[tuple, Any] = {}
        self._lock = threading.Lock()

    def run(self, run_dir: Path, file_url: Callable[[str], str]) -> tuple[str, str]:
        """(the results, change, robustness and figure sections; the rest of the report) as HTML."""
        report = run_dir / REPORT_FILE
        if not report.is_file():
            return self.rendered([run_dir]), ""
        stat = report.stat()
        key = (str(report), stat.st_mtime_ns, stat.st_size)
        with self._lock:
            if key in self._done:
                return self._done[key]
        main, more = split_sections(report.read_text(encoding="utf-8"))
        pages = self.linked(main, file_url), self.linked(more, file_url)
        with self._lock:
            self._done[key] = pages
        return pages

    @staticmethod
    def linked(text: str, file_url: Callable[[str], str]) -> str:
        html = markdown_html(text)

        def link(match: re.Match) -> str:
            src = match.group(1)
            if src.startswith(f"{FIGURES_DIR}/") or src == GALLERY_FILE:
                return f'src="{file_url(src)}"'
            return match.group(0)
        return IMAGE_SRC.sub(link, html)

    def rendered(self, run_dirs: list[Path]) -> str:
        """The (multi-run) report of `run_dirs` rendered now; raises ValueError/FileNotFoundError on a bad run."""
        key = tuple((str(d), (d / SCORES_FILE).stat().st_mtime_ns if (d / SCORES_FILE).exists() else 0)
                    for d in run_dirs)
        with self._lock:
            if key in self._done:
                return self._done[key]
        runs = [load_run(d) for d in run_dirs]
        with tempfile.TemporaryDirectory(prefix="dfbench-serve-report-") as tmp:
            html = inline_images(markdown_html(render(runs, Path(tmp))), Path(tmp))
        with self._lock:
            self._done[key] = html
        return html


def video_charts(rows: list[TableRow]) -> dict[str, str]:
    """Per detector, the SVG of frame scores per level (x = frame index when the row records them)."""
    by_detector: dict[str, dict] = defaultdict(dict)
    for row in rows:
        scores = [float(v) for v in row.frame_scores.split()]
        if not scores:
            continue
        indices = [int(v) for v in row.frame_indices.split()]
        xs = indices if len(indices) == len(scores) else list(range(len(scores)))
        by_detector[row.detector][row.level] = list(zip(xs, scores))
    return {det: line_chart(series, title=f"{det}: P(fake) per frame", x_label="frame")
            for det, series in by_detector.items()}


def profile(rows: list[Prediction]) -> dict[str, dict]:
    """A checked video's robustness profile per detector: the SVG of P(fake) against severity per graded type
    (severity 0 = clean) and per type the lowest severity at which the verdict flips (None: never)."""
    out: dict[str, dict] = {det: {"chart": "", "flips": {}} for det in dict.fromkeys(r.detector for r in rows)}
    series: dict[str, dict[str, list[tuple[float, float]]]] = defaultdict(dict)
    thresholds: dict[str, float] = {}
    for p in severity_profiles(rows):
        points = [(0, p.clean_p_fake)] if p.clean_p_fake is not None else []
        points += [(s, v) for s, v in zip(p.severities, p.p_fake) if v is not None]
        series[p.detector][p.type] = points
        out[p.detector]["flips"][p.type] = p.flips_at
        thresholds[p.detector] = p.threshold
    for det, by_type in series.items():
        out[det]["chart"] = line_chart(by_type, title=f"{det}: P(fake) against severity (0 = clean)",
                                       x_label="severity", threshold=thresholds[det])
    return out
