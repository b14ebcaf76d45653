"""The metrics.json document: everything the report shows, computed from scores.csv rows.

The robustness summary of graded levels (LipForensics table, ImageNet-C CE and relative CE) is `graded.summarise`.
"""
from __future__ import annotations

import json
from typing import Sequence

import numpy as np

from . import bootstrap as boot
from .aggregate import rescore_rows
from .binary import (
    THRESHOLD_RULE,
    binary_metrics,
    clean_threshold_metrics,
    frame_rows,
    level_metrics,
    roc_points,
    score_histogram,
    scored_arrays,
    youden_threshold,
)
from .breaking import breaking_points, clean_thresholds, graded_by_type
from .graded import CLEAN, level_kind, summarise
from .names import BREAKING_POINTS, QUALITY, TEMPORAL_STABILITY
from .quality import quality_summary
from .stability import temporal_stability

DEFAULT_REFERENCE = "meso"
SCHEMA = 2
MIN_GROUP_VIDEOS = 10  # a group value with fewer videos of its own is folded into OTHER_GROUP
OTHER_GROUP = "other"
GROUP_CI_METRICS = ("auc", "accuracy")  # the group table shows these two


def _groups(row: dict) -> dict:
    text = row.get("groups") or ""
    return json.loads(text) if text else {}


def group_breakdown(rows: list[dict], detector: str, level: str, *, min_videos: int = 1, n_boot: int = 0,
                    seed: int = 0, confidence: float = boot.DEFAULT_CONFIDENCE) -> list[dict]:
    """AUC per value of every group column. A value only fakes carry (a manipulation method, or a column reals
    do not have at all) is scored as that group's fakes against ALL reals; a value both classes carry (e.g.
    source) uses the group's own videos; a value only reals carry is not a comparison and is left out.

    Values with fewer than `min_videos` videos of their own (fakes only, for a fakes-only value) are folded into
    one value "other" (its entry lists them in `folded`): a group of three videos has an AUC, but not one worth a
    row. A column whose every value is that small is left out (its "other" would be the whole set). With
    `n_boot` > 0 each entry gets percentile bootstrap intervals (`ci`) for AUC and accuracy over its videos."""
    scored = [r for r in rows if r["detector"] == detector and r["level"] == level and r["status"] == "ok"]
    parsed = [(r, _groups(r)) for r in scored]
    columns = sorted({k for _, g in parsed for k in g})
    out = []
    for col in columns:
        values: dict[str, list[dict]] = {}
        for r, g in parsed:
            if col in g:
                values.setdefault(str(g[col]), []).append(r)
        comparable = {v: m for v, m in sorted(values.items()) if {r["label"] for r in m} != {"0"}}
        small = [v for v, m in comparable.items() if _own_size(m) < min_videos]
        if small and len(small) == len(comparable):
            continue
        merged = {v: m for v, m in comparable.items() if v not in small}
        if small:
            merged[OTHER_GROUP] = [r for v in small for r in comparable[v]]
        for value, members in merged.items():
            entry = _group_entry(parsed, col, set(small) if value == OTHER_GROUP else {value}, members, n_boot,
                                 seed, confidence)
            out.append({"detector": detector, "level": level, "column": col, "value": value, **entry,
                        **({"folded": small} if value == OTHER_GROUP else {})})
    return out


def small_group_columns(rows: list[dict], min_videos: int) -> dict[str, int]:
    """Group columns left out of the breakdown because every value has fewer than `min_videos` videos: column ->
    number of values (over all detectors and levels), for the report to name them."""
    out: dict[str, int] = {}
    scored = [(r, _groups(r)) for r in rows if r["status"] == "ok"]
    for col in sorted({k for _, g in scored for k in g}):
        per_key: dict[tuple, dict[str, list[dict]]] = {}
        for r, g in scored:
            if col in g:
                per_key.setdefault((r["detector"], r["level"]), {}).setdefault(str(g[col]), []).append(r)
        comparable = {key: [m for m in vals.values() if {r["label"] for r in m} != {"0"}]
                      for key, vals in per_key.items()}
        sets = [m for ms in comparable.values() for m in ms]
        if sets and all(_own_size(m) < min_videos for m in sets):
            out[col] = max(len(ms) for ms in comparable.values())
    return out


def _own_size(members: list[dict]) -> int:
    """A value's own videos: all of them when reals carry it too, else its fakes (the reals are borrowed)."""
    labels = [r["label"] for r in members]
    return len(labels) if "0" in labels else labels.count("1")


def _group_entry(parsed: list[tuple[dict, dict]], col: str, values: set[str], members: list[dict], n_boot: int,
                 seed: int, confidence: float) -> dict:
    real_has = any(r["label"] == "0" for r in members)
    if not real_has:
        members = members + [r for r, g in parsed if r["label"] == "0" and str(g.get(col)) not in values]
    y = np.array([int(r["label"]) for r in members])
    p = np.array([float(r["score"]) for r in members])
    m = binary_metrics(y, p)
    entry = {"reals": "all reals" if not real_has else "group's own", "n_real": int(np.sum(y == 0)),
             "n_fake": int(np.sum(y == 1)), "auc": m["auc"], "ap": m["ap"], "accuracy": m["accuracy"]}
    if n_boot > 0:
        ci = boot.bootstrap_ci(y, p, n_boot, seed, metrics=GROUP_CI_METRICS, confidence=confidence)
        entry["ci"] = {k: [iv.lo, iv.hi] for k, iv in ci.items()}
    return entry


