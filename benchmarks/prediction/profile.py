"""One video's robustness profile: per detector and graded type, its score at each severity and the lowest
severity at which the verdict differs from the clean one.

A level is graded when it is ONE step of a type at a severity (`GB:3`), as the run's robustness tables decide
(`metrics.graded.graded_level`); combined and named levels (`heavy`, `JPEG:5+GNC:2`) have a score but no severity.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass

from ..metrics.graded import CLEAN, graded_level
from .rows import Prediction, Verdict

__all__ = ["SeverityProfile", "severity_profiles"]


@dataclass(frozen=True)
class SeverityProfile:
    """One video x detector x graded type: severities present (ascending), the score and verdict at each (None
    where that level has no score), the clean score and verdict, and `flips_at`: the lowest severity whose verdict
    differs from the clean verdict (None when none does, or without a clean verdict)."""

    video: str
    detector: str
    type: str
    severities: list[int]
    levels: list[str]
    p_fake: list[float | None]
    verdicts: list[Verdict | None]
    clean_p_fake: float | None
    clean_verdict: Verdict | None
    threshold: float
    flips_at: int | None

    def to_json(self) -> dict:
        return asdict(self)


def severity_profiles(rows: list[Prediction]) -> list[SeverityProfile]:
    """The profiles of every (video, detector) in `rows` with graded levels, in the order the rows come."""
    clean: dict[tuple[str, str], Prediction] = {}
    graded: dict[tuple[str, str], dict[str, list[tuple[int, Prediction]]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        key = (row.video, row.detector)
        if row.level == CLEAN:
            clean[key] = row
        elif (info := graded_level(row.level)) is not None:
            graded[key][info.type].append((info.severity, row))
    profiles = []
    for (video, detector), types in graded.items():
        base = clean.get((video, detector))
        clean_verdict = base.verdict if base is not None else None
        for kind, points in types.items():
            points.sort(key=lambda point: point[0])
            flips = [s for s, r in points if clean_verdict is not None and r.verdict is not None
                     and r.verdict != clean_verdict]
            profiles.append(SeverityProfile(
                video=video, detector=detector, type=kind, severities=[s for s, _ in points],
                levels=[r.level for _, r in points], p_fake=[r.p_fake for _, r in points],
                verdicts=[r.verdict for _, r in points], clean_p_fake=base.p_fake if base is not None else None,
                clean_verdict=clean_verdict, threshold=points[0][1].threshold, flips_at=min(flips, default=None)))
    return profiles
