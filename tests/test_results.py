import json

from reports import run_files as results


def row(video, level="none", status="ok"):
    return {"video_id": video, "label": 1, "split": "test", "detector": "meso", "level": level,
            "score": "0.5", "n_frames": 3, "status": status, "message": "", "frame_scores": "0.5 0.5 0.5"}


def test_rows_are_on_disk_after_each_write(tmp_path):
    path = tmp_path / "scores.csv"
    writer = results.ScoresWriter(path)
    writer.write([row("a")])
    assert [r["video_id"] for r in results.read_scores(path)] == ["a"]  # readable before close
    writer.close()


def test_resume_appends_and_reports_done_keys(tmp_path):
    path = tmp_path / "scores.csv"
    with results.ScoresWriter(path) as w:
        w.write([row("a"), row("a", "heavy")])
    with results.ScoresWriter(path) as w:
        assert w.done_keys() == {("a", "meso", "none"), ("a", "meso", "heavy")}
        w.write([row("b", status="no_face")])
    rows = results.read_scores(path)
    assert [r["video_id"] for r in rows] == ["a", "a", "b"]
    assert rows[2]["status"] == "no_face"


def test_half_written_last_row_is_dropped_on_resume(tmp_path):
    path = tmp_path / "scores.csv"
    with results.ScoresWriter(path) as w:
        w.write([row("a")])
    with path.open("a") as handle:
        handle.write("b,1,test,meso,no")  # killed mid-row
    with results.ScoresWriter(path) as w:
        assert w.done_keys() == {("a", "meso", "none")}
        w.write([row("b")])
    assert [r["video_id"] for r in results.read_scores(path)] == ["a", "b"]


def test_write_json_is_atomic_and_leaves_no_temp_files(tmp_path):
    target = tmp_path / "metrics.json"
    results.write_json(target, {"x": [1, 2]})
    assert json.loads(target.read_text()) == {"x": [1, 2]}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]
