"""Bootstrap over videos: percentile intervals per level and paired intervals of the change between two levels.

Videos are the resampling unit (frames of one video are not independent). A resample without both classes
has no AUC/AP, so it is skipped for every metric and counted. Paired: the same resample indices for both levels,
on the videos scored at both, so the video-to-video variation cancels out of the change.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

from .aggregate import LOSS_EPS
from .binary import binary_metrics, rank_ap, rank_auc
from .names import DEFAULT_CONFIDENCE, DEFAULT_RESAMPLES

BOOT_METRICS = ("auc", "ap", "accuracy", "log_loss")
# A change whose interval ends within this of zero does not exclude zero: metric values of identical rankings can
# differ in the last bits (sums of the same terms in another order), and that is no change of the detector.
ZERO_TOLERANCE = 1e-9


@dataclass
class Interval:
    estimate: float | None
    lo: float | None
    hi: float | None
    n_resamples: int
    n_skipped: int

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Change(Interval):
    """Change of a metric (level minus reference level) on the common videos, with its paired interval."""
    n_common: int = 0

    @property
    def excludes_zero(self) -> bool:
        return self.lo is not None and (self.lo > ZERO_TOLERANCE or self.hi < -ZERO_TOLERANCE)

    def to_dict(self) -> dict:
        return {**asdict(self), "excludes_zero": self.excludes_zero}


def resample_indices(n: int, n_boot: int, seed: int) -> np.ndarray:
    """n_boot x n video indices drawn with replacement from a generator seeded by `seed` only, so two calls on
    sets of the same size draw the same indices (what makes a bootstrap paired)."""
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n))


def replicates(y: np.ndarray, p: np.ndarray, idx: np.ndarray, metrics: Sequence[str] = BOOT_METRICS,
               threshold: float = 0.5) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Metric value per resample (NaN where skipped) and the mask of valid resamples (both classes present).

    AUC is the exact rank formula on all resamples at once (`rank_auc`: exactly 1.0 on a perfectly separated
    resample, where sklearn's trapezoid could give 0.9999999999999999); AP likewise on all resamples at once
    (`rank_ap`, sklearn's definition); accuracy and log loss are means of per-video terms, so a resample's value is
    the mean over its indices
    (identical to sklearn's accuracy_score/log_loss on the resample; checked in the tests).
    """
    y = np.asarray(y, dtype=int)
    p = np.asarray(p, dtype=np.float64)
    ys, ps = y[idx], p[idx]
    valid = ys.min(axis=1) != ys.max(axis=1)
    out: dict[str, np.ndarray] = {}
    if "accuracy" in metrics:
        out["accuracy"] = ((p >= threshold).astype(int) == y)[idx].mean(axis=1)
    if "log_loss" in metrics:
        q = np.clip(p, LOSS_EPS, 1 - LOSS_EPS)
        out["log_loss"] = (-(y * np.log(q) + (1 - y) * np.log1p(-q)))[idx].mean(axis=1)
    if "auc" in metrics:
        out["auc"] = rank_auc(ys, ps) if len(idx) else np.zeros(0)
    if "ap" in metrics:
        out["ap"] = rank_ap(ys, ps) if len(idx) else np.zeros(0)
    for name in out:
        out[name] = np.where(valid, out[name], np.nan)
    return out, valid


def percentile_interval(values: np.ndarray, confidence: float = DEFAULT_CONFIDENCE) -> tuple[float | None, float | None]:
    v = values[np.isfinite(values)]
    if len(v) == 0:
        return None, None
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(v, [alpha, 1 - alpha])
    return float(lo), float(hi)


def bootstrap_ci(y: Sequence[int], p: Sequence[float], n_boot: int = DEFAULT_RESAMPLES, seed: int = 0,
                 metrics: Sequence[str] = BOOT_METRICS, confidence: float = DEFAULT_CONFIDENCE,
                 threshold: float = 0.5) -> dict[str, Interval]:
    """Point estimate (sklearn on all videos) and percentile bootstrap interval per metric."""
    y, p = np.asarray(y, dtype=int), np.asarray(p, dtype=np.float64)
    point = binary_metrics(y, p, threshold)
    if len(y) == 0:
        return {m: Interval(None, None, None, 0, 0) for m in metrics}
    reps, valid = replicates(y, p, resample_indices(len(y), n_boot, seed), metrics, threshold)
    return {m: Interval(point[m], *percentile_interval(reps[m], confidence), n_boot, int(np.sum(~valid)))
            for m in metrics}


def paired_change(y: Sequence[int], p_ref: Sequence[float], p_new: Sequence[float],
                  n_boot: int = DEFAULT_RESAMPLES, seed: int = 0, metrics: Sequence[str] = BOOT_METRICS,
                  confidence: float = DEFAULT_CONFIDENCE, threshold: float = 0.5,
                  reps_ref: dict[str, np.ndarray] | None = None,
                  reps_new: dict[str, np.ndarray] | None = None) -> dict[str, Change]:
    """Change new - ref on the same videos (aligned arrays), paired bootstrap interval per metric.

    `reps_ref`/`reps_new` may pass replicates already computed with `resample_indices(len(y), n_boot, seed)`.
    """
    y = np.asarray(y, dtype=int)
    if len(y) == 0:
        return {m: Change(None, None, None, 0, 0, 0) for m in metrics}
    a, b = binary_metrics(y, p_ref, threshold), binary_metrics(y, p_new, threshold)
    idx = None
    if reps_ref is None or reps_new is None:
        idx = resample_indices(len(y), n_boot, seed)
    if reps_ref is None:
        reps_ref, _ = replicates(y, np.asarray(p_ref, dtype=np.float64), idx, metrics, threshold)
    if reps_new is None:
        reps_new, _ = replicates(y, np.asarray(p_new, dtype=np.float64), idx, metrics, threshold)
    out = {}
    for m in metrics:
        diff = reps_new[m] - reps_ref[m]
        delta = None if a[m] is None or b[m] is None else b[m] - a[m]
        out[m] = Change(delta, *percentile_interval(diff, confidence), n_boot, int(np.sum(~np.isfinite(diff))),
                        n_common=len(y))
    return out


def align(ids_a: Sequence[str], ids_b: Sequence[str]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Common ids (sorted) and their positions in a and b, so paired arrays line up video by video."""
    pos_a = {v: i for i, v in enumerate(ids_a)}
    pos_b = {v: i for i, v in enumerate(ids_b)}
    common = sorted(set(pos_a) & set(pos_b))
    return common, np.array([pos_a[v] for v in common], dtype=int), np.array([pos_b[v] for v in common], dtype=int)
