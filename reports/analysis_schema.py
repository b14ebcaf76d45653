"""The metrics.json shape of the per-video analyses (keys `breaking_points`, `temporal_stability`, `quality`),
written by `benchmarks.metrics` (breaking.py, stability.py, quality.py) and read by `reports.analysis`."""
# No `from __future__ import annotations`: TypedDict and Required (see run_files).
from typing import Required, TypedDict


class TypeBreaking(TypedDict):
    """One graded type of one detector: `videos` maps a clean-correct video to its breaking severity (None: never);
    `survival` is [[severity, share still correct]] from [0, 1.0]; `median` None when beyond every severity."""

    severities: list[int]
    levels: dict[str, str]
    n_clean_correct: int
    median: float | None
    never_broken: float | None
    survival: list[list[float]]
    videos: dict[str, int | None]


class HardVideo(TypedDict):
    video_id: str
    label: int
    mean_breaking: float
    breaks: dict[str, int | None]


class DetectorBreaking(TypedDict):
    threshold: float
    n_clean_correct: int
    types: dict[str, TypeBreaking]
    hardest: list[HardVideo]


class BreakingPoints(TypedDict):
    threshold_rule: str
    detectors: dict[str, DetectorBreaking]


class StabilityEntry(TypedDict, total=False):
    """One detector x level; the `clip_agreement` keys only for clip models (`unit` "clip")."""

    detector: Required[str]
    level: Required[str]
    unit: Required[str]
    n_videos: Required[int]
    flip_rate: Required[float | None]
    mean_abs_change: Required[float | None]
    flip_rate_change: Required[float | None]
    mean_abs_change_change: Required[float | None]
    clip_agreement: float | None
    clip_agreement_change: float | None


class TemporalStability(TypedDict):
    threshold_rule: str
    entries: list[StabilityEntry]


class LevelQuality(TypedDict):
    psnr: float | None
    ssim: float | None
    n_videos: int | None


class TypeQuality(TypedDict):
    points: list[list[float | None]]  # [ssim, auc] from the clean level (1, clean AUC) over the severities
    auc_at_ssim: dict[str, float | None]  # str(target) -> interpolated AUC


class Quality(TypedDict):
    measure: str
    targets: list[float]
    levels: dict[str, LevelQuality]
    detectors: dict[str, dict[str, TypeQuality]]
