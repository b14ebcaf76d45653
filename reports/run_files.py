"""The run folder contract: file names, the scores.csv columns, the metrics.json shape, and their readers/writers.

One module owns it so the writer (`benchmarks`) and the reader (`reports`) cannot drift apart: `reports` reads
result files only and imports no other project package, so the contract lives here and `benchmarks` imports it.
scores.csv is appended per video (so nothing finished is lost when a run dies); JSON files are written atomically.
"""
# No `from __future__ import annotations`: on Python 3.11 TypedDict only sees Required/NotRequired in evaluated
# annotations, so with it every key would count as required.
import csv
import io
import json
import os
from pathlib import Path
from typing import Any, Iterable, Literal, NotRequired, Required, TypedDict

from .analysis_schema import BreakingPoints, Quality, TemporalStability
from .score_values import row_problem

SCORES_FILE = "scores.csv"
METRICS_FILE = "metrics.json"
MANIFEST_FILE = "manifest.json"
REPORT_STEM = "report"  # the report is `report.<format>`
REPORT_FILE = f"{REPORT_STEM}.md"
TIMING_FILE = "timing.json"  # optional: written by runs since the cost accounting
GALLERY_FILE = "gallery.png"  # optional: a perturbation gallery the report copies in
BREAKING_FILE = "breaking.png"  # optional: the hardest videos' faces at their breaking levels (report copies it in)
FIGURES_DIR = "figures"  # next to the report: the PNG figures it links
RUN_FILES = (MANIFEST_FILE, METRICS_FILE, SCORES_FILE)  # what a finished run folder must hold
INPUTS_FILE = "videos.jsonl"  # per video, what its rows were computed from (file identity, label): resume checks it
LOCK_FILE = "run.lock"  # flock'ed while a run writes the folder; holds the writer's pid and host

SCORE_COLUMNS = ("video_id", "label", "split", "detector", "level", "score", "n_frames",
                 "status", "message", "frame_scores", "groups", "params", "frame_indices")
# A row's `status` is "ok" or why it has no score: a read status of the video (benchmarks' READ_STATUSES), "no_face",
# or DETECTOR_ERROR (the detector raised, hung, or returned no valid P(fake) per frame; `message` says which).
# Metrics count every non-ok row as skipped; reports list them.
DETECTOR_ERROR = "detector_error"
OPTIONAL_COLUMNS = ("params", "frame_indices")  # absent from files written before perturbation parameters were recorded
LEVEL_KINDS = ("clean", "corruption", "adversarial")  # metrics.json `level_kinds`: adversarial levels get their own table
SCORE_KEY = ("video_id", "detector", "level")  # one row per key: a second one would be counted twice


class ScoreRow(TypedDict):
    """One scores.csv row as read back: every value a string (label "0"/"1", score a float's repr, status "ok"
    or the reason a video was skipped, frame_scores space-separated, groups and params JSON text)."""

    video_id: str
    label: str
    split: str
    detector: str
    level: str
    score: str
    n_frames: str
    status: str
    message: str
    frame_scores: str
    groups: str
    params: NotRequired[str]  # OPTIONAL_COLUMNS: missing in older files
    frame_indices: NotRequired[str]


# --- metrics.json (schema 2; schema 1 had `video` entries without intervals, and nothing else) -----------------

class Confusion(TypedDict):
    tn: int
    fp: int
    fn: int
    tp: int


class RocPoints(TypedDict):
    fpr: list[float]
    tpr: list[float]


class ScoreHistogram(TypedDict):
    edges: list[float]
    real: list[int]
    fake: list[int]


class Change(TypedDict):
    """A metric's change against the clean level on the common videos, with its paired bootstrap interval."""

    estimate: float | None
    lo: float | None
    hi: float | None
    n_resamples: int
    n_skipped: int
    n_common: int
    excludes_zero: bool


class LevelEntry(TypedDict, total=False):
    """One detector x level in `video` (all keys in schema 2) or `frame` (the metric keys only).

    Metrics are None when undefined, with the reason in `undefined`; `ci` maps a metric to [lo, hi]."""

    detector: Required[str]
    level: Required[str]
    n_scored: Required[int]
    n_real: Required[int]
    n_fake: Required[int]
    n_skipped: Required[int]
    auc: Required[float | None]
    ap: Required[float | None]
    accuracy: Required[float | None]
    log_loss: Required[float | None]
    balanced_accuracy: float | None
    eer: float | None
    tpr_at_fpr_1: float | None
    tpr_at_fpr_5: float | None
    precision: float | None
    recall: float | None
    f1: float | None
    confusion: Confusion | None
    threshold: float
    undefined: dict[str, str]
    threshold_clean: float | None
    accuracy_at_clean: float | None
    balanced_accuracy_at_clean: float | None
    roc: RocPoints | None
    hist: ScoreHistogram
    ci: dict[str, list[float | None]]
    bootstrap_skipped: int
    change: dict[str, Change]
    frame_bce: float | None  # the reference's loss: mean frame BCE with logits (video entries; absent in older files)


