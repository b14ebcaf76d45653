"""Video scores from frame scores: the aggregation rules (kept free of scikit-learn, so the processes that score
videos never import it)."""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np

__all__ = ["LOSS_EPS", "AGGREGATIONS", "aggregate_video_score", "parse_frame_scores", "rescore_rows"]

# Probabilities are clipped before the log loss so a single confident 0 or 1 does not give infinity.
LOSS_EPS = 1e-7


def _logit_mean(p: np.ndarray) -> float:
    """Mean in logit space: one confident frame moves the video score more than with the plain mean."""
    q = np.clip(p, LOSS_EPS, 1 - LOSS_EPS)
    z = float(np.mean(np.log(q) - np.log1p(-q)))
    return float(1.0 / (1.0 + np.exp(-z)))


AGGREGATIONS: dict[str, Callable[[np.ndarray], float]] = {
    "mean": lambda p: float(np.mean(p)),
    "median": lambda p: float(np.median(p)),
    "max": lambda p: float(np.max(p)),
    "logit-mean": _logit_mean,
}


def aggregate_video_score(frame_scores: Sequence[float], method: str = "mean") -> float:
    """Video P(fake) from frame P(fake); `mean` is the deepfake_detector and DeepfakeBench video protocol."""
    if method not in AGGREGATIONS:
        raise ValueError(f"unknown aggregation {method!r} (choose from {', '.join(AGGREGATIONS)})")
    return AGGREGATIONS[method](np.asarray(frame_scores, dtype=np.float64))


def parse_frame_scores(text: str) -> np.ndarray:
    return np.array([float(v) for v in (text or "").split()], dtype=np.float64)


def rescore_rows(rows: Iterable[dict], method: str = "mean") -> list[dict]:
    """Rows with `score` re-aggregated from `frame_scores` (rows without frame scores keep their score)."""
    if method == "mean":
        return list(rows)
    out = []
    for row in rows:
        frames = parse_frame_scores(row.get("frame_scores", ""))
        out.append({**row, "score": repr(aggregate_video_score(frames, method))} if len(frames) else row)
    return out
