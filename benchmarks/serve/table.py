"""The per-video table of a run: scores.csv read once per file version and kept in memory, then filtered, sorted
and cut into pages on the server, so a run of 50,000 rows opens as fast as one of 50 (`tools/bench_serve.py`).

A row here is one scores.csv row (video, detector, level) with its score as a number, its change against the same
video and detector at the clean level `none`, and whether it is wrong at the clean threshold (the threshold
metrics.json chose on `none`, `threshold_clean`, or the fixed `threshold` when that is undefined).
"""
from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

from reports.run_files import METRICS_FILE, SCORES_FILE, read_json, read_scores

__all__ = ["TableRow", "VideoTable", "TableQuery", "TablePage", "TableCache", "build", "SORT_KEYS", "CLEAN_LEVEL", "PAGE_SIZES"]

CLEAN_LEVEL = "none"
SORT_KEYS = ("video", "score", "change")
PAGE_SIZES = (50, 100, 200, 500)  # never fewer than 50 rows a page
LABELS = {"0": "real", "1": "fake"}


@dataclass(frozen=True)
class TableRow:
    video_id: str
    label: str  # "real" | "fake"
    detector: str
    level: str
    score: float | None
    change: float | None  # score - the same video's score at `none` (same detector)
    wrong: bool | None  # misclassified at the clean threshold; None without a score
    n_frames: int
    status: str
    message: str
    groups: dict[str, str]
    frame_scores: str  # as in scores.csv (space-separated): parsed only for the one video a page shows
    params: str
    frame_indices: str


@dataclass(frozen=True)
class TableQuery:
    """Filters (empty string: any), sort key and order, page (from 1) and page size."""

    level: str = ""
    label: str = ""
    status: str = ""
    group: str = ""  # "column=value"
    detector: str = ""
    wrong: bool = False
    video: str = ""  # substring of the video id
    sort: str = "video"
    descending: bool = False
    page: int = 1
    per_page: int = PAGE_SIZES[0]


@dataclass(frozen=True)
class TablePage:
    rows: list[TableRow]
    total: int  # rows matching the filters
    page: int
    pages: int


@dataclass
class VideoTable:
    rows: list[TableRow]
    levels: list[str]
    detectors: list[str]
    statuses: list[str]
    groups: list[str]  # "column=value" for every value seen
    orders: dict[tuple[str, bool], list[TableRow]] = field(default_factory=dict)

    def query(self, q: TableQuery) -> TablePage:
        if q.sort not in SORT_KEYS:
            raise ValueError(f"sort must be one of {', '.join(SORT_KEYS)}, got {q.sort!r}")
        column, _, value = q.group.partition("=")
        rows = [r for r in self.ordered(q.sort, q.descending)
                if (not q.level or r.level == q.level) and (not q.label or r.label == q.label)
                and (not q.status or r.status == q.status) and (not q.detector or r.detector == q.detector)
                and (not q.wrong or r.wrong) and (not q.group or r.groups.get(column) == value)
                and (not q.video or q.video in r.video_id)]
        pages = max(1, -(-len(rows) // q.per_page))
        page = min(max(1, q.page), pages)
        start = (page - 1) * q.per_page
        return TablePage(rows[start:start + q.per_page], len(rows), page, pages)

    def ordered(self, sort: str, descending: bool) -> list[TableRow]:
        """All rows in one order, sorted once per order and kept (filters keep the order)."""
        key = (sort, descending)
        if key not in self.orders:
            if sort == "video":
                rows = sorted(self.rows, key=lambda r: (r.video_id, r.detector, r.level), reverse=descending)
            else:  # rows without the number go last either way
                present = [r for r in self.rows if getattr(r, sort) is not None]
                rows = sorted(present, key=lambda r: getattr(r, sort), reverse=descending)
                rows += [r for r in self.rows if getattr(r, sort) is None]
            self.orders[key] = rows
        return self.orders[key]

    def video(self, video_id: str) -> list[TableRow]:
        return [r for r in self.rows if r.video_id == video_id]


def clean_thresholds(run_dir: Path) -> dict[tuple[str, str], float]:
    """(detector, level) -> the threshold a score is judged at: metrics.json's clean threshold, else its fixed one."""
    doc = read_json(run_dir / METRICS_FILE)
    entries = doc.get("video", []) if isinstance(doc, dict) else []
    out = {}
    for e in entries:
        if isinstance(e, dict) and "detector" in e and "level" in e:
            t = e.get("threshold_clean")
            out[e["detector"], e["level"]] = float(t if t is not None else e.get("threshold", 0.5))
    return out


def build(run_dir: Path) -> VideoTable:
    raw = read_scores(run_dir / SCORES_FILE)
    thresholds = clean_thresholds(run_dir)
    clean = {(r["video_id"], r["detector"]): float(r["score"]) for r in raw
             if r["level"] == CLEAN_LEVEL and r["status"] == "ok" and r["score"]}
    rows, levels, detectors, statuses, groups, groups_of = [], {}, {}, {}, {}, {}
    for r in raw:
        score = float(r["score"]) if r["status"] == "ok" and r["score"] else None
        base = clean.get((r["video_id"], r["detector"]))
        threshold = thresholds.get((r["detector"], r["level"]), 0.5)
        group = groups_of.get(r["groups"])
        if group is None:  # a video's groups repeat on each of its rows: parsed once
            group = groups_of[r["groups"]] = json.loads(r["groups"]) if r["groups"] else {}
        rows.append(TableRow(
            video_id=r["video_id"], label=LABELS.get(r["label"], r["label"]), detector=r["detector"],
            level=r["level"], score=score, change=None if score is None or base is None else score - base,
            wrong=None if score is None else (score >= threshold) != (r["label"] == "1"),
            n_frames=int(r["n_frames"] or 0), status=r["status"], message=r["message"], groups=group,
            frame_scores=r["frame_scores"], params=r.get("params", ""),
            frame_indices=r.get("frame_indices", "")))
        levels[r["level"]] = detectors[r["detector"]] = statuses[r["status"]] = None
        for column, value in group.items():
            groups[f"{column}={value}"] = None
    return VideoTable(rows, list(levels), list(detectors), sorted(statuses), sorted(groups))


class TableCache:
    """Tables by run folder, parsed again only when scores.csv or metrics.json changed (mtime or size). One per app:
    thread-safe, since the server answers requests from a thread pool."""

    def __init__(self) -> None:
        self._tables: dict[Path, tuple[tuple[int, int, int, int], VideoTable]] = {}
        self._lock = threading.Lock()

    def load(self, run_dir: Path) -> VideoTable:
        """The run's table; a damaged file raises ValueError naming it and the line."""
        run_dir = Path(run_dir)
        stats = [os.stat(run_dir / name) for name in (SCORES_FILE, METRICS_FILE)]
        version = (stats[0].st_mtime_ns, stats[0].st_size, stats[1].st_mtime_ns, stats[1].st_size)
        with self._lock:
            cached = self._tables.get(run_dir)
            if cached is not None and cached[0] == version:
                return cached[1]
        table = build(run_dir)
        with self._lock:
            self._tables[run_dir] = (version, table)
        return table

    def prewarm(self, run_dirs: list[Path]) -> None:
        """Load each run's table now (a damaged one is skipped here: its page shows the error)."""
        for run_dir in run_dirs:
            try:
                self.load(run_dir)
            except (OSError, ValueError):
                continue
