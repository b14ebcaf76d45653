"""Parallel face stage: results do not depend on worker count or batch size; Ctrl-C stops the pool cleanly."""
from __future__ import annotations

import json
import multiprocessing

import pytest

from benchmarks import runner
from benchmarks.config import FaceSettings, RunConfig, RunError
from benchmarks.execution import placement
from benchmarks.inference import device
from benchmarks.inference.models import load_detectors
from benchmarks.pipeline.video_rows import score_video
from datasets.demo import generate_demo
from reports import run_files as results


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


def test_batches_across_videos_equal_per_video_batching(demo, baseline, tmp_path, monkeypatch):
    """Batches of 5 straddle (video, level) segments of 4 frames; 64 holds all 48 frames of the run. Every
    row must equal scoring each video and level on its own (`score_video` with batches of the 4 frames, as
    before batching across videos), and the buffer stays below one batch."""

    import datasets
    import perturbations
    from benchmarks.pipeline.face_cache import FaceCache

    buffered: list[int] = []
    original = runner.queue_video

    def watching(item, crops, todo, scorer, *args, **kwargs):
        original(item, crops, todo, scorer, *args, **kwargs)
        buffered.append(scorer.buffered_frames)

    monkeypatch.setattr(runner, "queue_video", watching)
    for batch_size in (5, 64):
        config = config_for(demo, tmp_path / "cache", tmp_path / f"b{batch_size}", batch_size=batch_size)
        result = runner.run(config, progress=False)
        assert_same_scores(baseline, result.run_dir)
        assert buffered and max(buffered) < batch_size
        buffered.clear()
        cache, models = FaceCache(tmp_path / "cache"), load_detectors(config.detector_settings())
        levels = {name: perturbations.get(name) for name in config.levels}
        todo = [("meso", lvl) for lvl in config.levels]
        rows = {(r["video_id"], r["level"]): r for r in results.read_scores(result.run_dir)}
        for item in datasets.open("folder", str(demo), split="test"):
            crops = cache.get_or_extract(item.path, config.num_frames, config.faces)
            for alone in score_video(item, crops, todo, models, config.video_settings(), levels,
                                     batch_size=config.num_frames, aggregate=config.aggregate, cache=cache):
                row = rows[item.video_id, alone["level"]]
                assert float(row["score"]) == pytest.approx(float(alone["score"]), abs=1e-6)
                assert list(map(float, row["frame_scores"].split())) == \
                    pytest.approx(list(map(float, alone["frame_scores"].split())), abs=1e-6)
                assert (row["params"], row["frame_indices"]) == (alone["params"], alone["frame_indices"])


@pytest.mark.parametrize("levels", [["none", "heavy"], ["none", "VC:3@video"]])
def test_scoring_whole_videos_in_workers_equals_scoring_in_the_main_process(demo, tmp_path, levels):
    """Each worker perturbs and scores its own videos (re-encoding and re-detecting for a video-stage level)."""
    main = runner.run(config_for(demo, tmp_path / "cache", tmp_path / "main", levels=levels, workers=2,
                                 score_in="main"), progress=False)
    workers = runner.run(config_for(demo, tmp_path / "cache2", tmp_path / "workers", levels=levels, workers=2,
                                    score_in="workers"), progress=False)
    assert_same_scores(main.run_dir, workers.run_dir)
    execution = json.loads((workers.run_dir / "manifest.json").read_text())["execution"]
    assert execution["score_in"] == "workers" and execution["worker_peak_rss_mb"] > 0
    timing = json.loads((workers.run_dir / results.TIMING_FILE).read_text())
    for level in levels:  # the workers' per-level timing reaches timing.json
        assert timing["levels"][level]["videos"] == 6 and timing["levels"][level]["detectors"]["meso"]["frames"] == 24
    assert not multiprocessing.active_children()