def _with_intervals(entry: dict, ci: dict[str, boot.Interval]) -> dict:
    entry["ci"] = {m: [iv.lo, iv.hi] for m, iv in ci.items()}
    entry["bootstrap_skipped"] = max((iv.n_skipped for iv in ci.values()), default=0)
    return entry


def detector_entries(rows: list[dict], detector: str, levels: Sequence[str], n_boot: int, seed: int,
                     confidence: float) -> list[dict]:
    """Video-level entries of one detector: metrics, intervals, paired change against `none`, ROC, histogram."""
    arrays = {lv: scored_arrays(rows, detector, lv) for lv in levels}
    # Sort by video id so the same set always gives the same order (and the paired reuse below applies).
    for lv, (ids, y, p) in arrays.items():
        order = np.argsort(ids, kind="stable")
        arrays[lv] = ([ids[i] for i in order], y[order], p[order])
    cache: dict[tuple, dict] = {}

    def reps(lv: str, pos: np.ndarray) -> dict:
        ids, y, p = arrays[lv]
        key = (lv, tuple(ids[i] for i in pos))
        if key not in cache and n_boot > 0:
            cache[key] = boot.replicates(y[pos], p[pos], boot.resample_indices(len(pos), n_boot, seed))[0]
        return cache.get(key, {})

    clean_ids, clean_y, clean_p = arrays.get(CLEAN, ([], np.zeros(0), np.zeros(0)))
    threshold = youden_threshold(clean_y, clean_p) if len(clean_y) else None
    entries = []
    for lv in levels:
        ids, y, p = arrays[lv]
        entry = level_metrics(rows, detector, lv).to_dict()
        entry.update(clean_threshold_metrics(rows, detector, lv, threshold))
        entry["roc"], entry["hist"] = roc_points(y, p), score_histogram(y, p)
        if n_boot > 0 and len(y):
            r = reps(lv, np.arange(len(y)))
            _with_intervals(entry, {m: boot.Interval(entry[m], *boot.percentile_interval(r[m], confidence),
                                                     n_boot, int(np.sum(~np.isfinite(r["auc"]))))
                                    for m in boot.BOOT_METRICS})
        if lv != CLEAN and lv in arrays and CLEAN in arrays:
            common, pos_c, pos_l = boot.align(clean_ids, ids)
            yc = clean_y[pos_c]
            if n_boot > 0 and len(common):
                change = boot.paired_change(yc, clean_p[pos_c], p[pos_l], n_boot, seed, confidence=confidence,
                                            reps_ref=reps(CLEAN, pos_c), reps_new=reps(lv, pos_l))
                entry["change"] = {m: c.to_dict() for m, c in change.items()}
        entries.append(entry)
    return entries


def frame_entries(rows: list[dict], detector: str, levels: Sequence[str]) -> list[dict]:
    """Frame-level metrics (each frame carries its video's label); point estimates only."""
    frames = frame_rows(r for r in rows if r["detector"] == detector)
    return [{k: v for k, v in level_metrics(frames, detector, lv).to_dict().items() if k != "frame_bce"}
            for lv in levels]  # frame_bce is a loss over frames already: a video-entry key


def run_metrics(rows: list[dict], detectors: Sequence[str], levels: Sequence[str], *, aggregate: str = "mean",
                n_boot: int = boot.DEFAULT_RESAMPLES, seed: int = 0, confidence: float = boot.DEFAULT_CONFIDENCE,
                reference: str | None = DEFAULT_REFERENCE, min_group_videos: int = MIN_GROUP_VIDEOS,
                clip_frames: dict[str, int] | None = None) -> dict:
    """The metrics.json document of one run (schema 2; `video` keeps the schema-1 fields). `clip_frames` names
    the clip models (detector -> frames per clip) for the temporal stability."""
    rows = rescore_rows(rows, aggregate)
    video = [e for d in detectors for e in detector_entries(rows, d, levels, n_boot, seed, confidence)]
    frame = [e for d in detectors for e in frame_entries(rows, d, levels)]
    auc = {d: {e["level"]: e["auc"] for e in video if e["detector"] == d} for d in detectors}
    groups = [g for d in detectors for lv in levels
              for g in group_breakdown(rows, d, lv, min_videos=min_group_videos, n_boot=n_boot, seed=seed,
                                       confidence=confidence)]
    thresholds = clean_thresholds(rows, detectors)
    analyses = {BREAKING_POINTS: breaking_points(rows, detectors, levels, thresholds),
                TEMPORAL_STABILITY: temporal_stability(rows, detectors, levels, thresholds, clip_frames),
                QUALITY: quality_summary(rows, levels, auc, graded_by_type(levels))}
    return {"schema": SCHEMA, "aggregate": aggregate, "threshold_rule": THRESHOLD_RULE,
            "bootstrap": {"resamples": n_boot, "seed": seed, "confidence": confidence, "unit": "video",
                          "interval": "percentile", "paired": "same resample indices, videos scored at both levels"},
            "video": video, "frame": frame, "robustness": summarise(auc, reference), "groups": groups,
            "level_kinds": {lv: level_kind(lv) for lv in levels},
            "group_min_videos": min_group_videos,
            "group_columns_small": small_group_columns([r for r in rows if r["detector"] in detectors
                                                        and r["level"] in levels], min_group_videos),
            **analyses}
