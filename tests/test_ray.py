"""The Ray executor gives the same scores as the local one (skipped when Ray is not installed)."""
from __future__ import annotations

import json
import os
import sys

import pytest
import torch

import detectors
from benchmarks import runner
from benchmarks.config import RunConfig, RunError
from benchmarks.execution import placement
from benchmarks.execution.ray_cluster import RAY_MISSING, RayExecutor
from reports import run_files as results
from tests.test_parallel import assert_same_scores, config_for, demo  # noqa: F401 (fixture)


def test_local_and_ray_give_the_same_scores(demo, tmp_path):
    ray = pytest.importorskip("ray", reason="ray not installed (pip install -e '.[ray]')")
    local = runner.run(config_for(demo, tmp_path / "cache-local", tmp_path / "local", workers=1), progress=False)
    try:
        # a fresh cache: the faces are extracted by Ray tasks; the local instance gets 2 CPUs
        remote = runner.run(config_for(demo, tmp_path / "cache-ray", tmp_path / "ray", workers=2, executor="ray"),
                            progress=False)
    finally:
        if ray.is_initialized():
            ray.shutdown()
    assert_same_scores(local.run_dir, remote.run_dir)
    assert not ray.is_initialized()  # the executor shut down the instance it started
    assert any((tmp_path / "cache-ray" / "faces").rglob("*.npz"))  # written by the workers
    execution = json.loads((remote.run_dir / "manifest.json").read_text())["execution"]
    assert execution["executor"] == "ray" and execution["score_in"] == "workers"  # perturbed and scored in Ray tasks


def test_missing_ray_is_a_one_line_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(RuntimeError, match=r"pip install -e \"\.\[ray\]\""):
        next(RayExecutor(num_cpus=1).map([]))
    assert "\n" not in RAY_MISSING


def test_ray_inference_actors_give_the_same_scores(demo, tmp_path):
    """`--score-in actors`: Ray tasks perturb, Ray actors hold the detectors and score (on the CPU here; on a
    cluster with GPUs, one actor per GPU)."""
    ray = pytest.importorskip("ray", reason="ray not installed (pip install -e '.[ray]')")
    weights = dict(weights={"meso": str(detectors.default_weights("meso"))}, random_init=False)  # cacheable scores
    local = runner.run(config_for(demo, tmp_path / "cache-local", tmp_path / "local", workers=1, **weights),
                       progress=False)
    try:
        # 3 logical CPUs on a local instance: 2 held by the actors, 1 for the tasks that prepare videos
        remote = runner.run(config_for(demo, tmp_path / "cache-ray", tmp_path / "ray", workers=3, executor="ray",
                                       score_in="actors", actors=2, device="cpu", **weights), progress=False)
    finally:
        if ray.is_initialized():
            ray.shutdown()
    assert_same_scores(local.run_dir, remote.run_dir)
    assert not ray.is_initialized()
    execution = json.loads((remote.run_dir / "manifest.json").read_text())["execution"]
    assert execution["score_in"] == "actors"
    actors = execution["inference_actors"]
    assert [a["device"] for a in actors] == ["cpu", "cpu"]
    assert len({a["pid"] for a in actors} | {os.getpid()}) == 3  # two actor processes, neither of them this one
    # the score cache is written by the actor: a second run reuses every row
    again = runner.run(config_for(demo, tmp_path / "cache-ray", tmp_path / "again", workers=1, **weights),
                       progress=False)
    timing = json.loads((again.run_dir / "timing.json").read_text())
    assert_same_scores(local.run_dir, again.run_dir)
    reused = sum(d["reused"] for level in timing["levels"].values() for d in level["detectors"].values())
    assert reused == sum(r["status"] == "ok" for r in results.read_scores(again.run_dir)) > 0


def test_actors_need_ray_and_count_gpus():
    from benchmarks.execution.actors import actor_count
    with pytest.raises(RunError, match="--executor ray"):
        placement.scoring_place(RunConfig(detectors=["meso"], score_in="actors"), torch.device("cpu"))
    assert placement.scoring_place(RunConfig(detectors=["meso"], executor="ray"), torch.device("cuda")) == "actors"
    assert actor_count(0, "cuda", 4.0, 2.0) == 4 and actor_count(2, "cuda", 4.0, 2.0) == 2
    assert actor_count(0, "cpu", 0.0, 2.0) == 1 and actor_count(3, "cpu", 0.0, 8.0) == 3
    with pytest.raises(ValueError, match="no GPUs"):
        actor_count(0, "cuda", 0.0, 8.0)
    with pytest.raises(ValueError, match="leave none to prepare videos"):  # a CPU actor holds its CPU: no deadlock
        actor_count(0, "cpu", 0.0, 1.0)


def test_an_address_where_nothing_listens_is_a_one_line_error_at_once():
    import socket

    from benchmarks.execution.ray_cluster import check_reachable as _check_reachable
    with socket.socket() as probe:  # a port that was free a moment ago and is closed now
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(RuntimeError, match=rf"no Ray cluster at --ray-address 127.0.0.1:{port}") as error:
        _check_reachable(f"127.0.0.1:{port}", timeout=2.0)
    assert "\n" not in str(error.value)
    _check_reachable("auto")  # left to Ray
    _check_reachable("ray://head:10001")


def test_a_local_run_interrupted_resumes_on_ray_actors(demo, tmp_path, monkeypatch):
    """Resume works across executors: the run folder is the same whatever scores the rest."""
    ray = pytest.importorskip("ray", reason="ray not installed (pip install -e '.[ray]')")
    complete = runner.run(config_for(demo, tmp_path / "cache", tmp_path / "complete", workers=1), progress=False)
    written: list[int] = []
    original = results.ScoresWriter.write

    def flaky(self, rows):
        if len(written) == 2:
            raise KeyboardInterrupt  # Ctrl-C as the third video's rows arrive
        written.append(1)
        return original(self, rows)

    monkeypatch.setattr(results.ScoresWriter, "write", flaky)
    with pytest.raises(KeyboardInterrupt):
        runner.run(config_for(demo, tmp_path / "cache", tmp_path / "run", workers=1), progress=False)
    assert len(results.read_scores(tmp_path / "run")) == 2 * 2
    monkeypatch.setattr(results.ScoresWriter, "write", original)
    try:
        resumed = runner.run(config_for(demo, tmp_path / "cache", tmp_path / "run", workers=3, executor="ray",
                                        score_in="actors", device="cpu"), progress=False)
    finally:
        if ray.is_initialized():
            ray.shutdown()
    assert resumed.run_dir == tmp_path / "run"
    assert_same_scores(complete.run_dir, resumed.run_dir)  # every video once, same scores
    sessions = json.loads((resumed.run_dir / "timing.json").read_text())["sessions"]
    assert [s["videos"] for s in sessions] == [6, 4] and sessions[1]["executor"] == "ray"
