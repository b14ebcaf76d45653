"""`baseline` / `check`: passes on an unchanged run, fails on degraded scores or a missing level, 2 on bad input."""
from __future__ import annotations

import csv
import json

import pytest

from benchmarks.cli import main
from tests.test_reports import make_run

LEVELS = ("none", "heavy")


@pytest.fixture
def baseline(tmp_path):
    run = make_run(tmp_path / "base", detectors=("meso",), levels=LEVELS, n=60, n_boot=0)
    path = tmp_path / "baseline.json"
    assert main(["baseline", str(run), "--out", str(path)]) == 0
    return path


def _rewrite(run, change) -> None:
    path = run / "scores.csv"
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    rows = [r2 for r in rows if (r2 := change(r)) is not None]
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_baseline_holds_metrics_and_per_video_scores(baseline):
    data = json.loads(baseline.read_text())
    entry = data["detectors"]["meso"]["heavy"]
    assert entry["n_scored"] == 59 and len(entry["videos"]) == 59 and 0 <= entry["auc"] <= 1


def test_check_passes_on_an_unchanged_run(baseline, tmp_path, capsys, monkeypatch):
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    assert main(["check", str(tmp_path / "base"), "--baseline", str(baseline)]) == 0
    out = capsys.readouterr().out
    assert "| detector | level | metric | baseline | now | change | verdict |" in out and "passed" in out
    assert summary.read_text().strip() == out.strip()
    assert main(["check", str(tmp_path / "base"), "--baseline", str(baseline), "--significant",
                 "--resamples", "200"]) == 0


def _degrade(row):
    if row["label"] == "1" and row["status"] == "ok" and row["level"] == "heavy":
        row["score"] = repr(float(row["score"]) - 0.3)
    return row


@pytest.mark.parametrize("flags", [[], ["--max-relative-drop", "0.05"], ["--significant", "--resamples", "200"]])
def test_check_fails_when_fake_scores_are_lowered(baseline, tmp_path, capsys, flags):
    _rewrite(tmp_path / "base", _degrade)
    assert main(["check", str(tmp_path / "base"), "--baseline", str(baseline), *flags]) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out and "| meso | heavy | auc |" in out and "**FAIL**" in out
    assert "| meso | none | auc |" in out.split("**FAIL**")[0] or "none | auc" in out


def test_check_fails_when_a_level_is_missing(baseline, tmp_path, capsys):
    _rewrite(tmp_path / "base", lambda r: None if r["level"] == "heavy" else r)
    assert main(["check", str(tmp_path / "base"), "--baseline", str(baseline)]) == 1
    assert "level missing from the run" in capsys.readouterr().out
    assert main(["check", str(tmp_path / "base"), "--baseline", str(baseline), "--levels", "none"]) == 0


def test_bad_input_exits_2(baseline, tmp_path):
    assert main(["check", str(tmp_path / "nope"), "--baseline", str(baseline)]) == 2
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert main(["check", str(tmp_path / "base"), "--baseline", str(bad)]) == 2
    assert main(["check", str(tmp_path / "base"), "--baseline", str(baseline), "--metrics", "auc,nope"]) == 2


def test_two_sided_check_catches_a_perturbation_that_stopped_perturbing(tmp_path):
    """If `heavy` silently became the identity, heavy AUC would jump up: a one-sided gate passes, two-sided fails."""
    import csv
    import json as _json

    from benchmarks.cli import main

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    rows = []
    for i in range(20):
        label = i % 2
        for level, score in (("none", 0.9 if label else 0.1), ("heavy", 0.3 + 0.02 * i)):
            rows.append({"video_id": f"v{i}", "label": label, "split": "test", "detector": "meso", "level": level,
                         "score": score, "n_frames": 1, "status": "ok", "message": "", "frame_scores": str(score),
                         "groups": "", "params": ""})
    with (run_dir / "scores.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    (run_dir / "manifest.json").write_text(_json.dumps({"config": {"detectors": ["meso"]},
                                                        "levels": {"none": {}, "heavy": {}}}))
    assert main(["baseline", str(run_dir), "--out", str(tmp_path / "base.json")]) == 0
    for row in rows:  # heavy now leaves the video unchanged
        if row["level"] == "heavy":
            row["score"] = row["frame_scores"] = 0.9 if row["label"] else 0.1
    with (run_dir / "scores.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    assert main(["check", str(run_dir), "--baseline", str(tmp_path / "base.json")]) == 0
    assert main(["check", str(run_dir), "--baseline", str(tmp_path / "base.json"), "--two-sided"]) == 1
