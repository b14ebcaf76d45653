"""The typed rows `predict` returns, and the vocabulary they use (verdicts, the JSON keys).

A row's `status` is the run's: "ok", a read status of the video (`pipeline.decode.READ_STATUSES`: missing_file,
unreadable, no_video_stream, no_frames), "no_face", or `detector_error` (reports.run_files.DETECTOR_ERROR); it is
never invented here, so a video `predict` cannot score reads the same as in a run's scores.csv.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ..config import FRACTION

__all__ = ["FAKE", "REAL", "DEFAULT_THRESHOLD", "JSON_KEYS", "Verdict", "Prediction", "PredictProgress",
           "verdict_for"]

FAKE, REAL = "fake", "real"
Verdict = Literal["fake", "real"]
DEFAULT_THRESHOLD = 0.5  # a detector's P(fake) >= 0.5 is called fake, as `metrics.binary` counts accuracy
# What `--json` prints per row, in this order (issue 19); `Prediction.to_json` gives exactly these.
JSON_KEYS = ("video", "detector", "level", "p_fake", "verdict", "n_frames", "status", "message", "frame_scores")


def verdict_for(p_fake: float | None, threshold: float) -> Verdict | None:
    """"fake" when `p_fake >= threshold` (sklearn's `roc_curve` convention, so a threshold taken from a run's ROC
    reproduces its operating point), "real" below, None without a score."""
    FRACTION.check("threshold", threshold)
    if p_fake is None:
        return None
    return FAKE if p_fake >= threshold else REAL


@dataclass(frozen=True)
class Prediction:
    """One video x detector x level.

    `p_fake` is the video score (the run's frame aggregation of `frame_scores`), None when `status` is not "ok"
    (then `message` says why); `verdict` is `p_fake` against `threshold`; `params` are the perturbation
    parameters drawn for this video and level (JSON text, as in scores.csv; "" for `none`)."""

    video: str  # the path as given
    detector: str
    level: str
    p_fake: float | None
    verdict: Verdict | None
    threshold: float
    n_frames: int
    status: str
    message: str = ""
    frame_scores: list[float] = field(default_factory=list)
    params: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_json(self) -> dict:
        """The row as `--json` prints it: exactly `JSON_KEYS`."""
        return {key: getattr(self, key) for key in JSON_KEYS}


@dataclass(frozen=True)
class PredictProgress:
    """Handed to a `progress` callback after each step: `done` of `total` (video, level) steps are finished."""

    done: int
    total: int
    video: str
    level: str
