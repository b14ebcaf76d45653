"""Metrics as published (issue 16): exact AUC in the bootstrap, graded levels by the perturbations parser,
complete types only in the LipForensics Avg, ImageNet-C CE and relative CE, signed changes, the reference loss."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from benchmarks.cli import main
from benchmarks.metrics import bootstrap as boot
from benchmarks.metrics.binary import frame_bce_with_logits, level_metrics, rank_auc
from benchmarks.metrics.gate import build_baseline, check
from benchmarks.metrics.graded import graded_level, summarise
from benchmarks.metrics.robustness import run_metrics
from reports import run_files as results
from reports.figures import graded_levels
from reports.tables import fmt_signed, main_table, robustness_tables


def _separated(rng, n: int, digits: int) -> tuple[np.ndarray, np.ndarray]:
    """Perfectly separated scores with ties (rounded), the case where a trapezoid AUC drifts off 1.0."""
    y = np.r_[np.zeros(n // 2), np.ones(n - n // 2)].astype(int)
    return y, np.round(np.where(y == 1, rng.uniform(0.6, 1, n), rng.uniform(0, 0.4, n)), digits)


# ---------------------------------------------------------------- 1. exact AUC, tolerance on zero

def test_bootstrap_auc_is_exactly_one_on_perfectly_separated_resamples():
    rng = np.random.default_rng(0)
    for t in range(60):
        y, p = _separated(rng, int(rng.integers(4, 60)), 2)
        reps, valid = boot.replicates(y, p, boot.resample_indices(len(y), 100, t), ("auc",))
        assert np.all(reps["auc"][valid] == 1.0)   # sklearn's auc(roc_curve()) gave 0.9999999999999999 here


def test_rank_auc_equals_roc_auc_score_with_ties():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 200)
    p = np.round(rng.normal(y * 0.5, 1.0), 1)
    assert rank_auc(y, p) == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    idx = boot.resample_indices(200, 20, 3)
    expected = [roc_auc_score(y[i], p[i]) for i in idx]
    assert rank_auc(y[idx], p[idx]) == pytest.approx(expected, abs=1e-12)
    assert np.isnan(rank_auc(np.array([[1, 1, 1]]), np.array([[0.1, 0.2, 0.3]])))[0]


def test_last_bit_noise_does_not_exclude_zero():
    assert not boot.Change(-1e-16, -1.1e-16, -1.1e-16, 100, 0, n_common=10).excludes_zero
    assert not boot.Change(1e-16, 1.1e-16, 2.2e-16, 100, 0, n_common=10).excludes_zero
    assert boot.Change(-0.1, -0.2, -0.01, 100, 0, n_common=10).excludes_zero


def test_identical_and_equally_separated_levels_are_never_significant():
    rng = np.random.default_rng(2)
    for t in range(20):
        y, p = _separated(rng, int(rng.integers(6, 40)), 1)
        _, q = _separated(rng, len(y), 2)
        for new in (p, q):
            change = boot.paired_change(y, p, new, n_boot=200, seed=t, metrics=("auc",))["auc"]
            assert change.estimate == 0.0 and change.lo == 0.0 and change.hi == 0.0 and not change.excludes_zero


def _write_run(run_dir, scores: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    rows = [{"video_id": f"v{i:03d}", "label": int(label), "split": "test", "detector": "meso", "level": lv,
             "score": repr(float(s)), "n_frames": 1, "status": "ok", "message": "", "frame_scores": repr(float(s)),
             "groups": ""} for lv, (y, p) in scores.items() for i, (label, s) in enumerate(zip(y, p))]
    results.write_scores(run_dir / results.SCORES_FILE, rows)
    (run_dir / results.MANIFEST_FILE).write_text("{}")  # a run folder has one; `check` refuses a folder without


def test_check_significant_passes_on_perfectly_separated_levels(tmp_path):
    rng = np.random.default_rng(3)
    y, p = _separated(rng, 30, 2)
    _, q = _separated(rng, 30, 1)
    _write_run(tmp_path / "base", {"none": (y, p), "GB:1": (y, p)})
    _write_run(tmp_path / "now", {"none": (y, q), "GB:1": (y, p)})
    verdicts = check(tmp_path / "now", build_baseline(tmp_path / "base"), ["auc", "ap"], mode="significant",
                     n_boot=300)
    assert verdicts and all(v.ok for v in verdicts)
    results.write_json(tmp_path / "b.json", build_baseline(tmp_path / "base"))
    assert main(["check", str(tmp_path / "now"), "--baseline", str(tmp_path / "b.json"), "--significant",
                 "--metrics", "auc"]) == 0


# ---------------------------------------------------------------- 2-4. graded levels, completeness, CE

def _levels(base: float, kinds: dict[str, list[int]], step: float = 0.05) -> dict[str, float]:
    out = {"none": base}
    for kind, severities in kinds.items():
        out.update({f"{kind}:{s}": base - step * s for s in severities})
    return out


def test_combined_and_named_levels_are_not_severities():
    assert graded_level("JPEG:5+GNC:2") is None and graded_level("heavy") is None and graded_level("df:mix") is None
    assert graded_level("none") is None and graded_level("NOSUCH:3") is None
    gb, jpeg = graded_level("GB:3"), graded_level("JPEG:2")
    assert (gb.type, gb.severity, gb.family, gb.n_severities) == ("GB", 3, "df", 5)
    assert (jpeg.type, jpeg.family) == ("JPEG", "other")
    auc = _levels(0.9, {"GB": [1, 2, 3, 4, 5]}) | {"JPEG:5+GNC:2": 0.1}
    d = summarise({"a": auc}, reference=None)["detectors"]["a"]
    assert list(d["types"]) == ["GB"] and d["avg"] == pytest.approx(0.75)   # was polluted by type "JPEG:5+GNC"
    assert graded_levels({"detectors": {"a": d}}, "a") == {f"GB:{s}": ("GB", s) for s in range(1, 6)}


def test_incomplete_and_other_types_stay_out_of_the_published_average():
    auc = _levels(0.9, {"GB": [1, 2, 3, 4, 5], "CS": [1, 3], "JPEG": [1, 2, 3, 4, 5]})
    summary = summarise({"a": auc}, reference=None)
    d = summary["detectors"]["a"]
    cs = d["type_info"]["CS"]
    assert cs["complete"] is False and cs["severities"] == [1, 3] and cs["expected"] == 5
    assert d["type_info"]["GB"]["complete"] and d["type_info"]["JPEG"]["family"] == "other"
    assert d["avg_types"] == ["GB"] and d["avg"] == pytest.approx(0.75) and d["avg_complete"] is False
    assert d["types"]["CS"] == pytest.approx(0.8)   # still reported, marked incomplete
    df_table, other_table = robustness_tables(summary)[1:3]
    assert df_table.index("| CS |") < df_table.index("| GB |")   # DeeperForensics' column order
    assert "† (severities 1,3 of 5)" in df_table and "JPEG" not in df_table and "(1 of 7 types)" in df_table
    assert "other graded types" in other_table and "JPEG" in other_table
    assert json.loads(json.dumps(d)) == d                                       # metrics.json-ready


def test_ce_and_relative_ce_follow_imagenet_c():
    det = {"none": 0.95, "GB:1": 0.9, "GB:2": 0.8, "GB:3": 0.7, "GB:4": 0.6, "GB:5": 0.5}
    ref = {"none": 0.85, "GB:1": 0.8, "GB:2": 0.7, "GB:3": 0.6, "GB:4": 0.5, "GB:5": 0.4}
    d = summarise({"d": det, "ref": ref}, reference="ref")["detectors"]["d"]
    e = [1 - det[f"GB:{s}"] for s in range(1, 6)]
    e_ref = [1 - ref[f"GB:{s}"] for s in range(1, 6)]
    assert d["ce"]["GB"] == pytest.approx(sum(e) / sum(e_ref))
    relative = sum(v - (1 - det["none"]) for v in e) / sum(v - (1 - ref["none"]) for v in e_ref)
    assert d["relative_ce"]["GB"] == pytest.approx(relative) and d["relative_mce"] == pytest.approx(relative)
    assert d["relative_ce"]["GB"] != pytest.approx(d["ce"]["GB"])
    assert d["levels"]["GB:1"]["auc_ratio"] == pytest.approx(0.9 / 0.95) == d["levels"]["GB:1"]["relative"]
    assert d["levels"]["GB:1"]["change"] == pytest.approx(-0.05)
    flat = summarise({"d": det, "ref": {lv: 0.85 for lv in ref}}, reference="ref")["detectors"]["d"]
    assert flat["relative_ce"]["GB"] is None   # the reference did not degrade: undefined, not a division by 0


# ---------------------------------------------------------------- 5. signed changes

def test_changes_are_printed_signed_level_minus_clean():
    assert fmt_signed(-0.145) == "\u22120.145" and fmt_signed(0.023) == "+0.023" and fmt_signed(-1e-9) == "0.000"
    auc = {"none": 0.8, "GB:1": 0.655, "GB:2": 0.823, "GB:3": 0.7, "GB:4": 0.7, "GB:5": 0.7}
    text = "\n".join(robustness_tables(summarise({"a": auc}, reference=None)))
    assert "(\u22120.145, " in text and "(+0.023, " in text and "(-" not in text and "--" not in text.replace("---", "")


# ---------------------------------------------------------------- 6. the reference's loss

def test_frame_bce_with_logits_is_the_reference_loss():
    rows = [{"video_id": "a", "label": "1", "detector": "d", "level": "none", "status": "ok", "score": "0.5",
             "frame_scores": "0.9 0.2 1.0"},
            {"video_id": "b", "label": "0", "detector": "d", "level": "none", "status": "ok", "score": "0.3",
             "frame_scores": "0.3"},
            {"video_id": "c", "label": "0", "detector": "d", "level": "none", "status": "no_face", "score": "",
             "frame_scores": ""}]
    q = torch.tensor([0.9, 0.2, 1.0, 0.3], dtype=torch.float64).clamp(1e-7, 1 - 1e-7)
    expected = torch.nn.functional.binary_cross_entropy_with_logits(torch.logit(q), torch.tensor([1., 1, 1, 0],
                                                                                                 dtype=torch.float64))
    assert frame_bce_with_logits(rows, "d", "none") == pytest.approx(float(expected), rel=1e-9)
    assert frame_bce_with_logits(rows, "d", "heavy") is None


def test_report_names_both_losses(tmp_path):
    rng = np.random.default_rng(4)
    y = np.r_[np.zeros(10), np.ones(10)].astype(int)
    rows = [{"video_id": f"v{i}", "label": str(label), "split": "test", "detector": "d", "level": "none",
             "score": "", "n_frames": 1 + i % 3, "status": "ok", "message": "", "groups": "",
             "frame_scores": " ".join(f"{v:.4f}" for v in rng.uniform(0.3 * label, 0.7 + 0.3 * label, 1 + i % 3))}
            for i, label in enumerate(y)]
    for r in rows:
        r["score"] = repr(float(np.mean([float(v) for v in r["frame_scores"].split()])))
    doc = run_metrics(rows, ["d"], ["none"], n_boot=0)
    entry = doc["video"][0]
    assert entry["frame_bce"] == pytest.approx(doc["frame"][0]["log_loss"], rel=1e-9)
    assert entry["frame_bce"] != pytest.approx(entry["log_loss"])   # video weighting differs from frames
    assert level_metrics(rows, "d", "none").frame_bce == entry["frame_bce"]   # what `run` prints
    assert "frame_bce" not in doc["frame"][0]
    table = main_table([entry], ["d / none"])
    assert "| loss (frame BCE with logits) |" in table and "| video log loss |" in table
