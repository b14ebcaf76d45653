"""The Ray executor gives the same scores as the local one (skipped when Ray is not installed)."""
from __future__ import annotations

import json
import sys

import pytest

from benchmarks import runner
from benchmarks.executors import RAY_MISSING, RayExecutor
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
