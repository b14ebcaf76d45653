"""A run folder's result files as pandas DataFrames: what `benchmarks.load_run` and `RunResult` hand to users.

scores.csv is text on disk (every value a string, `run_files.ScoreRow`); here each column gets its type, so
`df.groupby(["detector", "level"])["score"].mean()` works at once. metrics.json's nested entries become one long
table (detector, level, metric, value, lo, hi), the shape pandas pivots best.
"""
from __future__ import annotations

import json
from typing import Sequence

import numpy as np
import pandas as pd

from .run_files import MetricsDoc, ScoreRow

__all__ = ["METRIC_COLUMNS", "SCALAR_METRICS", "scores_frame", "metrics_frame"]

METRIC_COLUMNS = ("detector", "level", "metric", "value", "lo", "hi")
SCALAR_METRICS = ("auc", "ap", "accuracy", "log_loss", "frame_bce", "balanced_accuracy", "eer", "tpr_at_fpr_1",
                  "tpr_at_fpr_5", "precision", "recall", "f1", "accuracy_at_clean", "balanced_accuracy_at_clean",
                  "threshold_clean")
TEXT = ("video_id", "split", "detector", "level", "status", "message")


def _floats(text: str) -> np.ndarray:
    return np.array([float(v) for v in (text or "").split()], dtype=np.float64)


def _ints(text: str) -> np.ndarray:
    return np.array([int(v) for v in (text or "").split()], dtype=np.int64)


def scores_frame(rows: Sequence[ScoreRow]) -> pd.DataFrame:
    """One row per scores.csv row. `label` int (1 = fake), `score` float (NaN for skipped rows), `n_frames` int,
    text columns as pandas strings (`detector`, `level`, `status` categorical), `frame_scores` and `frame_indices`
    as numpy arrays, `groups` and `params` parsed from JSON into dicts."""
    df = pd.DataFrame(list(rows), columns=list(ScoreRow.__annotations__))
    out = pd.DataFrame({c: df[c].fillna("").astype("string") for c in TEXT})
    for c in ("detector", "level", "status"):
        out[c] = out[c].astype("category")
    out["label"] = df["label"].astype(int)
    out["score"] = pd.to_numeric(df["score"].replace("", np.nan), errors="coerce").astype(float)
    out["n_frames"] = pd.to_numeric(df["n_frames"].replace("", 0)).astype(int)
    out["frame_scores"] = [_floats(t) for t in df["frame_scores"].fillna("")]
    out["frame_indices"] = [_ints(t) for t in df["frame_indices"].fillna("")]
    out["groups"] = [json.loads(t) if t else {} for t in df["groups"].fillna("")]
    out["params"] = [json.loads(t) if t else {} for t in df["params"].fillna("")]
    return out[[c for c in ScoreRow.__annotations__]]


def metrics_frame(doc: MetricsDoc) -> pd.DataFrame:
    """The video-level metrics of metrics.json in long format: one row per detector, level and metric, with the
    bootstrap interval (`lo`, `hi`; NaN where there is none) and None values as NaN."""
    records = []
    for entry in doc.get("video", []):
        ci = entry.get("ci") or {}
        for metric in SCALAR_METRICS:
            if metric in entry:
                lo, hi = ci.get(metric) or (None, None)
                records.append((entry["detector"], entry["level"], metric, entry[metric], lo, hi))
    df = pd.DataFrame.from_records(records, columns=list(METRIC_COLUMNS))
    for c in ("value", "lo", "hi"):
        df[c] = pd.to_numeric(df[c], errors="coerce").astype(float)
    return df.astype({"detector": "string", "level": "string", "metric": "string"})
