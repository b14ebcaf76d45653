"""Video- and frame-level metrics, from sklearn.metrics (AUC by the exact rank formula that `roc_auc_score` computes up
to rounding); undefined values are None with a stated reason.

Conventions: label 1 = fake, scores are P(fake), a score >= threshold is called fake (the same convention as
sklearn's `roc_curve`, so a threshold taken from it reproduces its operating point).
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import sklearn.metrics

from .aggregate import LOSS_EPS, parse_frame_scores
from .names import ALL_METRIC_NAMES, TWO_CLASS_METRICS

# The clean-level operating point: the threshold maximising Youden's J = TPR - FPR on level `none`
# (the same argmax as balanced accuracy), kept fixed for every perturbed level as a deployed detector would.
THRESHOLD_RULE = "Youden's J (max TPR - FPR, equivalently max balanced accuracy) on the clean level `none`"


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
    balanced_accuracy: float | None = None
    eer: float | None = None
    tpr_at_fpr_1: float | None = None
    tpr_at_fpr_5: float | None = None
    precision: float | None = None
    recall: float | None = None
    f1: float | None = None
    confusion: dict | None = None
    frame_bce: float | None = None  # the reference's loss (frame_bce_with_logits); the video-level row only
    threshold: float = 0.5
    undefined: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


# ---------------------------------------------------------------- exact AUC

def rank_auc(labels: np.ndarray, scores: np.ndarray) -> np.ndarray | float:
    """AUC by the Mann-Whitney rank formula, (sum of the fakes' mid-ranks - n1(n1+1)/2) / (n0 n1), per row of
    2-D arrays (one bootstrap resample per row) or for one 1-D pair; NaN where a row lacks a class.

    Why not sklearn's `auc(roc_curve())`: its trapezoid sum over cumulated FPR steps can land on
    0.9999999999999999 for a perfectly separated resample with tied scores, and that noise (not a change of the
    detector) then decides whether a paired interval "excludes zero". Mid-ranks are multiples of 1/2, so their
    sums are exact in float64, and perfect separation gives exactly n0 n1 / (n0 n1) = 1.0; ties count 1/2 as in
    `roc_auc_score`, which this equals up to rounding.
    """
    from scipy.stats import rankdata  # scipy comes with scikit-learn; imported here like sklearn in bootstrap
    y = np.atleast_2d(np.asarray(labels, dtype=int))
    p = np.atleast_2d(np.asarray(scores, dtype=np.float64))
    n1 = y.sum(axis=1).astype(np.float64)
    n0 = y.shape[1] - n1
    ranks = rankdata(p, axis=1, method="average")
    u = (ranks * y).sum(axis=1) - n1 * (n1 + 1) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where((n0 > 0) & (n1 > 0), u / (n0 * n1), np.nan)
    return float(out[0]) if np.ndim(labels) == 1 else out


def rank_ap(labels: np.ndarray, scores: np.ndarray) -> np.ndarray | float:
    """Average precision per row of 2-D arrays (one bootstrap resample per row) or for one 1-D pair, exactly as
    sklearn's `average_precision_score` defines it (sum over distinct thresholds of the recall step times the
    precision there, tied scores forming one threshold); NaN where a row has no positive.

    Why not sklearn per resample: 1,000 calls per level and detector were most of a run's finish (about 0.4 ms
    each); sorted once per row, every resample's AP is a few array operations. Equal to sklearn up to rounding
    (checked in the tests, ties included).
    """
    y = np.atleast_2d(np.asarray(labels, dtype=np.int64))
    p = np.atleast_2d(np.asarray(scores, dtype=np.float64))
    m = y.shape[1]
    order = np.argsort(-p, axis=1, kind="stable")
    ps, ys = np.take_along_axis(p, order, axis=1), np.take_along_axis(y, order, axis=1)
    precision = np.cumsum(ys, axis=1) / np.arange(1, m + 1)
    # A threshold is the last position of a run of equal scores: every element takes the precision there.
    is_end = np.ones(ps.shape, dtype=bool)
    is_end[:, :-1] = ps[:, :-1] != ps[:, 1:]
    end = np.minimum.accumulate(np.where(is_end, np.arange(m), m)[:, ::-1], axis=1)[:, ::-1]
    n1 = ys.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(n1 > 0, (ys * np.take_along_axis(precision, end, axis=1)).sum(axis=1) / n1, np.nan)
    return float(out[0]) if np.ndim(labels) == 1 else out


# ---------------------------------------------------------------- operating points

def eer(labels: Sequence[int], scores: Sequence[float], *, roc: tuple | None = None) -> float:
    """Equal error rate: where FPR = FNR on sklearn's ROC curve, linearly interpolated between its points.
    `roc`: the (fpr, tpr, thresholds) of `roc_curve` on these arrays, when the caller has it already."""
    fpr, tpr, _ = roc if roc is not None else sklearn.metrics.roc_curve(labels, scores)
    fnr = 1 - tpr
    diff = fnr - fpr                      # decreasing from 1 to -1 along the curve
    i = int(np.argmax(diff <= 0))
    if i == 0 or diff[i] == 0:
        return float(fpr[i])
    w = diff[i - 1] / (diff[i - 1] - diff[i])
    return float(fpr[i - 1] + w * (fpr[i] - fpr[i - 1]))


def tpr_at_fpr(labels: Sequence[int], scores: Sequence[float], target: float, *, roc: tuple | None = None) -> float:
    """Highest TPR among ROC operating points with FPR <= target (an achievable threshold, no interpolation)."""
    fpr, tpr, _ = roc if roc is not None else sklearn.metrics.roc_curve(labels, scores)
    return float(np.max(tpr[fpr <= target + 1e-12]))


def youden_threshold(labels: Sequence[int], scores: Sequence[float]) -> float | None:
    """Threshold maximising TPR - FPR (ties: the highest threshold); None without both classes."""
    y = np.asarray(labels, dtype=int)
    if len(np.unique(y)) < 2:
        return None
    fpr, tpr, thresholds = sklearn.metrics.roc_curve(y, scores)
    finite = np.isfinite(thresholds)
    j = np.where(finite, tpr - fpr, -np.inf)
    return float(thresholds[int(np.argmax(j))])


# ---------------------------------------------------------------- the metric set

def binary_metrics(labels: Sequence[int], scores: Sequence[float], threshold: float = 0.5) -> dict:
    """All metrics of P(fake) scores against labels (1 = fake); threshold-based ones at `threshold`.

    Two scikit-learn calls give everything: the confusion matrix (accuracy, balanced accuracy, precision, recall
    and F1 are its ratios, as sklearn defines them, zero_division 0) and the ROC curve (EER, TPR at 1% and 5%
    FPR); AUC and AP are the exact rank formulas, log loss the mean of the clipped per-video terms. Why: a run's
    finish calls this for every detector x level x group, and sklearn's per-call input validation (about 1 ms a
    call, eight calls) was most of an incremental run's finish. Equal to the individual sklearn functions up to
    rounding (tests/test_metrics_extended.py checks it on random and tied inputs).
    """
    y = np.asarray(labels, dtype=int)
    p = np.asarray(scores, dtype=np.float64)
    out: dict = {name: None for name in ALL_METRIC_NAMES}
    out["confusion"] = None
    undefined: dict[str, str] = {}
    if len(y) == 0:
        for name in ALL_METRIC_NAMES:
            undefined[name] = "no scored videos"
        out["undefined"] = undefined
        return out
    if not np.all(np.isfinite(p)):
        raise ValueError("scores contain NaN or infinity")
    pred = (p >= threshold).astype(int)
    tn, fp, fn, tp = (int(v) for v in sklearn.metrics.confusion_matrix(y, pred, labels=[0, 1]).ravel())
    out["confusion"] = {"tn": tn, "fp": fp, "fn": fn, "tp": tp}
    q = np.clip(p, LOSS_EPS, 1 - LOSS_EPS)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    out.update(accuracy=(tp + tn) / len(y), log_loss=float(np.mean(-(y * np.log(q) + (1 - y) * np.log1p(-q)))),
               precision=precision, recall=recall,
               f1=2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    if len(np.unique(y)) < 2:
        only = "fake" if y[0] == 1 else "real"
        for name in TWO_CLASS_METRICS:
            undefined[name] = f"only one class among scored videos (all {only})"
    else:
        roc = sklearn.metrics.roc_curve(y, p)
        out["auc"] = rank_auc(y, p)  # = roc_auc_score up to rounding, exact where it matters (see rank_auc)
        out["ap"] = rank_ap(y, p)
        out["balanced_accuracy"] = (tp / (tp + fn) + tn / (tn + fp)) / 2
        out["eer"] = eer(y, p, roc=roc)
        out["tpr_at_fpr_1"] = tpr_at_fpr(y, p, 0.01, roc=roc)
        out["tpr_at_fpr_5"] = tpr_at_fpr(y, p, 0.05, roc=roc)
    out["undefined"] = undefined
    return out


def scored_arrays(rows: Iterable[dict], detector: str, level: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(video ids, labels, scores) of the scored (status ok) rows of one detector x level."""
    scored = [r for r in rows if r["detector"] == detector and r["level"] == level and r["status"] == "ok"]
    return ([r.get("video_id", "") for r in scored], np.array([int(r["label"]) for r in scored], dtype=int),
            np.array([float(r["score"]) for r in scored], dtype=np.float64))