class LevelDrop(TypedDict, total=False):
    """One level against the clean level. `drop` = clean - level (positive = worse); `change` = level - clean,
    the sign the report prints; `auc_ratio` = level / clean AUC (`relative` is its old name, kept as an alias:
    it is not ImageNet-C's relative CE)."""

    auc: Required[float | None]
    drop: Required[float | None]
    relative: Required[float | None]
    change: float | None
    auc_ratio: float | None


class TypeInfo(TypedDict):
    """A graded type of one detector: `family` "df" (a DeeperForensics column) or "other"; the severities the run
    has, how many the type defines, whether all are there, the mean AUC over those present, {severity: level}."""

    family: str
    severities: list[int]
    expected: int
    complete: bool
    mean: float | None
    levels: dict[str, str]


class DetectorRobustness(TypedDict, total=False):
    """Per detector: clean AUC, per-level change, graded per-type means (`types`, every graded type, complete or
    not) with `type_info`; Avg over the complete DF types (`avg_types`; `avg_complete` when all seven) and
    Drop = clean - Avg; with a reference detector CE, relative CE (ImageNet-C) per type, and their means over
    the complete DF types (`mce_types`)."""

    clean: Required[float | None]
    levels: Required[dict[str, LevelDrop]]
    types: Required[dict[str, float | None]]
    avg: Required[float | None]
    drop: Required[float | None]
    type_info: dict[str, TypeInfo]
    avg_types: list[str]
    avg_complete: bool
    avg_change: float | None
    ce: dict[str, float | None]
    mce: float | None
    relative_ce: dict[str, float | None]
    relative_mce: float | None
    mce_types: list[str]


class RobustnessSummary(TypedDict, total=False):
    reference: Required[str | None]
    detectors: Required[dict[str, DetectorRobustness]]
    df_types: list[str]  # the published table's types, in its column order


class GroupEntry(TypedDict):
    detector: str
    level: str
    column: str
    value: str
    reals: str  # "all reals" | "group's own"
    n_real: int
    n_fake: int
    auc: float | None
    ap: float | None
    accuracy: float | None
    ci: NotRequired[dict[str, list[float | None]]]  # auc, accuracy: [lo, hi] (runs with a bootstrap)
    folded: NotRequired[list[str]]  # value "other": the values below the minimum size folded into it


class BootstrapSettings(TypedDict):
    resamples: int
    seed: int
    confidence: float
    unit: str
    interval: str
    paired: str


class MetricsDoc(TypedDict, total=False):
    """The metrics.json document; only `video` is in every schema, so readers `.get` the rest."""

    schema: int
    aggregate: str
    threshold_rule: str
    bootstrap: BootstrapSettings
    video: Required[list[LevelEntry]]
    frame: list[LevelEntry]
    robustness: RobustnessSummary
    groups: list[GroupEntry]
    group_min_videos: int  # values with fewer videos of their own are folded into "other"
    group_columns_small: dict[str, int]  # columns left out: every value below the minimum (-> number of values)
    breaking_points: BreakingPoints  # the per-video analyses: reports/analysis_schema.py
    temporal_stability: TemporalStability
    quality: Quality


class LoadedRun(TypedDict):
    """A finished run folder as the report reads it (`load_run`); `metrics` is `doc["video"]`."""

    dir: Path
    name: str
    manifest: dict[str, Any]
    metrics: list[LevelEntry]
    doc: MetricsDoc
    scores: list[ScoreRow]
    timing: dict[str, Any] | None


# --- reading and writing ---------------------------------------------------------------------------------------

def write_json(path: Path, data: Any) -> None:
    """Write JSON via a temporary file and rename, so a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=False, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def read_json(path: Path) -> Any:
    """The parsed file; a file that is not JSON (cut short, edited by hand) raises ValueError naming it."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON (line {error.lineno} column {error.colno}): {error.msg}") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not UTF-8 text (not a file this tool wrote)") from None


def drop_partial_last_line(path: Path) -> bytes:
    """A run killed mid-write can leave half a row; cut the file back to its last complete line and return what
    was cut (b"" when the file ends with a newline)."""
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        cut = data.rfind(b"\n") + 1
        path.write_bytes(data[:cut])
        return data[cut:]
    return b""


