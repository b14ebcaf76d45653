import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from benchmarks.metrics.aggregate import aggregate_video_score
from benchmarks.metrics.binary import all_metrics, binary_metrics, level_metrics


def test_hand_computed_case():
    m = binary_metrics([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    assert m["auc"] == pytest.approx(0.75)          # 3 of 4 (fake, real) pairs ordered correctly
    assert m["ap"] == pytest.approx((1 / 1 + 2 / 3) / 2)  # precision at each fake: 1/1 (0.8), 2/3 (0.35)
    assert m["accuracy"] == pytest.approx(0.75)     # 0.35 is a fake called real
    expected_loss = -(math.log(0.9) + math.log(0.6) + math.log(0.35) + math.log(0.8)) / 4
    assert m["log_loss"] == pytest.approx(expected_loss)
    assert m["undefined"] == {}


def test_threshold_is_inclusive_at_half():
    assert binary_metrics([1, 0], [0.5, 0.49])["accuracy"] == 1.0


def test_one_class_gives_na_with_reason():
    m = binary_metrics([1, 1, 1], [0.9, 0.2, 0.7])
    assert m["auc"] is None and m["ap"] is None
    assert "only one class" in m["undefined"]["auc"] and "fake" in m["undefined"]["auc"]
    assert m["accuracy"] == pytest.approx(2 / 3)
    assert m["log_loss"] == pytest.approx(-(math.log(0.9) + math.log(0.2) + math.log(0.7)) / 3)


def test_no_scored_videos():
    m = binary_metrics([], [])
    assert all(m[k] is None for k in ("auc", "ap", "accuracy", "log_loss"))
    assert m["undefined"]["auc"] == "no scored videos"


def test_confident_mistake_has_finite_loss():
    m = binary_metrics([0, 1], [1.0, 0.0])
    assert math.isfinite(m["log_loss"]) and m["log_loss"] > 10


def test_nan_scores_rejected():
    with pytest.raises(ValueError):
        binary_metrics([0, 1], [0.2, float("nan")])


def test_matches_sklearn_on_random_scores():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 200)
    p = np.clip(rng.normal(0.4 + 0.2 * y, 0.2), 0, 1)
    assert binary_metrics(y, p)["auc"] == pytest.approx(roc_auc_score(y, p))


def test_level_metrics_counts_skipped_rows():
    rows = [
        {"detector": "meso", "level": "none", "status": "ok", "label": "1", "score": "0.9"},
        {"detector": "meso", "level": "none", "status": "ok", "label": "0", "score": "0.2"},
        {"detector": "meso", "level": "none", "status": "no_face", "label": "0", "score": ""},
        {"detector": "meso", "level": "heavy", "status": "ok", "label": "0", "score": "0.7"},
    ]
    m = level_metrics(rows, "meso", "none")
    assert (m.n_scored, m.n_real, m.n_fake, m.n_skipped) == (2, 1, 1, 1)
    assert m.auc == 1.0
    heavy = all_metrics(rows, ["meso"], ["none", "heavy"])[1]
    assert heavy.level == "heavy" and heavy.auc is None and heavy.accuracy == 0.0


def test_video_score_is_mean_of_frames():
    assert aggregate_video_score([0.2, 0.4, 0.9]) == pytest.approx(0.5)
