"""Temporal stability: does a detector's frame verdict flicker from one sampled frame to the next?

A video detector that flips every other frame is unusable even when its mean score holds. Per detector and level,
over the scored videos with at least two units (frames, or clips for clip models):

- `flip_rate`: share of consecutive unit pairs whose decisions differ (the analogue of ImageNet-P's flip rate,
  Hendrycks & Dietterich 2019), per video, then the mean over videos;
- `mean_abs_change`: mean |P(fake)_{i+1} - P(fake)_i| between consecutive units, per video, then the mean;
- `*_change`: the same quantity minus its value at `none`, on the videos that have both (paired);
- clip models only: `clip_agreement`, the share of a video's clips whose decision equals the video's decision.

Decisions use the clean operating point (`threshold_clean`, the same threshold as the breaking points). Frames are
in the order they were sampled (`frame_scores`). A clip model gives each frame its clip's score, so its units are
the clips (`clip_frames` frames each, from the manifest's input contract; 0 = the whole video is one clip, and
there is nothing to compare).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .aggregate import parse_frame_scores
from .graded import CLEAN


def unit_scores(frames: np.ndarray, clip_frames: int | None) -> np.ndarray:
    """The scores of a video's units: every frame (frame models, `clip_frames` None), or each clip's score (the
    score of its first frame) for clip models.

    >>> unit_scores(np.array([.1, .1, .9, .9, .5]), 2).tolist()
    [0.1, 0.9, 0.5]
    """
    if clip_frames is None:
        return frames
    if clip_frames <= 0:
        return frames[:1]
    return frames[::clip_frames]


def video_stability(units: np.ndarray, threshold: float, video_score: float) -> dict | None:
    """flip rate, mean absolute change (and clip agreement with the video decision) of one video; None with
    fewer than two units.

    >>> video_stability(np.array([.2, .8, .3, .4]), 0.5, 0.4)["flip_rate"]
    0.6666666666666666
    """
    if len(units) < 2:
        return None
    decisions = units >= threshold
    return {"flip_rate": float(np.mean(decisions[1:] != decisions[:-1])),
            "mean_abs_change": float(np.mean(np.abs(np.diff(units)))),
            "clip_agreement": float(np.mean(decisions == (video_score >= threshold)))}


def level_videos(rows: Sequence[dict], detector: str, level: str, threshold: float,
                 clip_frames: int | None) -> dict[str, dict]:
    """{video_id: video_stability} of one detector x level (videos with fewer than two units left out)."""
    out = {}
    for r in rows:
        if r["detector"] == detector and r["level"] == level and r["status"] == "ok":
            units = unit_scores(parse_frame_scores(r.get("frame_scores", "")), clip_frames)
            stats = video_stability(units, threshold, float(r["score"]))
            if stats is not None:
                out[r["video_id"]] = stats
    return out


def _mean(videos: dict[str, dict], key: str) -> float | None:
    return float(np.mean([v[key] for v in videos.values()])) if videos else None


def stability_entries(rows: Sequence[dict], detector: str, levels: Sequence[str], threshold: float,
                      clip_frames: int | None = None) -> list[dict]:
    """One entry per level of one detector (see the module docstring); `clip_frames` None for frame models."""
    per_level = {lv: level_videos(rows, detector, lv, threshold, clip_frames) for lv in levels}
    clean = per_level.get(CLEAN, {})
    keys = ("flip_rate", "mean_abs_change") + (("clip_agreement",) if clip_frames is not None else ())
    entries = []
    for lv, videos in per_level.items():
        entry = {"detector": detector, "level": lv, "unit": "frame" if clip_frames is None else "clip",
                 "n_videos": len(videos), **{k: _mean(videos, k) for k in keys}}
        common = sorted(set(videos) & set(clean))
        for k in keys:
            entry[f"{k}_change"] = (float(np.mean([videos[v][k] - clean[v][k] for v in common]))
                                    if common and lv != CLEAN else None)
        entries.append(entry)
    return entries


def temporal_stability(rows: Sequence[dict], detectors: Sequence[str], levels: Sequence[str],
                       thresholds: dict[str, float], clip_frames: dict[str, int] | None = None) -> dict:
    """The metrics.json `temporal_stability` document; `clip_frames` names the clip models (detector -> frames
    per clip), every other detector is a frame model."""
    clip_frames = clip_frames or {}
    return {"threshold_rule": "clean operating point (threshold_clean); consecutive sampled frames or clips",
            "entries": [e for d in detectors
                        for e in stability_entries(rows, d, levels, thresholds[d], clip_frames.get(d))]}
