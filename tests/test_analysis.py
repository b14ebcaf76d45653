"""Breaking points, temporal stability, quality at equal SSIM, the leaderboard and the pandas results interface, on
hand-made score tables whose answers are worked out by hand."""
from __future__ import annotations

import json

import numpy as np
import pytest

import benchmarks
from benchmarks.cli import main as cli_main
from benchmarks.metrics.breaking import breaking_points, clean_thresholds, median_severity, survival_curve
from benchmarks.metrics.leaderboard import build_board, holm
from benchmarks.metrics.quality import auc_at_ssim, quality_summary
from benchmarks.metrics.robustness import run_metrics
from benchmarks.metrics.stability import temporal_stability
from reports.leaderboard import ENTRY_SCHEMA, read_entries
from reports.run_files import write_json, write_scores


def row(video, label, level, score, det="d", frames=None, quality=None):
    params = {"quality": quality} if quality else {}
    return {"video_id": video, "label": str(label), "split": "test", "detector": det, "level": level,
            "score": repr(float(score)), "n_frames": len(frames or [score]), "status": "ok", "message": "",
            "frame_scores": " ".join(str(s) for s in (frames or [score])), "groups": "",
            "params": json.dumps(params), "frame_indices": ""}


# ---------------------------------------------------------------- breaking points

def breaking_rows():
    """Threshold 0.5. v1 fake, right clean, wrong from GB:2; v2 real, never wrong on GB, wrong at GNC:1; v3 fake,
    wrong at clean (not counted); v4 real, wrong at GB:1 only (the lowest wrong severity counts) and GB:3 absent."""
    table = {"v1": (1, {"none": .9, "GB:1": .8, "GB:2": .3, "GB:3": .7, "GNC:1": .9}),
             "v2": (0, {"none": .1, "GB:1": .2, "GB:2": .4, "GB:3": .3, "GNC:1": .6}),
             "v3": (1, {"none": .2, "GB:1": .9, "GB:2": .9, "GB:3": .9, "GNC:1": .9}),
             "v4": (0, {"none": .3, "GB:1": .7, "GB:2": .2, "GNC:1": .1})}
    return [row(v, y, lv, s) for v, (y, scores) in table.items() for lv, s in scores.items()]


def test_breaking_severities_summaries_and_survival():
    doc = breaking_points(breaking_rows(), ["d"], ["none", "GB:1", "GB:2", "GB:3", "GNC:1"], {"d": 0.5})
    d = doc["detectors"]["d"]
    assert d["n_clean_correct"] == 3
    gb, gnc = d["types"]["GB"], d["types"]["GNC"]
    assert gb["videos"] == {"v1": 2, "v2": None, "v4": 1}
    assert gnc["videos"] == {"v1": None, "v2": 1, "v4": None}
    assert gb["median"] == 2.0 and gb["never_broken"] == pytest.approx(1 / 3)
    assert gnc["median"] is None and gnc["never_broken"] == pytest.approx(2 / 3)
    assert gb["survival"] == [[0, 1.0], [1, pytest.approx(2 / 3)], [2, pytest.approx(1 / 3)], [3, pytest.approx(1 / 3)]]
    # hardest: v4 (GB 1, GNC never = 2) mean 1.5; v2 (GB never = 4, GNC 1) 2.5; v1 (2, never = 2) 2.0
    assert [(h["video_id"], h["mean_breaking"]) for h in d["hardest"]] == [("v4", 1.5), ("v1", 2.0), ("v2", 2.5)]


def test_breaking_helpers_and_thresholds():
    assert survival_curve([], [1, 2]) == []
    assert median_severity([1, None, None]) is None and median_severity([1, 3, None]) == 3.0
    rows = [row("a", 0, "none", .2), row("b", 0, "none", .4), row("c", 1, "none", .6), row("e", 1, "none", .3)]
    assert clean_thresholds(rows, ["d"]) == {"d": 0.6}  # Youden: TPR 1/2, FPR 0 at 0.6 (J = .5) beats 0.3 (J = .5, lower)
    assert breaking_points(rows, ["d"], ["none", "heavy"], {"d": 0.5})["detectors"] == {}  # nothing graded


# ---------------------------------------------------------------- temporal stability