def level_metrics(rows: Iterable[dict], detector: str, level: str, threshold: float = 0.5) -> LevelMetrics:
    """Metrics for one detector x level from score rows (dicts as in scores.csv)."""
    rows = list(rows)
    selected = [r for r in rows if r["detector"] == detector and r["level"] == level]
    _, y, p = scored_arrays(selected, detector, level)
    values = binary_metrics(y, p, threshold)
    return LevelMetrics(detector=detector, level=level, n_scored=len(y), n_real=int(np.sum(y == 0)),
                        n_fake=int(np.sum(y == 1)), n_skipped=len(selected) - len(y), threshold=threshold,
                        frame_bce=frame_bce_with_logits(selected, detector, level), **values)


def all_metrics(rows: list[dict], detectors: Sequence[str], levels: Sequence[str]) -> list[LevelMetrics]:
    return [level_metrics(rows, d, lv) for d in detectors for lv in levels]


def frame_rows(rows: Iterable[dict]) -> list[dict]:
    """One pseudo-row per frame (label of its video), for frame-level metrics from `frame_scores`."""
    out = []
    for r in rows:
        if r["status"] != "ok":
            continue
        for i, s in enumerate(parse_frame_scores(r.get("frame_scores", ""))):
            out.append({**r, "video_id": f"{r['video_id']}#{i}", "score": s, "frame_scores": ""})
    return out


