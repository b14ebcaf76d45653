"""End-to-end runs on a small generated demo set: outputs, identical pixels, resume, bad videos."""
from __future__ import annotations

import csv
import hashlib
import json
import shutil

import numpy as np
import pytest

from benchmarks import runner
from benchmarks.config import RunConfig, RunError
from benchmarks.inference.batching import BatchScorer
from benchmarks.pipeline.decode import write_video
from datasets.demo import generate_demo
from reports import run_files as results


@pytest.fixture(scope="session")
def small_demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo") / "demo"
    generate_demo(root, seed=0, n_train=2, n_test=6, frames=12)
    return root


@pytest.fixture
def cache_dir(tmp_path_factory):
    return str(tmp_path_factory.getbasetemp() / "face-cache")  # shared across tests: detection runs once per video


def config_for(root, cache_dir, out, **kw) -> RunConfig:
    base = dict(detectors=["meso"], levels=["none", "heavy"], dataset="folder", data_root=str(root), split="test",
                random_init=True, num_frames=6, cache_dir=cache_dir, out=str(out) if out else None)
    base.update(kw)
    return RunConfig(**base)


def test_run_writes_scores_metrics_manifest_and_report(small_demo, cache_dir, tmp_path):
    result = runner.run(config_for(small_demo, cache_dir, tmp_path / "run", levels=["all"]), progress=False)
    rows = results.read_scores(result.run_dir)
    assert len(rows) == 6 * 3
    assert {r["level"] for r in rows} == {"none", "flip", "heavy"}
    assert all(r["status"] == "ok" and 0 <= float(r["score"]) <= 1 and r["n_frames"] == "6" for r in rows)
    for r in rows:
        frames = [float(v) for v in r["frame_scores"].split()]
        assert float(r["score"]) == pytest.approx(np.mean(frames), abs=1e-5)
    metrics = json.loads((result.run_dir / "metrics.json").read_text())["video"]
    assert [(m["detector"], m["level"]) for m in metrics] == [("meso", "none"), ("meso", "flip"), ("meso", "heavy")]
    assert all(m["n_scored"] == 6 and m["n_real"] == 3 and m["n_fake"] == 3 for m in metrics)
    manifest = json.loads((result.run_dir / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["seed"] == 0
    assert manifest["detectors"]["meso"]["format"] == "random-init"
    assert manifest["versions"]["torch"] and manifest["dataset"]["fingerprint"]
    report = (result.run_dir / "report.md").read_text()
    assert "| AUC |" in report and "random initialisation" in report and "heavy" in report
    assert (result.run_dir / "gallery.png").is_file() and "gallery" in report
    assert all(len(r["frame_indices"].split()) == 6 for r in rows)


def test_detectors_see_identical_pixels(small_demo, cache_dir, tmp_path, monkeypatch):
    seen: dict[str, list[str]] = {}
    original = BatchScorer.submit

    def recording(self, video, row, faces, level):
        seen.setdefault(row["detector"], []).append(hashlib.sha256(faces.tobytes()).hexdigest())
        return original(self, video, row, faces, level)

    monkeypatch.setattr(BatchScorer, "submit", recording)
    runner.run(config_for(small_demo, cache_dir, tmp_path / "run", detectors=["meso", "meso4"], levels=["heavy"]),
               progress=False)
    assert seen["meso"] == seen["meso4"] and len(seen["meso"]) == 12
    # and a second run with another seed-independent detector order gives the same pixels again
    seen.clear()
    runner.run(config_for(small_demo, cache_dir, tmp_path / "run2", detectors=["meso4"], levels=["heavy"]),
               progress=False)
    assert len(seen["meso4"]) == 12


def test_perturbed_scores_are_reproducible(small_demo, cache_dir, tmp_path):
    a = runner.run(config_for(small_demo, cache_dir, tmp_path / "a"), progress=False)
    b = runner.run(config_for(small_demo, cache_dir, tmp_path / "b"), progress=False)
    def key(r):
        return (r["video_id"], r["level"])
    assert sorted((key(r), r["score"]) for r in results.read_scores(a.run_dir)) == \
        sorted((key(r), r["score"]) for r in results.read_scores(b.run_dir))
    c = runner.run(config_for(small_demo, cache_dir, tmp_path / "c", seed=5), progress=False)
    def heavy(d):
        return {r["video_id"]: r["score"] for r in results.read_scores(d) if r["level"] == "heavy"}
    assert heavy(a.run_dir) != heavy(c.run_dir)


def test_interrupted_run_resumes_without_redoing_work(small_demo, cache_dir, tmp_path, monkeypatch):
    runs_dir = tmp_path / "runs"
    config = config_for(small_demo, cache_dir, None, batch_size=3)  # batches end within each video and level
    calls, interrupted = [], []
    original = runner.queue_video

    def flaky(item, *args, **kwargs):
        calls.append(item.video_id)
        if len(calls) == 3 and not interrupted:
            interrupted.append(item.video_id)
            raise KeyboardInterrupt  # as if the user pressed Ctrl-C during the third video
        return original(item, *args, **kwargs)

    monkeypatch.setattr(runner, "queue_video", flaky)
    with pytest.raises(KeyboardInterrupt):
        runner.run(config, progress=False, runs_dir=runs_dir)
    (run_dir,) = runs_dir.iterdir()
    assert json.loads((run_dir / "manifest.json").read_text())["status"] == "incomplete"
    assert len(results.read_scores(run_dir)) == 2 * 2  # two finished videos x two levels survive
    calls.clear()
    result = runner.run(config_for(small_demo, cache_dir, None), progress=False, runs_dir=runs_dir)
    assert result.run_dir == run_dir  # the same command resumed the unfinished folder
    assert len(calls) == 4  # only the four videos not yet scored
    rows = results.read_scores(run_dir)
    assert len(rows) == 12 and len({(r["video_id"], r["level"]) for r in rows}) == 12
    # a finished run is not resumed: the same command starts a new folder
    again = runner.run(config_for(small_demo, cache_dir, None), progress=False, runs_dir=runs_dir)
    assert again.run_dir != run_dir


def test_bad_videos_are_recorded_and_reported(small_demo, cache_dir, tmp_path):
    data = tmp_path / "data"
    (data / "real").mkdir(parents=True)
    (data / "fake").mkdir()
    with (small_demo / "manifest.csv").open() as handle:
        good = [r for r in csv.DictReader(handle) if r["split"] == "test"][:2]
    for r in good:
        shutil.copy(small_demo / r["path"], data / r["label"] / f"good_{r['path'].split('/')[-1]}")
    (data / "fake" / "corrupt.mp4").write_bytes(np.random.default_rng(0).bytes(5000))
    (data / "real" / "empty.mp4").write_bytes(b"")
    rng = np.random.default_rng(1)
    write_video(data / "fake" / "noface.mp4", rng.integers(0, 40, (8, 96, 128, 3), dtype=np.uint8), fps=8)
    result = runner.run(config_for(data, cache_dir, tmp_path / "run"), progress=False)
    rows = {(r["video_id"], r["level"]): r for r in results.read_scores(result.run_dir)}
    assert len(rows) == 5 * 2
    assert rows[("fake/corrupt", "none")]["status"] == "unreadable"
    assert rows[("real/empty", "heavy")]["status"] in ("unreadable", "no_frames")
    assert rows[("fake/noface", "none")]["status"] == "no_face"
    metrics = json.loads((result.run_dir / "metrics.json").read_text())["video"]
    assert all(m["n_scored"] == 2 and m["n_skipped"] == 3 for m in metrics)
    report = (result.run_dir / "report.md").read_text()
    assert "3 videos could not be scored" in report
    for vid in ("fake/corrupt", "real/empty", "fake/noface"):
        assert vid in report


def test_missing_weights_is_a_clear_error(small_demo, cache_dir, tmp_path):
    import detectors
    with pytest.raises(detectors.CheckpointError, match="--weights"):
        runner.run(config_for(small_demo, cache_dir, tmp_path / "run", random_init=False), progress=False)


def test_out_folder_of_another_configuration_is_refused(small_demo, cache_dir, tmp_path):
    runner.run(config_for(small_demo, cache_dir, tmp_path / "run"), progress=False)
    with pytest.raises(RunError, match="different configuration"):
        runner.run(config_for(small_demo, cache_dir, tmp_path / "run", seed=9), progress=False)


def test_worker_side_modules_and_the_cli_parser_do_not_import_sklearn():
    """Scoring workers and the forkserver import the execution jobs, and every command builds the whole parser;
    sklearn (0.6 s) is for metrics at the end."""
    import subprocess
    import sys
    code = ("import sys, benchmarks.execution.jobs, benchmarks.execution.actors, benchmarks.cli as m; "
            "m.build_parser(); assert 'sklearn' not in sys.modules, 'sklearn imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_precision_is_part_of_the_run_identity_but_fp32_keeps_older_fingerprints():
    base = RunConfig(detectors=["meso"])
    assert base.fingerprint() == RunConfig(detectors=["meso"], precision="fp32").fingerprint()
    assert base.fingerprint() != RunConfig(detectors=["meso"], precision="bf16").fingerprint()
    legacy = base.to_dict()
    del legacy["precision"], legacy["actors"]  # a manifest written before these options existed
    assert RunConfig.from_dict(legacy).fingerprint() == base.fingerprint()
