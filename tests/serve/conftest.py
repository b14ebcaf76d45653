"""A small real run for the web app's tests: a generated demo set (8 test videos of 8 frames, 4 sampled) scored by `meso` with
its demo weights at `none` and `GB:3`, made once per session (about 15 s on 2 cores)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import detectors
from benchmarks import runner
from benchmarks.config import RunConfig
from datasets.demo import generate_demo

LEVELS = ["none", "GB:3"]


@pytest.fixture(scope="session")
def serve_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("serve-cache")


@pytest.fixture(scope="session")
def serve_demo(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("serve-demo") / "demo"
    return generate_demo(root, seed=0, n_train=0, n_test=8, frames=8)


@pytest.fixture(scope="session")
def serve_run(tmp_path_factory, serve_demo, serve_cache) -> Path:
    """A finished run folder (scores.csv, metrics.json, manifest.json, report.md with figures, videos.jsonl)."""
    out = tmp_path_factory.mktemp("serve-runs") / "demo-meso"
    config = RunConfig(detectors=["meso"], levels=LEVELS, dataset="folder", data_root=str(serve_demo), split="test",
                       weights={"meso": str(detectors.default_weights("meso"))}, num_frames=4,
                       cache_dir=str(serve_cache), out=str(out), workers=1)
    return runner.run(config, progress=False).run_dir


@pytest.fixture
def run_copy(serve_run, tmp_path) -> Path:
    """A copy of the run to damage or extend."""
    copy = tmp_path / "runs" / "copy"
    shutil.copytree(serve_run, copy)
    return copy
