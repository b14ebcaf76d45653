"""The run folder: scores.csv appended per video (so nothing finished is lost), JSON files written atomically."""
from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Iterable

SCORE_COLUMNS = ("video_id", "label", "split", "detector", "level", "score", "n_frames",
                 "status", "message", "frame_scores", "groups", "params", "frame_indices")
OPTIONAL_COLUMNS = ("params", "frame_indices")  # absent from files written before perturbation parameters were recorded
SCORES_FILE, METRICS_FILE, MANIFEST_FILE, REPORT_FILE = "scores.csv", "metrics.json", "manifest.json", "report.md"


def write_json(path: Path, data) -> None:
    """Write JSON via a temporary file and rename, so a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=False, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def read_json(path: Path):
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _drop_partial_last_line(path: Path) -> None:
    """A run killed mid-write can leave half a row; cut the file back to its last complete line."""
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        path.write_bytes(data[: data.rfind(b"\n") + 1])


def read_scores(path: Path) -> list[dict]:
    path = Path(path)
    if path.is_dir():
        path = path / SCORES_FILE
    if not path.exists():
        return []
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    missing = [c for c in SCORE_COLUMNS if rows and c not in rows[0] and c not in OPTIONAL_COLUMNS]
    if missing:
        raise ValueError(f"{path}: not a scores file of this tool (missing columns: {', '.join(missing)})")
    return rows


class ScoresWriter:
    """Appends rows and flushes them to disk at once; resumes an existing file."""

    def __init__(self, path: Path):
        self.path = Path(path)
        if self.path.exists():
            _drop_partial_last_line(self.path)
        new = not self.path.exists() or self.path.stat().st_size == 0
        self._handle = self.path.open("a", newline="", encoding="utf-8")
        self._writer = csv.DictWriter(self._handle, fieldnames=SCORE_COLUMNS, extrasaction="raise")
        if new:
            self._writer.writeheader()
            self._flush()

    def done_keys(self) -> set[tuple[str, str, str]]:
        """(video_id, detector, level) already recorded, skipped videos included."""
        return {(r["video_id"], r["detector"], r["level"]) for r in read_scores(self.path)}

    def write(self, rows: Iterable[dict]) -> None:
        for row in rows:
            self._writer.writerow({c: row.get(c, "") for c in SCORE_COLUMNS})
        self._flush()

    def _flush(self) -> None:
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> "ScoresWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
