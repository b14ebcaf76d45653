"""Video-level metrics, all from sklearn.metrics; undefined values are None with a stated reason."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Iterable, Sequence

import numpy as np
from sklearn.metrics import accuracy_score, average_precision_score, log_loss, roc_auc_score

METRIC_NAMES = ("auc", "ap", "accuracy", "log_loss")
# Probabilities are clipped before the log loss so a single confident 0 or 1 does not give infinity.
LOSS_EPS = 1e-7


@dataclass
class LevelMetrics:
    detector: str
    level: str
    n_scored: int
    n_real: int
    n_fake: int
    n_skipped: int
    auc: float | None = None
    ap: float | None = None
    accuracy: float | None = None
    log_loss: float | None = None
    undefined: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def aggregate_video_score(frame_scores: Sequence[float]) -> float:
    """Video P(fake) = mean of frame P(fake) (the deepfake_detector and DeepfakeBench video protocol)."""
    return float(np.mean(np.asarray(frame_scores, dtype=np.float64)))


def binary_metrics(labels: Sequence[int], scores: Sequence[float], threshold: float = 0.5) -> dict:
    """AUC, AP, accuracy at `threshold` and log loss of P(fake) scores against labels (1 = fake)."""
    y = np.asarray(labels, dtype=int)
    p = np.asarray(scores, dtype=np.float64)
    out: dict = {name: None for name in METRIC_NAMES}
    undefined: dict[str, str] = {}
    if len(y) == 0:
        for name in METRIC_NAMES:
            undefined[name] = "no scored videos"
        out["undefined"] = undefined
        return out
    if not np.all(np.isfinite(p)):
        raise ValueError("scores contain NaN or infinity")
    out["accuracy"] = float(accuracy_score(y, (p >= threshold).astype(int)))
    out["log_loss"] = float(log_loss(y, np.clip(p, LOSS_EPS, 1 - LOSS_EPS), labels=[0, 1]))
    if len(np.unique(y)) < 2:
        only = "fake" if y[0] == 1 else "real"
        for name in ("auc", "ap"):
            undefined[name] = f"only one class among scored videos (all {only})"
    else:
        out["auc"] = float(roc_auc_score(y, p))
        out["ap"] = float(average_precision_score(y, p))
    out["undefined"] = undefined
    return out


def level_metrics(rows: Iterable[dict], detector: str, level: str, threshold: float = 0.5) -> LevelMetrics:
    """Metrics for one detector x level from score rows (dicts as in scores.csv)."""
    selected = [r for r in rows if r["detector"] == detector and r["level"] == level]
    scored = [r for r in selected if r["status"] == "ok"]
    labels = [int(r["label"]) for r in scored]
    values = binary_metrics(labels, [float(r["score"]) for r in scored], threshold)
    return LevelMetrics(
        detector=detector,
        level=level,
        n_scored=len(scored),
        n_real=labels.count(0),
        n_fake=labels.count(1),
        n_skipped=len(selected) - len(scored),
        **values,
    )


def all_metrics(rows: list[dict], detectors: Sequence[str], levels: Sequence[str]) -> list[LevelMetrics]:
    return [level_metrics(rows, d, lv) for d in detectors for lv in levels]