def test_interrupt_while_workers_score_keeps_written_videos_and_resumes(demo, baseline, tmp_path, monkeypatch):
    written: list[int] = []
    original = results.ScoresWriter.write

    def flaky(self, rows):
        rows = list(rows)
        if len(written) == 2:
            raise KeyboardInterrupt  # Ctrl-C as the third video's rows arrive
        written.append(len(rows))
        return original(self, rows)

    monkeypatch.setattr(results.ScoresWriter, "write", flaky)
    config = config_for(demo, tmp_path / "cache", tmp_path / "run", workers=2, score_in="workers")
    with pytest.raises(KeyboardInterrupt):
        runner.run(config, progress=False)
    assert not multiprocessing.active_children()
    assert len(results.read_scores(tmp_path / "run")) == 2 * 2
    monkeypatch.setattr(results.ScoresWriter, "write", original)
    result = runner.run(config, progress=False)
    assert_same_scores(baseline, result.run_dir)


def test_where_scoring_happens():
    import torch
    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    assert placement.scoring_place(RunConfig(workers=2), cpu) == "workers"
    assert placement.scoring_place(RunConfig(workers=1), cpu) == "main"  # nothing to share the work with
    assert placement.scoring_place(RunConfig(workers=1, executor="ray"), cpu) == "workers"
    assert placement.scoring_place(RunConfig(workers=2), gpu) == "main"  # one process owns the GPU
    assert placement.scoring_place(RunConfig(workers=2, score_in="main"), cpu) == "main"
    with pytest.raises(RunError, match="--score-in main"):
        placement.scoring_place(RunConfig(workers=2, score_in="workers"), gpu)


def test_execution_settings_do_not_change_the_fingerprint(demo, tmp_path):
    a = config_for(demo, tmp_path, None)
    b = config_for(demo, tmp_path, None, workers=8, executor="ray", ray_address="auto", device="cpu", batch_size=3,
                   score_in="main", score_cache=False, actors=2, cache_perturbed=True)
    assert a.fingerprint() == b.fingerprint()


def test_interrupt_with_workers_stops_the_pool_and_resumes(demo, tmp_path, monkeypatch):
    calls: list[str] = []
    interrupted: list[str] = []
    original = runner.queue_video

    def flaky(item, *args, **kwargs):
        calls.append(item.video_id)
        if len(calls) == 3 and not interrupted:
            interrupted.append(item.video_id)
            raise KeyboardInterrupt  # Ctrl-C while the third finished video is being scored
        return original(item, *args, **kwargs)

    monkeypatch.setattr(runner, "queue_video", flaky)
    # batches of 4 = one (video, level): each video is fully scored before the next arrives
    config = config_for(demo, tmp_path / "cache", tmp_path / "run", workers=2, batch_size=4, score_in="main")
    with pytest.raises(KeyboardInterrupt):
        runner.run(config, progress=False)
    assert not multiprocessing.active_children()  # workers terminated, nothing left running
    assert len(results.read_scores(tmp_path / "run")) == 2 * 2  # two finished videos survive
    calls.clear()
    result = runner.run(config_for(demo, tmp_path / "cache", tmp_path / "run", workers=2, score_in="main"),
                        progress=False)
    assert len(calls) == 4  # only the videos not yet scored
    rows = results.read_scores(result.run_dir)
    assert len(rows) == 12 and len({(r["video_id"], r["level"]) for r in rows}) == 12


def test_interrupt_drops_buffered_videos_and_resume_redoes_them(demo, baseline, tmp_path, monkeypatch):
    """Batches of 64 hold several videos: an interrupt loses those not fully scored, never a written one."""
    calls: list[str] = []
    original = runner.queue_video

    def flaky(item, *args, **kwargs):
        calls.append(item.video_id)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return original(item, *args, **kwargs)

    monkeypatch.setattr(runner, "queue_video", flaky)
    with pytest.raises(KeyboardInterrupt):
        runner.run(config_for(demo, tmp_path / "cache", tmp_path / "run", batch_size=20), progress=False)
    # videos 1-3 gave 24 frames: one batch of 20 scored videos 1-2 (16 frames) and half of video 3
    rows = results.read_scores(tmp_path / "run")
    assert len(rows) == 2 * 2 and all(r["status"] == "ok" and r["score"] for r in rows)
    monkeypatch.setattr(runner, "queue_video", original)
    result = runner.run(config_for(demo, tmp_path / "cache", tmp_path / "run", batch_size=20), progress=False)
    assert_same_scores(baseline, result.run_dir)