def test_flip_rate_and_mean_change_against_none():
    rows = [row("v1", 1, "none", .75, frames=[.7, .8, .9, .6]), row("v1", 1, "GB:1", .425, frames=[.2, .8, .3, .4]),
            row("v2", 0, "none", .1, frames=[.1]), row("v2", 0, "GB:1", .5, frames=[.6, .4])]
    entries = {e["level"]: e for e in temporal_stability(rows, ["d"], ["none", "GB:1"], {"d": 0.5})["entries"]}
    none, gb = entries["none"], entries["GB:1"]
    assert none["n_videos"] == 1 and none["flip_rate"] == 0.0 and none["mean_abs_change"] == pytest.approx(0.5 / 3)
    # v1: decisions F T F F -> 2 flips of 3, |dP| (.6 + .5 + .1) / 3 = .4; v2: 1 flip of 1, |dP| .2
    assert gb["n_videos"] == 2 and gb["flip_rate"] == pytest.approx((2 / 3 + 1) / 2)
    assert gb["mean_abs_change"] == pytest.approx((0.4 + 0.2) / 2)
    assert gb["flip_rate_change"] == pytest.approx(2 / 3)  # v1 only: v2 has one frame at none
    assert gb["mean_abs_change_change"] == pytest.approx(0.4 - 0.5 / 3)
    assert "clip_agreement" not in gb and gb["unit"] == "frame"


def test_clip_models_compare_clips():
    rows = [row("v", 1, "none", .4, det="c", frames=[.1, .1, .9, .9, .2, .2])]
    (entry,) = temporal_stability(rows, ["c"], ["none"], {"c": 0.5}, clip_frames={"c": 2})["entries"]
    assert entry["unit"] == "clip" and entry["flip_rate"] == 1.0
    assert entry["mean_abs_change"] == pytest.approx((0.8 + 0.7) / 2)
    assert entry["clip_agreement"] == pytest.approx(2 / 3)  # video decision real; clips real, fake, real
    (whole,) = temporal_stability(rows, ["c"], ["none"], {"c": 0.5}, clip_frames={"c": 0})["entries"]
    assert whole["n_videos"] == 0 and whole["flip_rate"] is None  # one clip: nothing to compare


# ---------------------------------------------------------------- quality

def test_auc_at_equal_ssim_interpolates_without_extrapolating():
    assert auc_at_ssim([(1.0, 1.0), (0.8, 0.8), (0.6, 0.5)], (0.9, 0.7, 0.5)) == {"0.9": 0.9, "0.7": 0.65, "0.5": None}
    rows = [row(v, 0, lv, .5, quality={"psnr": p, "ssim": s, "frames": 4})
            for v, (lv, p, s) in [("a", ("GB:1", 30.0, 0.9)), ("b", ("GB:1", 32.0, 0.8)),
                                  ("a", ("GB:2", 20.0, 0.7)), ("b", ("GB:2", None, 0.5))]]
    rows.append(row("a", 0, "GB:1", .5, det="other", quality={"psnr": 0.0, "ssim": 0.0, "frames": 4}))  # same video
    doc = quality_summary(rows, ["none", "GB:1", "GB:2"], {"d": {"none": 0.9, "GB:1": 0.8, "GB:2": 0.6}},
                          {"GB": {1: "GB:1", 2: "GB:2"}})
    assert doc["levels"]["GB:1"] == {"psnr": 31.0, "ssim": pytest.approx(0.85), "n_videos": 2}
    assert doc["levels"]["GB:2"]["psnr"] == 20.0 and doc["levels"]["GB:2"]["ssim"] == pytest.approx(0.6)
    # points (1, .9), (.85, .8), (.6, .6): at .9 -> .8 + (.05/.15) * .1; at .8 -> .6 + (.2/.25) * .2; at .7 -> .68
    assert doc["detectors"]["d"]["GB"]["auc_at_ssim"] == {"0.9": pytest.approx(0.8 + 0.1 / 3),
                                                          "0.8": pytest.approx(0.76), "0.7": pytest.approx(0.68)}


# ---------------------------------------------------------------- leaderboard

def entry(det, scores: dict[str, list[float]], labels, sha="a" * 64, fingerprint="fp", source="run"):
    levels = {lv: {"auc": {"value": float(np.mean(s)), "lo": 0.0, "hi": 1.0}} for lv, s in scores.items()}
    return {"schema": ENTRY_SCHEMA, "detector": det, "weights_sha256": sha, "weights": None, "protocol": "p",
            "dataset": "demo", "dataset_fingerprint": fingerprint, "source": source, "levels": levels,
            "clean_auc": None, "mce": None, "mce_reference": None, "breaking": {},
            "videos": {lv: {f"v{i}": [y, p] for i, (y, p) in enumerate(zip(labels, s))} for lv, s in scores.items()}}


def board_entries():
    """40 videos. `good` separates perfectly at every level; `weak` and `weak2` score the same noise (AUC ~ .5)."""
    rng = np.random.default_rng(0)
    labels = [0, 1] * 20
    good = {lv: [0.2 + 0.6 * y for y in labels] for lv in ("none", "GB:1", "GB:2")}
    noise = {lv: rng.random(40).tolist() for lv in ("none", "GB:1", "GB:2")}
    out = [entry("weak", noise, labels), entry("good", good, labels), entry("weak2", noise, labels, sha="b" * 64)]
    for e in out:  # the per-level values a real entry carries: the AUC of its scores
        for lv, videos in e["videos"].items():
            y = np.array([v[0] for v in videos.values()])
            p = np.array([v[1] for v in videos.values()])
            e["levels"][lv]["auc"]["value"] = float(np.mean([(a > b) + 0.5 * (a == b) for a in p[y == 1]
                                                             for b in p[y == 0]]))
    return out


