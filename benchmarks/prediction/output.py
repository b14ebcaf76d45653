"""What `predict` shows and writes: the terminal table, and with an output folder the rows as JSON, the profiles,
and per video and detector a severity figure and frame-score curves (PNG)."""
from __future__ import annotations

import json
import re
from pathlib import Path

import reports
from reports.run_files import write_json
from reports.tables import markdown_table

from ..metrics.graded import CLEAN
from .profile import SeverityProfile
from .rows import Prediction

__all__ = ["PREDICTIONS_FILE", "PROFILE_FILE", "rows_json", "format_table", "write_outputs"]

PREDICTIONS_FILE = "predictions.json"  # the rows, exactly as `--json` prints them
PROFILE_FILE = "profile.json"  # thresholds and the severity profiles (flip severities)


def rows_json(rows: list[Prediction]) -> str:
    """The `--json` output: one JSON list of rows, each with exactly `rows.JSON_KEYS`."""
    return json.dumps([row.to_json() for row in rows], indent=1)


def cell(row: Prediction | None) -> str:
    if row is None:
        return ""
    if row.p_fake is None:
        return f"- ({row.status})"
    return f"{row.p_fake:.3f} {row.verdict}"


def format_table(rows: list[Prediction], profiles: list[SeverityProfile]) -> str:
    """Per video: a table of levels x detectors (P(fake) and verdict), the frames scored and threshold per
    detector, why a video has no score, and for graded types the severity at which the verdict flips."""
    blocks = []
    for video in dict.fromkeys(row.video for row in rows):
        mine = [row for row in rows if row.video == video]
        names = list(dict.fromkeys(row.detector for row in mine))
        levels = list(dict.fromkeys(row.level for row in mine))
        found = {(row.detector, row.level): row for row in mine}
        lines = [f"video: {video}"]
        statuses = {row.status for row in mine}
        if statuses != {"ok"} and all(not row.ok for row in mine) and len(statuses) == 1:
            lines.append(f"  no score: {reason(mine[0])}")  # unreadable, missing, no face ...
            blocks.append("\n".join(lines))
            continue
        lines.append(markdown_table(["level", *names], [[lv, *(cell(found.get((d, lv))) for d in names)]
                                                        for lv in levels]))
        for name in names:
            clean = found.get((name, CLEAN))
            if clean is None:
                continue
            text = f"{clean.n_frames} frames scored" if clean.ok else f"no clean score: {reason(clean)}"
            lines.append(f"  {name}: {text}; verdict threshold {clean.threshold:.4g}")
        for row in mine:
            if not row.ok and row.level != CLEAN:
                lines.append(f"  {row.detector} [{row.level}]: {reason(row)}")
        for profile in (p for p in profiles if p.video == video):
            lines.append(f"  {profile.detector} {profile.type}: " + flip_text(profile))
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def reason(row: Prediction) -> str:
    """Status and message, the status once (the pipeline's messages often start with it)."""
    if row.message.startswith(row.status):
        return row.message
    return f"{row.status}: {row.message}" if row.message else row.status


def flip_text(profile: SeverityProfile) -> str:
    span = f"{profile.severities[0]}-{profile.severities[-1]}" if len(profile.severities) > 1 \
        else str(profile.severities[0])
    if profile.clean_verdict is None:
        return f"no clean verdict to flip (severities {span})"
    if profile.flips_at is None:
        return f"verdict {profile.clean_verdict} holds at every severity ({span})"
    after = profile.verdicts[profile.severities.index(profile.flips_at)]
    return f"verdict flips at severity {profile.flips_at} ({profile.clean_verdict} -> {after}; severities {span})"


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.") or "x"


def write_outputs(rows: list[Prediction], profiles: list[SeverityProfile], out_dir: Path) -> list[Path]:
    """predictions.json, profile.json and the figures into `out_dir` (created); the paths written.

    Figures are named `<n>-<video name>-<detector>-severity.png` / `-frames.png`, n the video's position in the
    call (two videos may share a name)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / PREDICTIONS_FILE, out_dir / PROFILE_FILE]
    write_json(written[0], [row.to_json() for row in rows])
    thresholds = {row.detector: row.threshold for row in rows}
    write_json(written[1], {"thresholds": thresholds, "profiles": [p.to_json() for p in profiles]})
    videos = list(dict.fromkeys(row.video for row in rows))
    for number, video in enumerate(videos, start=1):
        for name in dict.fromkeys(row.detector for row in rows if row.video == video):
            stem = f"{number:02d}-{slug(Path(video).stem)}-{slug(name)}"
            title = f"{Path(video).name} - {name}"
            mine = [row.to_json() for row in rows if row.video == video and row.detector == name]
            curves = reports.frame_curves_figure(mine, thresholds[name], title, out_dir / f"{stem}-frames.png")
            severity = reports.severity_figure([p.to_json() for p in profiles if p.video == video
                                                and p.detector == name], title, out_dir / f"{stem}-severity.png")
            written += [path for path in (curves, severity) if path is not None]
    return written
