"""Parallel face stage: results do not depend on worker count or batch size; Ctrl-C stops the pool cleanly."""
from __future__ import annotations

import json
import multiprocessing

import pytest

from benchmarks import results, runner
from benchmarks.config import RunConfig
from datasets.demo import generate_demo


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("parallel") / "demo"
    generate_demo(root, seed=0, n_train=0, n_test=6, frames=12)
    return root


def config_for(demo, cache, out, **kw) -> RunConfig:
    base = dict(detectors=["meso"], levels=["none", "heavy"], dataset="folder", data_root=str(demo),
                random_init=True, num_frames=4, bootstrap=0, cache_dir=str(cache), out=str(out) if out else None)
    return RunConfig(**{**base, **kw})


def sorted_rows(run_dir) -> list[dict]:
    return sorted(results.read_scores(run_dir), key=lambda r: (r["video_id"], r["detector"], r["level"]))


def assert_same_scores(a, b) -> None:
    """Same rows and statuses; scores equal to float noise (1e-6)."""
    rows_a, rows_b = sorted_rows(a), sorted_rows(b)
    assert [(r["video_id"], r["level"], r["status"], r["frame_indices"], r["params"]) for r in rows_a] == \
        [(r["video_id"], r["level"], r["status"], r["frame_indices"], r["params"]) for r in rows_b]
    for ra, rb in zip(rows_a, rows_b):
        assert float(ra["score"]) == pytest.approx(float(rb["score"]), abs=1e-6), ra["video_id"]
        frames_a, frames_b = (list(map(float, r["frame_scores"].split())) for r in (ra, rb))
        assert frames_a == pytest.approx(frames_b, abs=1e-6)


@pytest.fixture(scope="module")
def baseline(demo, tmp_path_factory):
    base = tmp_path_factory.mktemp("baseline")
    return runner.run(config_for(demo, base / "cache", base / "run", workers=1), progress=False).run_dir


def test_two_workers_give_the_same_scores_as_one(demo, baseline, tmp_path):
    # a cache of its own, so the faces really are extracted in the worker processes
    result = runner.run(config_for(demo, tmp_path / "cache", tmp_path / "run", workers=2), progress=False)
    assert_same_scores(baseline, result.run_dir)
    assert len(results.read_scores(result.run_dir)) == 12
    manifest = json.loads((result.run_dir / "manifest.json").read_text())
    execution = manifest["execution"]
    assert execution["workers"] == 2 and execution["start_method"] in ("forkserver", "spawn")
    assert execution["peak_rss_mb"] > 0 and execution["worker_peak_rss_mb"] > 0 and execution["device"] == "cpu"
    assert not multiprocessing.active_children()  # the pool is gone


def test_batch_size_does_not_change_scores(demo, baseline, tmp_path):
    one = runner.run(config_for(demo, tmp_path / "cache", tmp_path / "b1", batch_size=1), progress=False)
    many = runner.run(config_for(demo, tmp_path / "cache", tmp_path / "b64", batch_size=64), progress=False)
    assert_same_scores(one.run_dir, many.run_dir)
    assert_same_scores(baseline, many.run_dir)


def test_execution_settings_do_not_change_the_fingerprint(demo, tmp_path):
    a = config_for(demo, tmp_path, None)
    b = config_for(demo, tmp_path, None, workers=8, executor="ray", ray_address="auto", device="cpu", batch_size=3)
    assert a.fingerprint() == b.fingerprint()


def test_interrupt_with_workers_stops_the_pool_and_resumes(demo, tmp_path, monkeypatch):
    calls: list[str] = []
    interrupted: list[str] = []
    original = runner.score_video

    def flaky(item, *args, **kwargs):
        calls.append(item.video_id)
        if len(calls) == 3 and not interrupted:
            interrupted.append(item.video_id)
            raise KeyboardInterrupt  # Ctrl-C while the third finished video is being scored
        return original(item, *args, **kwargs)

    monkeypatch.setattr(runner, "score_video", flaky)
    config = config_for(demo, tmp_path / "cache", tmp_path / "run", workers=2)
    with pytest.raises(KeyboardInterrupt):
        runner.run(config, progress=False)
    assert not multiprocessing.active_children()  # workers terminated, nothing left running
    assert len(results.read_scores(tmp_path / "run")) == 2 * 2  # two finished videos survive
    calls.clear()
    result = runner.run(config_for(demo, tmp_path / "cache", tmp_path / "run", workers=2), progress=False)
    assert len(calls) == 4  # only the videos not yet scored
    rows = results.read_scores(result.run_dir)
    assert len(rows) == 12 and len({(r["video_id"], r["level"]) for r in rows}) == 12


def test_unknown_or_absent_device_is_a_clear_error():
    with pytest.raises(runner.RunError, match="device"):
        runner.resolve_device("tpu")
    assert runner.resolve_device("auto").type in ("cuda", "mps", "cpu")
