"""The verdict's threshold: 0.5, or the clean-level threshold a finished run recorded (`--threshold-from RUN_DIR`).

A run records, in metrics.json, per detector and level a `threshold_clean`: the threshold maximising Youden's J on
that detector's `none` scores (`metrics.binary.THRESHOLD_RULE`), the same value on every level's entry. It is an
operating point of the run's video scores, so it only carries over to a video scored the same way: `notes` names
every setting in which this prediction differs from the run (weights, frames, aggregation, faces, precision).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from reports.run_files import MANIFEST_FILE, METRICS_FILE, read_json

from ..config import RunConfig
from ..metrics.graded import CLEAN

__all__ = ["RunThresholds", "read_run_thresholds", "setting_notes"]

COMPARED = ("num_frames", "aggregate", "faces", "precision")  # RunConfig fields a video score depends on at `none`


@dataclass(frozen=True)
class RunThresholds:
    """Clean thresholds of one run folder, per detector, and the run's manifest (to compare settings with)."""

    run_dir: Path
    thresholds: dict[str, float]
    aggregate: str
    manifest: dict = field(default_factory=dict)


def read_run_thresholds(run_dir: str | Path, detectors: list[str]) -> RunThresholds:
    """The clean threshold of each of `detectors` in the run folder `run_dir`.

    Raises FileNotFoundError when `run_dir` is no finished run folder, ValueError when its metrics.json is not this
    tool's, lacks one of `detectors`, or has no clean threshold for it (a clean level with one class only)."""
    run_dir = Path(run_dir)
    metrics_path, manifest_path = run_dir / METRICS_FILE, run_dir / MANIFEST_FILE
    for path in (metrics_path, manifest_path):
        if not path.is_file():
            raise FileNotFoundError(f"threshold run {run_dir}: not a finished run folder (no {path.name})")
    doc, manifest = read_json(metrics_path), read_json(manifest_path)
    if not isinstance(doc, dict) or not isinstance(doc.get("video"), list) or not isinstance(manifest, dict):
        raise ValueError(f"threshold run {run_dir}: {METRICS_FILE} or {MANIFEST_FILE} is not this tool's")
    clean = {e.get("detector"): e for e in doc["video"] if isinstance(e, dict) and e.get("level") == CLEAN}
    thresholds = {}
    for name in detectors:
        if name not in clean:
            raise ValueError(f"threshold run {run_dir}: the run has no clean-level entry for detector {name!r} "
                             f"(it has {', '.join(sorted(map(str, clean))) or 'none'})")
        value = clean[name].get("threshold_clean")
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise ValueError(f"threshold run {run_dir}: no clean threshold for detector {name!r} (its clean "
                             "level needs real and fake videos scored; metrics.json from before thresholds?)")
        thresholds[name] = min(1.0, max(0.0, float(value)))  # Youden's J can return inf past the top score
    return RunThresholds(run_dir, thresholds, str(doc.get("aggregate", "mean")), manifest)


def setting_notes(run: RunThresholds, config: RunConfig, weights_sha256: dict[str, str | None]) -> list[str]:
    """One line per setting in which the prediction differs from the run whose thresholds it uses."""
    notes = []
    recorded = run.manifest.get("config") if isinstance(run.manifest.get("config"), dict) else {}
    ours = config.to_dict()
    ours["aggregate"] = config.aggregate
    theirs = {**recorded, "aggregate": run.aggregate}
    for name in COMPARED:
        if name in theirs and theirs[name] != ours[name]:
            notes.append(f"{name} differs from the run's ({ours[name]!r} here, {theirs[name]!r} in {run.run_dir})")
    detectors = run.manifest.get("detectors") if isinstance(run.manifest.get("detectors"), dict) else {}
    for name, sha in weights_sha256.items():
        recorded_sha = (detectors.get(name) or {}).get("sha256") if isinstance(detectors.get(name), dict) else None
        if recorded_sha != sha:
            notes.append(f"detector {name!r} has other weights than in {run.run_dir} (sha256 {str(sha)[:12]} here, "
                         f"{str(recorded_sha)[:12]} there): its clean threshold may not suit these scores")
    return notes
