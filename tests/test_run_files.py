"""The run folder contract (reports/run_files.py): scores.csv round trip and the typed shapes."""
import json
import subprocess
import sys
import typing

import pytest

from reports import run_files
from reports.run_files import OPTIONAL_COLUMNS, SCORE_COLUMNS, ScoreRow, ScoresWriter, read_scores
from tests.conftest import PROJECT_ROOT


def row(video, level="none", status="ok"):
    return {"video_id": video, "label": 1, "split": "test", "detector": "meso", "level": level, "score": "0.25",
            "n_frames": 3, "status": status, "message": "", "frame_scores": "0.25 0.25 0.25",
            "groups": json.dumps({"source": "a"}), "params": "", "frame_indices": "0 1 2"}


def test_round_trip_drops_a_partial_last_line(tmp_path):
    path = tmp_path / run_files.SCORES_FILE
    with ScoresWriter(path) as w:
        w.write([row("a"), row("a", "heavy", "no_face")])
    with path.open("a", encoding="utf-8") as handle:
        handle.write("b,1,test,meso,no")  # a run killed mid-row
    with pytest.raises(ValueError, match=r"scores.csv:4: unterminated last line"):
        read_scores(path)  # reports and the gate refuse half a row
    assert [r["video_id"] for r in read_scores(path, unterminated="drop")] == ["a", "a"]  # a resume drops it
    with ScoresWriter(path) as w:  # resuming cuts the half row
        assert w.done_keys() == {("a", "meso", "none"), ("a", "meso", "heavy")}
        w.write([row("c")])
    rows = read_scores(tmp_path)  # the run folder works too
    assert [r["video_id"] for r in rows] == ["a", "a", "c"]
    assert rows[0] == {k: str(v) for k, v in row("a").items()}  # everything comes back as str
    assert rows[1]["status"] == "no_face" and list(rows[0]) == list(SCORE_COLUMNS)


def test_read_scores_refuses_foreign_csv_and_allows_missing_optional_columns(tmp_path):
    old = [c for c in SCORE_COLUMNS if c not in OPTIONAL_COLUMNS]
    values = {"label": "1", "score": "0.5", "n_frames": "2", "status": "ok", "frame_scores": "0.5 0.5", "groups": ""}
    (tmp_path / "old.csv").write_text(",".join(old) + "\n" + ",".join(values.get(c, "x") for c in old) + "\n")
    assert read_scores(tmp_path / "old.csv")[0]["video_id"] == "x"
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="missing columns: video_id"):
        read_scores(tmp_path / "other.csv")
    assert read_scores(tmp_path / "absent.csv") == []


def test_score_row_keys_are_the_columns():
    assert tuple(typing.get_type_hints(ScoreRow)) == SCORE_COLUMNS
    assert ScoreRow.__optional_keys__ == frozenset(OPTIONAL_COLUMNS)
    assert all(t is str for t in typing.get_type_hints(ScoreRow).values())


def test_write_json_is_atomic_and_read_json_reads_it(tmp_path):
    target = tmp_path / run_files.METRICS_FILE
    run_files.write_json(target, {"video": [], "path": tmp_path})
    assert run_files.read_json(target) == {"video": [], "path": str(tmp_path)}
    assert [p.name for p in tmp_path.iterdir()] == [run_files.METRICS_FILE]


def test_load_run_names_the_missing_files(tmp_path):
    run_files.write_json(tmp_path / run_files.MANIFEST_FILE, {})
    with pytest.raises(FileNotFoundError, match="missing metrics.json, scores.csv"):
        run_files.load_run(tmp_path)


def test_the_contract_is_cheap_to_import():
    """benchmarks writes every run through run_files: importing it must not pull in matplotlib or markdown."""
    code = ("import sys, reports.run_files, reports; reports.load_run; "
            "assert 'matplotlib' not in sys.modules and 'markdown' not in sys.modules; "
            "from reports import write_report, render, FORMATS; assert 'matplotlib' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=PROJECT_ROOT)