def test_batch_size_defaults_by_device():
    import torch
    assert device.batch_size_for(None, torch.device("cpu")) == device.CPU_BATCH
    assert device.batch_size_for(None, torch.device("cuda")) == device.GPU_BATCH
    assert device.batch_size_for(3, torch.device("cpu")) == 3
    with pytest.raises(RunError, match="--batch-size"):
        device.batch_size_for(0, torch.device("cpu"))


def test_scoring_uses_one_thread_only_while_workers_extract_on_every_core():
    import torch

    from benchmarks.execution.face_jobs import FaceStageStats
    from benchmarks.execution.local import InProcessExecutor, PoolExecutor, default_workers
    default = torch.get_num_threads()
    pool = PoolExecutor(default_workers())
    threads = runner.InferenceThreads(pool)
    try:
        threads.update()  # no job yet: extraction is about to start
        assert torch.get_num_threads() == (1 if threads.shared else default)
        pool.stats = FaceStageStats(last_hit=True)
        threads.update()  # faces come from the cache: the workers idle
        assert torch.get_num_threads() == default
        threads.update(extracting=True)
        threads.restore()
        assert torch.get_num_threads() == default
        single = runner.InferenceThreads(InProcessExecutor(FaceSettings()))
        single.update(extracting=True)
        assert not single.shared and torch.get_num_threads() == default
    finally:
        torch.set_num_threads(default)


def test_unknown_or_absent_device_is_a_clear_error():
    with pytest.raises(RunError, match="device"):
        device.resolve_device("tpu")
    assert device.resolve_device("auto").type in ("cuda", "mps", "cpu")


def test_mixed_precision_is_close_to_fp32_and_recorded(demo, tmp_path, baseline):
    """--precision bf16 (torch.autocast on the CPU here): the same rows, scores near fp32's but not equal to them
    (so autocast did run, through MesoNet's own oneDNN path too), and the run's identity says bf16."""
    import torch
    mixed = runner.run(config_for(demo, tmp_path / "cache", tmp_path / "bf16", workers=1, precision="bf16"),
                       progress=False)
    rows_a, rows_b = sorted_rows(baseline), sorted_rows(mixed.run_dir)
    assert [(r["video_id"], r["level"], r["status"]) for r in rows_a] == \
        [(r["video_id"], r["level"], r["status"]) for r in rows_b]
    gaps = [abs(float(a["score"]) - float(b["score"])) for a, b in zip(rows_a, rows_b) if a["status"] == "ok"]
    assert max(gaps) < 0.05 and max(gaps) > 1e-6
    assert json.loads((mixed.run_dir / "manifest.json").read_text())["config"]["precision"] == "bf16"
    with pytest.raises(RunError, match="unknown --precision"):
        device.check_precision(torch.device("cpu"), "int8")


def test_closing_a_pool_ends_its_manager_thread_even_with_half_a_result_in_the_pipe():
    """A worker stopped while it sends a result leaves half a message in the pool's result pipe; the pool's manager
    thread then waits for the rest, and the interpreter hangs at exit joining it (a full test run hung so after an
    interrupt test). `close()` must let that thread end."""
    import os
    import struct
    import time

    from benchmarks.execution.local import PoolExecutor
    pool = PoolExecutor(1)
    executor = pool._start()  # the stdlib pool inside: the test plays the dying worker on its pipe
    executor.submit(time.sleep, 30)  # a worker busy for the whole test, and the manager thread running
    manager, writer = executor._executor_manager_thread, executor._result_queue._writer
    os.write(writer.fileno(), struct.pack("!i", 1000) + b"x" * 10)  # a 1000-byte message cut after 10 bytes
    try:
        pool.close()
        manager.join(timeout=10)
        assert not manager.is_alive(), "the pool's manager thread still waits for the rest of the message"
    finally:
        if manager.is_alive():  # let it finish anyway, so a failure here does not hang the test session
            os.write(writer.fileno(), b"x" * 990)
            manager.join(timeout=10)
