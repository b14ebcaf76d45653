"""Breaking points: per video, the lowest severity of a graded type at which a correct clean decision flips.

AUC says how far a detector falls on average; a breaking point says which videos fall and when. For each detector,
the decision threshold is the clean operating point (Youden's J on `none`, as in `threshold_clean`), a video
counts when its clean decision is correct, and for each graded type (`GB:1` ... `GB:5`, see `graded`) its breaking
severity is the lowest severity whose decision is wrong (None: correct at every severity scored). A severity at
which the video has no score (lost its face, detector error) is not a break: there is no decision to count.

The survival curve of a type is the share of clean-correct videos not yet broken at each severity (a
Kaplan-Meier-style curve without censoring: every video is observed at every severity the run has).
"""
from __future__ import annotations

from collections import defaultdict
from typing import Sequence

import numpy as np

from .binary import scored_arrays, youden_threshold
from .graded import CLEAN, graded_level
from .names import HARDEST_VIDEOS

FALLBACK_THRESHOLD = 0.5  # a clean level without both classes has no Youden threshold


def clean_thresholds(rows: Sequence[dict], detectors: Sequence[str]) -> dict[str, float]:
    """Per detector the clean operating point (Youden's J on `none`), 0.5 when it is undefined."""
    out = {}
    for det in detectors:
        _, y, p = scored_arrays(rows, det, CLEAN)
        threshold = youden_threshold(y, p) if len(y) else None
        out[det] = FALLBACK_THRESHOLD if threshold is None else threshold
    return out


def graded_by_type(levels: Sequence[str]) -> dict[str, dict[int, str]]:
    """{type: {severity: level}} of the graded levels among `levels`, severities ascending."""
    out: dict[str, dict[int, str]] = defaultdict(dict)
    for lv in levels:
        graded = graded_level(lv)
        if graded:
            out[graded.type][graded.severity] = lv
    return {t: dict(sorted(s.items())) for t, s in out.items()}


def breaking_severity(label: int, scores: dict[int, float | None], threshold: float) -> int | None:
    """Lowest severity whose score gives the wrong decision (score >= threshold means fake); None when none does.

    `scores` maps severity to the video's score (None: not scored at that severity, which is no break).

    >>> breaking_severity(1, {1: 0.9, 2: 0.4, 3: 0.8}, 0.5)
    2
    >>> breaking_severity(0, {1: 0.1, 2: None}, 0.5) is None
    True
    """
    for severity in sorted(scores):
        score = scores[severity]
        if score is not None and int(score >= threshold) != label:
            return severity
    return None


def survival_curve(breaks: Sequence[int | None], severities: Sequence[int]) -> list[list[float]]:
    """[[severity, share still correct]] from severity 0 (1.0) over `severities`; [] without videos.

    >>> survival_curve([1, 3, None, None], [1, 2, 3])
    [[0, 1.0], [1, 0.75], [2, 0.75], [3, 0.5]]
    """
    if not breaks:
        return []
    n = len(breaks)
    return [[0, 1.0]] + [[s, sum(1 for b in breaks if b is None or b > s) / n] for s in severities]


def median_severity(breaks: Sequence[int | None]) -> float | None:
    """Median breaking severity, never-broken videos counting as beyond every severity; None when that median
    is itself beyond (more than half never break) or there are no videos."""
    if not breaks:
        return None
    value = float(np.median([np.inf if b is None else b for b in breaks]))
    return value if np.isfinite(value) else None


def detector_breaking(rows: Sequence[dict], detector: str, kinds: dict[str, dict[int, str]], threshold: float,
                      hardest: int = HARDEST_VIDEOS) -> dict:
    """One detector's breaking points: per type the videos' breaking severities and the summaries; the hardest
    videos (lowest mean breaking severity over the types, never broken counting as the type's top severity + 1)."""
    score: dict[tuple[str, str], float] = {}
    labels: dict[str, int] = {}
    for r in rows:
        if r["detector"] == detector and r["status"] == "ok":
            score[r["video_id"], r["level"]] = float(r["score"])
            labels[r["video_id"]] = int(r["label"])
    correct = sorted(v for v, y in labels.items()
                     if (v, CLEAN) in score and int(score[v, CLEAN] >= threshold) == y)
    types = {}
    for kind, sev in kinds.items():
        videos = {v: breaking_severity(labels[v], {s: score.get((v, lv)) for s, lv in sev.items()}, threshold)
                  for v in correct}
        breaks = list(videos.values())
        types[kind] = {"severities": list(sev), "levels": {str(s): lv for s, lv in sev.items()},
                       "n_clean_correct": len(correct), "median": median_severity(breaks),
                       "never_broken": sum(b is None for b in breaks) / len(breaks) if breaks else None,
                       "survival": survival_curve(breaks, list(sev)), "videos": videos}
    ranked = []
    for v in correct:
        per_type = {k: t["videos"][v] for k, t in types.items()}
        if any(b is not None for b in per_type.values()):
            mean = float(np.mean([max(t["severities"]) + 1 if per_type[k] is None else per_type[k]
                                  for k, t in types.items()]))
            ranked.append({"video_id": v, "label": labels[v], "mean_breaking": mean, "breaks": per_type})
    ranked.sort(key=lambda h: (h["mean_breaking"], h["video_id"]))
    return {"threshold": threshold, "n_clean_correct": len(correct), "types": types, "hardest": ranked[:hardest]}


def breaking_points(rows: Sequence[dict], detectors: Sequence[str], levels: Sequence[str],
                    thresholds: dict[str, float]) -> dict:
    """The metrics.json `breaking_points` document: per detector (see `detector_breaking`); {} detectors when
    the run has no graded levels."""
    kinds = graded_by_type(levels)
    return {"threshold_rule": "clean operating point (threshold_clean; 0.5 when undefined); score >= threshold = fake",
            "detectors": {d: detector_breaking(rows, d, kinds, thresholds[d]) for d in detectors} if kinds else {}}
