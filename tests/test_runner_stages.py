"""Graded levels end to end: face-stage steps on cached crops, codecs on the video file, --apply-at frame."""
from __future__ import annotations

import json

import pytest

from benchmarks import runner
from benchmarks.config import RunConfig
from datasets.demo import generate_demo
from reports import run_files as results


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("stages") / "demo"
    generate_demo(root, seed=4, n_train=0, n_test=4, frames=12)
    return root


def run(demo, tmp_path, name, **kw):
    config = RunConfig(detectors=["meso"], dataset="folder", data_root=str(demo), random_init=True, num_frames=4,
                       bootstrap=50, cache_dir=str(tmp_path / "cache"), out=str(tmp_path / name), **kw)
    result = runner.run(config, progress=False)
    return result, {(r["video_id"], r["level"]): r for r in results.read_scores(result.run_dir)}


def test_graded_levels_record_their_parameters_and_stages(demo, tmp_path):
    result, rows = run(demo, tmp_path, "graded", levels=["GB:3", "VC:5@video", "DROP:5"])
    assert all(r["status"] == "ok" for r in rows.values()), [r["message"] for r in rows.values()]
    vid = next(iter(rows))[0]
    gb = json.loads(rows[(vid, "GB:3")]["params"])
    assert gb["face"]["steps"][0]["step"] == "GB:3"
    vc = json.loads(rows[(vid, "VC:5@video")]["params"])
    assert vc["video"]["steps"][0]["options"]["crf"] == "40" and "face" not in vc  # re-encoded file, nothing on the crops
    assert rows[(vid, "DROP:5")]["n_frames"] == "2"  # half of the 4 sampled crops dropped
    assert json.loads(rows[(vid, "none")]["params"]) == {}
    manifest = json.loads((result.run_dir / "manifest.json").read_text())
    assert manifest["levels"]["VC:5@video"]["stages"] == ["video"]
    assert manifest["levels"]["GB:3"]["stages"] == ["face"] and manifest["apply_at"] == "face"
    assert manifest["encoders"]["libx264"] is True
    scores = {lvl: float(rows[(vid, lvl)]["score"]) for lvl in ("none", "GB:3", "VC:5@video")}
    assert len(set(scores.values())) == 3  # each level really changed the detector input


def test_apply_at_frame_perturbs_before_face_detection(demo, tmp_path):
    _, face = run(demo, tmp_path, "face", levels=["GB:2"])
    result, frame = run(demo, tmp_path, "frame", levels=["GB:2"], apply_at="frame")
    vid = next(iter(frame))[0]
    assert json.loads(frame[(vid, "GB:2")]["params"])["frame"]["steps"][0]["step"] == "GB:2"
    assert "face" not in json.loads(frame[(vid, "GB:2")]["params"])
    assert frame[(vid, "none")]["score"] == face[(vid, "none")]["score"]  # the clean level is the same protocol
    assert frame[(vid, "GB:2")]["score"] != face[(vid, "GB:2")]["score"]
    assert "before face detection" in (result.run_dir / "report.md").read_text() or \
        json.loads((result.run_dir / "manifest.json").read_text())["apply_at"] == "frame"


def test_levels_file_adds_named_levels(demo, tmp_path, restore_levels):
    levels = tmp_path / "mine.toml"
    levels.write_text('[levels.soft]\ndescription = "light blur then JPEG"\n'
                      'steps = [{ type = "GB", severity = 1 }, { type = "JPEG", quality = 60 }]\n')
    result, rows = run(demo, tmp_path, "custom", levels=["soft"], levels_files=[str(levels)])
    assert {lvl for _, lvl in rows} == {"none", "soft"}
    manifest = json.loads((result.run_dir / "manifest.json").read_text())
    assert str(levels) in manifest["levels_files"]