def frame_bce_with_logits(rows: Iterable[dict], detector: str, level: str) -> float | None:
    """The reference code base's loss (deepfake_detector's evaluation): mean over all scored frames of
    BCEWithLogits(logit, label), the logit recovered as logit(p) with p clipped to [LOSS_EPS, 1 - LOSS_EPS].
    Frames, not videos, and every frame weighs the same, so long videos weigh more. None without frame scores."""
    logits, labels = [], []
    for r in rows:
        if r["detector"] == detector and r["level"] == level and r["status"] == "ok":
            frames = parse_frame_scores(r.get("frame_scores", ""))
            if not len(frames):
                return None
            q = np.clip(frames, LOSS_EPS, 1 - LOSS_EPS)
            logits.append(np.log(q) - np.log1p(-q))
            labels.append(np.full(len(q), int(r["label"]), dtype=np.float64))
    if not logits:
        return None
    z, y = np.concatenate(logits), np.concatenate(labels)
    return float(np.mean(np.logaddexp(0.0, z) - y * z))  # = max(z,0) - z y + log(1 + e^-|z|), torch's form


def clean_threshold_metrics(rows: list[dict], detector: str, level: str, clean_threshold: float | None) -> dict:
    """Accuracy and balanced accuracy of `level` at the threshold chosen on the clean level."""
    if clean_threshold is None:
        return {"threshold_clean": None, "accuracy_at_clean": None, "balanced_accuracy_at_clean": None}
    m = level_metrics(rows, detector, level, clean_threshold)
    return {"threshold_clean": clean_threshold, "accuracy_at_clean": m.accuracy,
            "balanced_accuracy_at_clean": m.balanced_accuracy}


def roc_points(y: np.ndarray, p: np.ndarray) -> dict | None:
    """ROC curve points (sklearn) for the report's figure; None without both classes."""
    if len(np.unique(y)) < 2:
        return None
    fpr, tpr, _ = sklearn.metrics.roc_curve(y, p)
    return {"fpr": [round(float(v), 5) for v in fpr], "tpr": [round(float(v), 5) for v in tpr]}


def score_histogram(y: np.ndarray, p: np.ndarray, bins: int = 20) -> dict:
    """Counts of real and fake scores in equal bins over [0, 1], for the report's histogram figure."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    return {"edges": [float(e) for e in edges],
            "real": np.histogram(np.clip(p[y == 0], 0, 1), edges)[0].tolist(),
            "fake": np.histogram(np.clip(p[y == 1], 0, 1), edges)[0].tolist()}
