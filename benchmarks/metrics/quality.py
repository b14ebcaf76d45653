"""Image quality of every level: PSNR and SSIM of the perturbed face crops against the clean ones, and AUC at
equal quality.

Severities of different types are not on one scale ("severity 3" of blur is not "severity 3" of noise). SSIM
puts them on one: the pipeline measures each video's perturbed crops against its clean crops once per level
(`params["quality"]` of the video's rows, shared by every detector; `benchmarks.pipeline.quality`), this module
averages over videos and interpolates each type's AUC at fixed SSIM values (`QUALITY_TARGETS`), the clean level
being the point (SSIM 1, clean AUC). No extrapolation: a target outside the SSIM range a type covers is None.
"""
from __future__ import annotations

import json
from typing import Sequence

import numpy as np

from .graded import CLEAN
from .names import QUALITY_TARGETS


def video_quality(rows: Sequence[dict], level: str) -> dict[str, dict]:
    """{video_id: {"psnr", "ssim", "frames"}} at `level`, from the first row of each video that has it."""
    out: dict[str, dict] = {}
    for r in rows:
        if r["level"] == level and r["video_id"] not in out and r.get("params"):
            quality = json.loads(r["params"]).get("quality")
            if quality:
                out[r["video_id"]] = quality
    return out


def level_quality(rows: Sequence[dict], levels: Sequence[str]) -> dict[str, dict]:
    """Per level the mean PSNR (over videos whose crops differ: identical crops have infinite PSNR, stored as
    None) and mean SSIM over videos; `none` is SSIM 1 by definition."""
    out = {}
    for lv in levels:
        if lv == CLEAN:
            out[lv] = {"psnr": None, "ssim": 1.0, "n_videos": None}
            continue
        videos = video_quality(rows, lv)
        psnr = [q["psnr"] for q in videos.values() if q.get("psnr") is not None]
        ssim = [q["ssim"] for q in videos.values() if q.get("ssim") is not None]
        out[lv] = {"psnr": float(np.mean(psnr)) if psnr else None, "ssim": float(np.mean(ssim)) if ssim else None,
                   "n_videos": len(ssim)}
    return out


def auc_at_ssim(points: Sequence[tuple[float, float]], targets: Sequence[float] = QUALITY_TARGETS) -> dict:
    """AUC interpolated linearly at each target SSIM from (ssim, auc) points; None outside the points' range.

    >>> auc_at_ssim([(1.0, 1.0), (0.8, 0.8), (0.6, 0.5)], (0.9, 0.7, 0.5))
    {'0.9': 0.9, '0.7': 0.65, '0.5': None}
    """
    pts = sorted((s, a) for s, a in points if s is not None and a is not None)
    out = {}
    for t in targets:
        inside = bool(pts) and pts[0][0] <= t <= pts[-1][0]
        out[str(t)] = round(float(np.interp(t, [s for s, _ in pts], [a for _, a in pts])), 12) if inside else None
    return out


def quality_summary(rows: Sequence[dict], levels: Sequence[str], auc: dict[str, dict[str, float | None]],
                    kinds: dict[str, dict[int, str]]) -> dict:
    """The metrics.json `quality` document: per level mean PSNR and SSIM; per detector and graded type the
    (SSIM, AUC) curve from clean over the severities and the AUC at each of `QUALITY_TARGETS`."""
    per_level = level_quality(rows, levels)
    detectors = {}
    for det, aucs in auc.items():
        curves = {}
        for kind, sev in kinds.items():
            pts = [(1.0, aucs.get(CLEAN))] + [(per_level[lv]["ssim"], aucs.get(lv)) for lv in sev.values()]
            curves[kind] = {"points": [[s, a] for s, a in pts], "auc_at_ssim": auc_at_ssim(pts)}
        detectors[det] = curves
    return {"measure": "PSNR (RGB) and SSIM (grayscale, skimage) of perturbed vs clean face crops as fed to "
                       "the detectors, on a subsample of frames, mean over videos",
            "targets": list(QUALITY_TARGETS), "levels": per_level, "detectors": detectors}
