"""The metrics' vocabulary, defined once and free of scikit-learn (the command line's parser reads it)."""
from __future__ import annotations

import difflib

METRIC_NAMES = ("auc", "ap", "accuracy", "log_loss")
# Every metric binary_metrics returns (confusion is a dict and not listed).
ALL_METRIC_NAMES = METRIC_NAMES + ("balanced_accuracy", "eer", "tpr_at_fpr_1", "tpr_at_fpr_5",
                                   "precision", "recall", "f1")
# Metrics that need both classes among the scored videos.
TWO_CLASS_METRICS = ("auc", "ap", "balanced_accuracy", "eer", "tpr_at_fpr_1", "tpr_at_fpr_5")
LOWER_IS_BETTER = frozenset({"log_loss", "eer"})
GATE_METRICS = METRIC_NAMES  # what the regression gate can check
DEFAULT_MAX_DROP = 0.02  # the gate's default absolute tolerance
DEFAULT_RESAMPLES = 1000  # bootstrap resamples for 95% intervals
DEFAULT_CONFIDENCE = 0.95


def did_you_mean(name: str, known: list[str]) -> str:
    """' (did you mean X?)' for a near miss of `name` among `known` (metric, level, detector names), else ''."""
    close = difflib.get_close_matches(name, known, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""

# metrics.json keys of the per-video robustness analyses (issue 21), and their settings.
BREAKING_POINTS = "breaking_points"
TEMPORAL_STABILITY = "temporal_stability"
QUALITY = "quality"
QUALITY_TARGETS = (0.9, 0.8, 0.7)  # SSIM values at which "AUC at equal quality" is interpolated
HARDEST_VIDEOS = 5  # videos listed per detector as breaking earliest across types
