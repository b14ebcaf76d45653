"""Robustness summaries and the metrics.json document: everything the report shows, computed from scores.csv rows.

Graded suites name levels TYPE:SEVERITY (e.g. `GB:3`); the summary follows the LipForensics/DeeperForensics
layout (Clean | per-type mean AUC | Avg | Drop) and ImageNet-C corruption error against a reference detector:
CE_type = sum_s (1 - AUC_det,type,s) / sum_s (1 - AUC_ref,type,s), mCE = mean over types.
"""
from __future__ import annotations

import json
from collections import defaultdict
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

CLEAN = "none"
DEFAULT_REFERENCE = "meso"
SCHEMA = 2


def split_level(level: str) -> tuple[str, int] | None:
    """('GB', 3) for a graded level name `GB:3`; None for an ungraded one."""
    kind, sep, severity = level.rpartition(":")
    return (kind, int(severity)) if sep and kind and severity.isdigit() else None


def _mean(values: list) -> float | None:
    vals = [v for v in values if v is not None]
    return float(np.mean(vals)) if vals and len(vals) == len(values) else None


def summarise(auc: dict[str, dict[str, float | None]], reference: str | None = DEFAULT_REFERENCE) -> dict:
    """Per detector: AUC drop and relative AUC per level, graded per-type means, Avg, Drop, CE and mCE.

    `auc[detector][level]` is the video AUC (None when undefined). CE needs the reference detector in `auc`.
    """
    out: dict = {"reference": reference if reference in auc else None, "detectors": {}}
    for det, levels in auc.items():
        clean = levels.get(CLEAN)
        per_level = {lv: {"auc": a, "drop": None if a is None or clean is None else clean - a,
                          "relative": None if a is None or not clean else a / clean}
                     for lv, a in levels.items() if lv != CLEAN}
        by_type: dict[str, dict[int, float | None]] = defaultdict(dict)
        for lv, a in levels.items():
            graded = split_level(lv)
            if graded:
                by_type[graded[0]][graded[1]] = a
        types = {t: _mean(list(sev.values())) for t, sev in sorted(by_type.items())}
        avg = _mean(list(types.values())) if types else None
        entry = {"clean": clean, "levels": per_level, "types": types, "avg": avg,
                 "drop": None if avg is None or clean is None else clean - avg}
        if by_type and out["reference"]:
            entry["ce"] = {t: corruption_error(sev, auc[reference], t) for t, sev in sorted(by_type.items())}
            ces = list(entry["ce"].values())
            entry["mce"] = _mean(ces)
        out["detectors"][det] = entry
    return out


def corruption_error(severities: dict[int, float | None], reference_levels: dict[str, float | None],
                     kind: str) -> float | None:
    """sum_s (1 - AUC) / the same sum for the reference, over the severities both have; None if undefined."""
    ref = {s: reference_levels.get(f"{kind}:{s}") for s in severities}
    if any(v is None for v in list(severities.values()) + list(ref.values())):
        return None
    denominator = sum(1 - v for v in ref.values())
    return None if denominator <= 0 else sum(1 - v for v in severities.values()) / denominator


def _groups(row: dict) -> dict:
    text = row.get("groups") or ""
    return json.loads(text) if text else {}


def group_breakdown(rows: list[dict], detector: str, level: str) -> list[dict]:
    """AUC per value of every group column. A value only fakes carry (a manipulation method, or a column reals
    do not have at all) is scored as that group's fakes against ALL reals; a value both classes carry (e.g.
    source) uses the group's own videos; a value only reals carry is not a comparison and is left out."""
    scored = [r for r in rows if r["detector"] == detector and r["level"] == level and r["status"] == "ok"]
    parsed = [(r, _groups(r)) for r in scored]
    columns = sorted({k for _, g in parsed for k in g})
    out = []
    for col in columns:
        for value in sorted({str(g[col]) for _, g in parsed if col in g}):
            members = [r for r, g in parsed if str(g.get(col)) == value]
            labels = {r["label"] for r in members}
            if labels == {"0"}:
                continue
            real_has = "0" in labels
            if not real_has:
                members += [r for r, g in parsed if r["label"] == "0" and str(g.get(col)) != value]
            y = np.array([int(r["label"]) for r in members])
            p = np.array([float(r["score"]) for r in members])
            m = binary_metrics(y, p)
            out.append({"detector": detector, "level": level, "column": col, "value": value,
                        "reals": "all reals" if not real_has else "group's own", "n_real": int(np.sum(y == 0)),
                        "n_fake": int(np.sum(y == 1)), "auc": m["auc"], "ap": m["ap"], "accuracy": m["accuracy"]})
    return out


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
            point = binary_metrics(y, p)
            _with_intervals(entry, {m: boot.Interval(point[m], *boot.percentile_interval(r[m], confidence),
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
    return [level_metrics(frames, detector, lv).to_dict() for lv in levels]


def run_metrics(rows: list[dict], detectors: Sequence[str], levels: Sequence[str], *, aggregate: str = "mean",
                n_boot: int = boot.DEFAULT_RESAMPLES, seed: int = 0, confidence: float = boot.DEFAULT_CONFIDENCE,
                reference: str | None = DEFAULT_REFERENCE) -> dict:
    """The metrics.json document of one run (schema 2; `video` keeps the schema-1 fields)."""
    rows = rescore_rows(rows, aggregate)
    video = [e for d in detectors for e in detector_entries(rows, d, levels, n_boot, seed, confidence)]
    frame = [e for d in detectors for e in frame_entries(rows, d, levels)]
    auc = {d: {e["level"]: e["auc"] for e in video if e["detector"] == d} for d in detectors}
    groups = [g for d in detectors for lv in levels for g in group_breakdown(rows, d, lv)]
    return {"schema": SCHEMA, "aggregate": aggregate, "threshold_rule": THRESHOLD_RULE,
            "bootstrap": {"resamples": n_boot, "seed": seed, "confidence": confidence, "unit": "video",
                          "interval": "percentile", "paired": "same resample indices, videos scored at both levels"},
            "video": video, "frame": frame, "robustness": summarise(auc, reference), "groups": groups}