def test_leaderboard_ranks_and_marks_significant_differences():
    board = build_board(board_entries(), n_boot=300, seed=1)
    assert [r["label"] for r in board["ranking"]][0] == "good" and board["ranked_levels"] == ["GB:1", "GB:2"]
    assert board["ranking"][0]["mean_perturbed"] == 1.0 and board["ranking"][0]["better_than"] == [2, 3]
    assert board["ranking"][1]["better_than"] == [] and board["ranking"][2]["better_than"] == []
    pairs = {(p["a"], p["b"]): p for p in board["pairs"]}
    tie = next(p for k, p in pairs.items() if "good" not in k)
    assert tie["difference"] == 0.0 and not tie["significant"] and tie["n_videos"] == 40
    assert all(p["significant"] and p["p_holm"] < 0.05 for k, p in pairs.items() if "good" in k)
    assert holm([0.01, 0.04, 0.03]) == [0.03, 0.06, 0.06]


def test_leaderboard_refuses_other_protocols_and_merges_json(tmp_path, capsys):
    entries = board_entries()
    write_json(tmp_path / "a.json", entries[:2])
    write_json(tmp_path / "b.json", entries[2])
    out = tmp_path / "board.json"
    assert cli_main(["leaderboard", str(tmp_path / "a.json"), str(tmp_path / "b.json"), "--out", str(out),
                     "--bootstrap", "100"]) == 0
    assert [r["label"] for r in json.loads(out.read_text())["ranking"]][0] == "good"
    assert len(read_entries(out)) == 3  # a board is read back as its entries
    write_json(tmp_path / "c.json", entry("other", {"none": [0.5, 0.5]}, [0, 1], fingerprint="elsewhere"))
    capsys.readouterr()
    assert cli_main(["leaderboard", str(tmp_path / "a.json"), str(tmp_path / "c.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "dataset_fingerprint" in err[0]
    write_json(tmp_path / "bad.json", {"detector": "x"})
    assert cli_main(["leaderboard", str(tmp_path / "bad.json")]) == 2
    assert "not a leaderboard entry" in capsys.readouterr().err


# ---------------------------------------------------------------- pandas results interface

def test_load_run_gives_typed_scores_and_long_metrics(tmp_path):
    rows = breaking_rows() + [{**row("v5", 1, "none", 0), "score": "", "status": "no_face", "frame_scores": "",
                               "n_frames": 0}]
    write_scores(tmp_path / "scores.csv", rows)
    levels = ["none", "GB:1", "GB:2", "GB:3", "GNC:1"]
    doc = run_metrics(rows, ["d"], levels, n_boot=50)
    assert {"breaking_points", "temporal_stability", "quality"} <= doc.keys()
    write_json(tmp_path / "metrics.json", doc)
    write_json(tmp_path / "manifest.json", {"config": {}, "levels": levels})
    run = benchmarks.load_run(tmp_path)
    scores = run.scores
    assert len(scores) == len(rows) and scores["label"].dtype == int and scores["score"].dtype == float
    assert np.isnan(scores.loc[scores["status"] == "no_face", "score"]).all()
    assert list(scores["frame_scores"].iloc[0]) == [0.9]
    auc = run.metrics.query("metric == 'auc'").set_index("level")["value"]
    assert list(run.metrics.columns) == ["detector", "level", "metric", "value", "lo", "hi"]
    assert auc["none"] == pytest.approx(0.75) and run.manifest["levels"] == levels
    with pytest.raises(FileNotFoundError, match="not a finished run folder"):
        benchmarks.load_run(tmp_path / "nothing")


def test_documents_follow_the_declared_schema():
    from reports.analysis_schema import DetectorBreaking, LevelQuality, StabilityEntry, TypeBreaking, TypeQuality
    levels = ["none", "GB:1", "GB:2", "GB:3", "GNC:1"]
    doc = run_metrics(breaking_rows(), ["d"], levels, n_boot=0)
    d = doc["breaking_points"]["detectors"]["d"]
    assert d.keys() == DetectorBreaking.__annotations__.keys()
    assert d["types"]["GB"].keys() == TypeBreaking.__annotations__.keys()
    for e in doc["temporal_stability"]["entries"]:
        assert StabilityEntry.__required_keys__ <= e.keys() <= StabilityEntry.__annotations__.keys()
    assert doc["quality"]["levels"]["GB:1"].keys() == LevelQuality.__annotations__.keys()
    assert doc["quality"]["detectors"]["d"]["GB"].keys() == TypeQuality.__annotations__.keys()
