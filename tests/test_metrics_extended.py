"""Extended metrics, bootstrap intervals, paired changes and robustness summaries (synthetic scores, fast)."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.stats import norm
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    log_loss,
    precision_score,
    recall_score,
    roc_auc_score,
)

from benchmarks.metrics import bootstrap as boot
from benchmarks.metrics.aggregate import aggregate_video_score, rescore_rows
from benchmarks.metrics.binary import binary_metrics, eer, frame_rows, level_metrics, tpr_at_fpr, youden_threshold
from benchmarks.metrics.graded import graded_level
from benchmarks.metrics.robustness import group_breakdown, run_metrics, summarise


def test_extended_hand_computed_case():
    m = binary_metrics([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    assert m["confusion"] == {"tn": 2, "fp": 0, "fn": 1, "tp": 1}
    assert m["precision"] == 1.0 and m["recall"] == 0.5 and m["f1"] == pytest.approx(2 / 3)
    assert m["balanced_accuracy"] == pytest.approx(0.75)
    # ROC points (fpr, tpr): (0,0) (0,.5) (.5,.5) (.5,1) (1,1): FNR = FPR = 0.5 on the segment at fpr 0.5
    assert m["eer"] == pytest.approx(0.5)
    assert m["tpr_at_fpr_1"] == 0.5 and m["tpr_at_fpr_5"] == 0.5


def test_eer_and_tpr_at_fpr_known_case():
    # reals 0..99, fakes 10.5..109.5 (no ties). At threshold t: FPR = (100 - t) / 100, FNR = (t - 10.5) / 100,
    # equal at t = 55.25 -> EER 0.4475. FPR <= 5% allows t = 94.5 (fakes 84.5.. -> 16 fakes); FPR <= 1%: t = 98.5
    reals = np.arange(100.0)
    y = np.r_[np.zeros(100), np.ones(100)].astype(int)
    p = np.r_[reals, reals + 10.5]
    assert eer(y, p) == pytest.approx(0.4475, abs=0.006)
    assert tpr_at_fpr(y, p, 0.05) == pytest.approx(0.16)
    assert tpr_at_fpr(y, p, 0.01) == pytest.approx(0.12)
    perfect = binary_metrics([0, 1], [0.2, 0.9])
    assert perfect["eer"] == 0.0 and perfect["tpr_at_fpr_1"] == 1.0


def test_extended_metrics_match_sklearn():
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 300)
    p = np.clip(rng.normal(0.4 + 0.2 * y, 0.2), 0.001, 0.999)
    m = binary_metrics(y, p)
    assert m["auc"] == pytest.approx(roc_auc_score(y, p))
    assert m["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, p >= 0.5))
    assert m["f1"] == pytest.approx(f1_score(y, p >= 0.5))


@pytest.mark.parametrize("case", ["continuous", "ties", "few", "one-class", "all-called-real", "threshold-0.3"])
def test_every_metric_equals_its_sklearn_function(case):
    """binary_metrics derives most metrics from one confusion matrix and one ROC curve (for speed): each must
    equal the scikit-learn function it replaces, ties, tiny sets and undefined ratios included."""
    rng = np.random.default_rng(["continuous", "ties", "few", "one-class", "all-called-real", "threshold-0.3"].index(case))
    n = {"few": 3}.get(case, 200)
    y = rng.integers(0, 2, n) if case != "one-class" else np.ones(n, dtype=int)
    if case == "few":
        y = np.array([0, 1, 1])
    p = rng.random(n)
    if case == "ties":
        p = np.round(p * 4) / 4  # five distinct scores, many ties
    if case == "all-called-real":
        p = p * 0.4  # no video reaches 0.5: precision's 0/0 is 0, as sklearn's zero_division=0
    threshold = 0.3 if case == "threshold-0.3" else 0.5
    m = binary_metrics(y, p, threshold)
    pred = (p >= threshold).astype(int)
    assert m["accuracy"] == pytest.approx(accuracy_score(y, pred), abs=1e-12)
    assert m["log_loss"] == pytest.approx(log_loss(y, np.clip(p, 1e-7, 1 - 1e-7), labels=[0, 1]), abs=1e-12)
    assert m["precision"] == pytest.approx(precision_score(y, pred, zero_division=0.0), abs=1e-12)
    assert m["recall"] == pytest.approx(recall_score(y, pred, zero_division=0.0), abs=1e-12)
    assert m["f1"] == pytest.approx(f1_score(y, pred, zero_division=0.0), abs=1e-12)
    tn, fp, fn, tp = confusion_matrix(y, pred, labels=[0, 1]).ravel()
    assert m["confusion"] == {"tn": tn, "fp": fp, "fn": fn, "tp": tp}
    if case == "one-class":
        assert m["auc"] is None and m["balanced_accuracy"] is None and "only one class" in m["undefined"]["auc"]
        return
    assert m["auc"] == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert m["ap"] == pytest.approx(average_precision_score(y, p), abs=1e-12)
    assert m["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, pred), abs=1e-12)
    assert m["eer"] == eer(y, p) and m["tpr_at_fpr_5"] == tpr_at_fpr(y, p, 0.05)


def test_youden_threshold_separates_and_is_kept_for_other_levels():
    assert youden_threshold([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4]) == pytest.approx(0.3)
    assert youden_threshold([1, 1], [0.1, 0.2]) is None
    rows = [{"video_id": str(i), "detector": "d", "level": lv, "status": "ok", "label": str(y), "score": str(s)}
            for lv, scores in (("none", [0.1, 0.2, 0.3, 0.4]), ("x", [0.1, 0.35, 0.25, 0.4]))
            for i, (y, s) in enumerate(zip([0, 0, 1, 1], scores))]
    assert level_metrics(rows, "d", "x", 0.3).accuracy == pytest.approx(0.5)


def test_aggregations_and_rescoring():
    assert aggregate_video_score([0.1, 0.2, 0.9], "median") == pytest.approx(0.2)
    assert aggregate_video_score([0.1, 0.2, 0.9], "max") == pytest.approx(0.9)
    assert aggregate_video_score([0.5, 0.5], "logit-mean") == pytest.approx(0.5)
    z = (math.log(0.9 / 0.1) + math.log(0.2 / 0.8)) / 2
    assert aggregate_video_score([0.9, 0.2], "logit-mean") == pytest.approx(1 / (1 + math.exp(-z)))
    with pytest.raises(ValueError):
        aggregate_video_score([0.5], "mode")
    rows = [{"score": "0.4", "frame_scores": "0.1 0.9 0.2", "status": "ok", "video_id": "v", "label": "1"}]
    assert float(rescore_rows(rows, "max")[0]["score"]) == pytest.approx(0.9)
    assert [r["score"] for r in frame_rows(rows)] == [0.1, 0.9, 0.2]


def test_bootstrap_replicates_equal_sklearn_on_the_resample():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 40)
    p = rng.random(40)
    idx = boot.resample_indices(40, 5, seed=3)
    reps, valid = boot.replicates(y, p, idx)
    for b in range(5):
        assert valid[b]
        assert reps["auc"][b] == pytest.approx(roc_auc_score(y[idx[b]], p[idx[b]]))
        assert reps["accuracy"][b] == pytest.approx(accuracy_score(y[idx[b]], p[idx[b]] >= 0.5))
        assert reps["log_loss"][b] == pytest.approx(log_loss(y[idx[b]], p[idx[b]], labels=[0, 1]))


def test_resamples_without_both_classes_are_skipped_and_counted():
    ci = boot.bootstrap_ci([0, 1, 1, 1], [0.2, 0.7, 0.8, 0.9], n_boot=200, seed=0)
    assert 0 < ci["auc"].n_skipped < 200 and ci["auc"].lo is not None


def test_bootstrap_interval_covers_the_true_auc():
    """Binormal scores, separation d: true AUC = Phi(d / sqrt 2). 100 repetitions x 200 videos x 100 resamples (fewer than 200 to keep the suite fast)."""
    d, truth = 1.0, norm.cdf(1.0 / math.sqrt(2))
    rng = np.random.default_rng(12)
    covered = 0
    for rep in range(100):
        y = np.r_[np.zeros(100), np.ones(100)].astype(int)
        p = rng.normal(d * y, 1.0)
        ci = boot.bootstrap_ci(y, p, n_boot=100, seed=rep, metrics=("auc",))["auc"]
        covered += ci.lo <= truth <= ci.hi
    assert 88 <= covered <= 99


def test_paired_bootstrap_detects_a_real_drop_and_not_a_null_change():
    rng = np.random.default_rng(7)
    y = np.r_[np.zeros(100), np.ones(100)].astype(int)
    clean = rng.normal(1.5 * y, 1.0)
    dropped = boot.paired_change(y, clean, clean + rng.normal(0, 1.5, 200) - 0.5 * y, n_boot=300, seed=0,
                                 metrics=("auc",))["auc"]
    assert dropped.estimate < 0 and dropped.excludes_zero and dropped.hi < 0
    null = boot.paired_change(y, clean, clean + rng.normal(0, 0.05, 200), n_boot=300, seed=0, metrics=("auc",))["auc"]
    assert not null.excludes_zero and null.n_common == 200


def test_align_pairs_common_videos():
    common, a, b = boot.align(["v2", "v1", "v3"], ["v3", "v1"])
    assert common == ["v1", "v3"] and a.tolist() == [1, 2] and b.tolist() == [1, 0]


def test_graded_summary_and_mce_hand_made():
    # Updated for issue 16: this test used GB:1-2 and JPEG:1-2 and expected them in Avg and mCE. GB with two of
    # its five severities is incomplete and JPEG (real JPEG) is not a DeeperForensics type, so neither may enter
    # the published Avg; the hand-made numbers now use all five GB severities (JPEG stays, as an "other" type).
    auc = {"a": {"none": 0.9, "GB:1": 0.8, "GB:2": 0.6, "GB:3": 0.6, "GB:4": 0.6, "GB:5": 0.6,
                 "JPEG:1": 0.7, "JPEG:2": 0.5},
           "ref": {"none": 0.9, "GB:1": 0.6, "GB:2": 0.4, "GB:3": 0.4, "GB:4": 0.4, "GB:5": 0.4,
                   "JPEG:1": 0.7, "JPEG:2": 0.5}}
    s = summarise(auc, reference="ref")
    a = s["detectors"]["a"]
    assert a["types"] == pytest.approx({"GB": 0.64, "JPEG": 0.6})
    assert a["avg"] == pytest.approx(0.64) and a["drop"] == pytest.approx(0.26) and a["avg_types"] == ["GB"]
    assert a["levels"]["GB:2"]["drop"] == pytest.approx(0.3)
    assert a["levels"]["GB:2"]["relative"] == pytest.approx(0.6 / 0.9)
    assert a["ce"]["GB"] == pytest.approx((0.2 + 0.4 * 4) / (0.4 + 0.6 * 4))
    assert a["ce"]["JPEG"] == pytest.approx(1.0)
    assert a["mce"] == pytest.approx(a["ce"]["GB"])
    assert s["detectors"]["ref"]["mce"] == pytest.approx(1.0)
    assert "ce" not in summarise(auc, reference="missing")["detectors"]["a"]
    assert graded_level("GB:3").type == "GB" and graded_level("GB:3").severity == 3 and graded_level("heavy") is None


def _row(vid, label, score, level="none", groups=None, det="d"):
    return {"video_id": vid, "label": str(label), "split": "test", "detector": det, "level": level,
            "score": repr(score), "n_frames": 2, "status": "ok", "message": "",
            "frame_scores": f"{score} {score}", "groups": json.dumps(groups) if groups else ""}


def test_group_breakdown_fake_only_column_uses_all_reals():
    rows = [_row("r1", 0, 0.1, groups={"source": "a"}), _row("r2", 0, 0.6, groups={"source": "b"}),
            _row("f1", 1, 0.9, groups={"source": "a", "method": "DF"}),
            _row("f2", 1, 0.4, groups={"source": "b", "method": "FS"})]
    out = {(g["column"], g["value"]): g for g in group_breakdown(rows, "d", "none")}
    assert out[("method", "DF")]["reals"] == "all reals" and out[("method", "DF")]["n_real"] == 2
    assert out[("method", "DF")]["auc"] == 1.0 and out[("method", "FS")]["auc"] == 0.5
    assert out[("source", "b")]["reals"] == "group's own" and out[("source", "b")]["auc"] == 0.0


def test_run_metrics_document():
    rng = np.random.default_rng(0)
    rows = []
    for i in range(40):
        y = i % 2
        s = float(np.clip(rng.normal(0.3 + 0.4 * y, 0.15), 0.01, 0.99))
        rows += [_row(f"v{i}", y, s), _row(f"v{i}", y, float(np.clip(s + rng.normal(0, 0.3), 0.01, 0.99)), "GB:1")]
    doc = run_metrics(rows, ["d"], ["none", "GB:1"], n_boot=200, seed=1)
    clean, gb = doc["video"]
    assert clean["ci"]["auc"][0] <= clean["auc"] <= clean["ci"]["auc"][1]
    assert gb["change"]["auc"]["n_common"] == 40 and "change" not in clean
    assert gb["change"]["auc"]["estimate"] == pytest.approx(gb["auc"] - clean["auc"])
    assert doc["robustness"]["detectors"]["d"]["types"]["GB"] == pytest.approx(gb["auc"])
    assert doc["frame"][0]["n_scored"] == 80
    assert run_metrics(rows, ["d"], ["none", "GB:1"], n_boot=200, seed=1) == doc  # seeded: reproducible