def read_scores(path: Path, *, unterminated: Literal["reject", "drop"] = "reject") -> list[ScoreRow]:
    """The rows of scores.csv (`path` is the file or its run folder); [] when there is no file yet.

    Strict, because every row is counted: a duplicate (video_id, detector, level), a line with the wrong number
    of fields, a value that does not parse or an unterminated last line raises ValueError naming the file and
    line (the first problem, and how many more). A run killed mid-write leaves an unterminated last line: reports
    and the gate reject it (`unterminated="reject"`, the default), while a resuming run drops it
    (`unterminated="drop"`; `ScoresWriter` also cuts it from the file) and scores that video again.
    """
    path = Path(path)
    if path.is_dir():
        path = path / SCORES_FILE
    if not path.exists():
        return []
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not UTF-8 text (not a scores file of this tool)") from None
    problems: list[tuple[int, str]] = []
    if text and not text.endswith("\n"):
        if unterminated == "reject":
            problems.append((text.count("\n") + 1, "unterminated last line (cut short while a run was writing "
                             "it? running the same command again resumes the run and drops it)"))
        text = text[: text.rfind("\n") + 1]
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        if problems:
            raise ValueError(f"{path}:{problems[0][0]}: {problems[0][1]}")
        return []
    missing = [c for c in SCORE_COLUMNS if c not in header and c not in OPTIONAL_COLUMNS]
    if missing:
        raise ValueError(f"{path}: not a scores file of this tool (missing columns: {', '.join(missing)})")
    rows: list[ScoreRow] = []
    first_line: dict[tuple[str, ...], int] = {}
    start = reader.line_num + 1
    for fields in reader:
        line, start = start, reader.line_num + 1
        if len(fields) != len(header):
            problems.append((line, f"{len(fields)} fields where the header has {len(header)}" if fields
                             else "empty line"))
            continue
        row = dict(zip(header, fields))
        problem = next((f"empty {c}" for c in SCORE_KEY if not row[c]), None) or row_problem(row)
        key = tuple(row[c] for c in SCORE_KEY)
        if problem is None and key in first_line:
            problem = (f"second row for video {key[0]}, detector {key[1]}, level {key[2]} (first at line "
                       f"{first_line[key]}): it would be counted twice")
        if problem is not None:
            problems.append((line, problem))
            continue
        first_line[key] = line
        rows.append(row)  # type: ignore[arg-type]  # checked against SCORE_COLUMNS above
    if problems:
        (line, problem), more = min(problems), len(problems) - 1
        raise ValueError(f"{path}:{line}: {problem}" + (f" (and {more} more bad lines)" if more else ""))
    return rows


def write_scores(path: Path, rows: Iterable[ScoreRow | dict]) -> None:
    """Replace scores.csv with `rows` atomically (a resume that drops rows of videos whose data changed)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with tmp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=SCORE_COLUMNS, extrasaction="raise")
        writer.writeheader()
        writer.writerows({c: row.get(c, "") for c in SCORE_COLUMNS} for row in rows)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


class ScoresWriter:
    """Appends rows and flushes them to disk at once; resumes an existing file."""

    def __init__(self, path: Path):
        self.path = Path(path)
        if self.path.exists():
            drop_partial_last_line(self.path)
        new = not self.path.exists() or self.path.stat().st_size == 0
        self._handle = self.path.open("a", newline="", encoding="utf-8")
        self._writer = csv.DictWriter(self._handle, fieldnames=SCORE_COLUMNS, extrasaction="raise")
        if new:
            self._writer.writeheader()
            self._flush()

    def done_keys(self) -> set[tuple[str, str, str]]:
        """(video_id, detector, level) already recorded, skipped videos included; a damaged file (duplicate
        keys, malformed lines) raises ValueError naming the line rather than resume over it."""
        return {(r["video_id"], r["detector"], r["level"]) for r in read_scores(self.path, unterminated="drop")}

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


def load_run(run_dir: Path) -> LoadedRun:
    """Read a finished run folder (manifest, metrics, scores; timing when present) for the report; a damaged file
    raises ValueError naming it (and the line, for scores.csv)."""
    run_dir = Path(run_dir)
    missing = [n for n in RUN_FILES if not (run_dir / n).is_file()]
    if missing:
        raise FileNotFoundError(f"{run_dir}: not a finished run folder (missing {', '.join(missing)})")
    scores = read_scores(run_dir / SCORES_FILE)
    doc = read_json(run_dir / METRICS_FILE)
    if not isinstance(doc, dict) or not isinstance(doc.get("video"), list):
        raise ValueError(f"{run_dir / METRICS_FILE}: not a metrics file of this tool (no list of `video` entries)")
    manifest = read_json(run_dir / MANIFEST_FILE)
    if not isinstance(manifest, dict):
        raise ValueError(f"{run_dir / MANIFEST_FILE}: not a run manifest of this tool (not a JSON object)")
    timing = run_dir / TIMING_FILE
    return {"dir": run_dir, "name": run_dir.name, "manifest": manifest,
            "metrics": doc["video"], "doc": doc, "scores": scores,
            "timing": read_json(timing) if timing.is_file() else None}
