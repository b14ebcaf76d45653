"""Cost accounting: timing.json in the run folder (face stage, per level perturbation and inference), resumed
runs add to it, and the report shows it as a Cost table. Values are checked for presence and consistency only;
speed is measured by `tools.bench_throughput`, never here."""
from __future__ import annotations

import json

import pytest

from benchmarks import runner
from benchmarks.config import RunConfig
from benchmarks.run_folder.timing import TIMING_SCHEMA
from datasets.demo import generate_demo
from reports import run_files as results
from reports.tables import cost_table

N_VIDEOS, N_FRAMES = 4, 4


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("timing") / "demo"
    generate_demo(root, seed=3, n_train=0, n_test=N_VIDEOS, frames=12)
    return root


def config_for(demo, cache, out, **kw) -> RunConfig:
    base = dict(detectors=["meso", "meso4"], levels=["none", "flip", "GB:2"], dataset="folder",
                data_root=str(demo), random_init=True, num_frames=N_FRAMES, bootstrap=0, batch_size=5,
                cache_dir=str(cache), out=str(out))
    return RunConfig(**{**base, **kw})


def timing_of(run_dir) -> dict:
    return json.loads((run_dir / results.TIMING_FILE).read_text())


def numbers(data):
    """Every number in a nested dict/list."""
    if isinstance(data, dict):
        return [n for v in data.values() for n in numbers(v)]
    if isinstance(data, list):
        return [n for v in data for n in numbers(v)]
    return [data] if isinstance(data, (int, float)) and not isinstance(data, bool) else []


def assert_levels_complete(timing: dict, videos: int) -> None:
    assert list(timing["levels"]) == ["none", "flip", "GB:2"]
    for level, entry in timing["levels"].items():
        assert entry["videos"] == videos, level
        assert entry["perturb_seconds"] >= 0
        assert set(entry["detectors"]) == {"meso", "meso4"}
        for det in entry["detectors"].values():
            assert det["frames"] == videos * N_FRAMES and det["seconds"] > 0


def test_a_run_records_where_its_time_went(demo, tmp_path):
    first = runner.run(config_for(demo, tmp_path / "cache", tmp_path / "first"), progress=False)
    timing = timing_of(first.run_dir)
    assert timing["schema"] == TIMING_SCHEMA and len(timing["sessions"]) == 1
    assert all(n >= 0 for n in numbers(timing))
    faces = timing["faces"]
    assert faces["jobs"] == faces["extracted"] == N_VIDEOS and faces["cache_hits"] == 0  # a fresh cache
    assert faces["extract_seconds"] > 0 and faces["cache_seconds"] == 0
    assert faces["wall_seconds"] >= faces["wait_seconds"] > 0  # --workers 1: the wait is the extraction
    assert_levels_complete(timing, N_VIDEOS)
    assert timing["wall_seconds"] >= faces["wait_seconds"] and timing["finish_seconds"] >= 0
    session = timing["sessions"][0]
    assert session["videos"] == N_VIDEOS and session["batch_size"] == 5 and session["device"] == "cpu"

    report = (first.run_dir / "report.md").read_text()
    cost = report.split("### Cost")[1]
    assert f"{N_VIDEOS} videos decoded and searched for faces" in cost
    assert "| level | videos | perturb s | inference s (meso) | inference s (meso4) |" in cost
    for level in ("none", "flip", "GB:2", "all 3 levels"):
        assert f"| {level} | {N_VIDEOS} |" in cost

    # a second run of the same videos on the cached faces: no extraction, cache hits counted separately
    second = runner.run(config_for(demo, tmp_path / "cache", tmp_path / "second", levels=["GB:2"]),
                        progress=False)
    faces = timing_of(second.run_dir)["faces"]
    assert faces["cache_hits"] == N_VIDEOS and faces["extracted"] == 0 and faces["extract_seconds"] == 0
    assert faces["cache_seconds"] > 0
    assert list(timing_of(second.run_dir)["levels"]) == ["none", "GB:2"]


def test_a_resumed_run_adds_to_the_timing_of_the_interrupted_one(demo, tmp_path, monkeypatch):
    calls: list[str] = []
    original = runner.queue_video

    def flaky(item, *args, **kwargs):
        calls.append(item.video_id)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return original(item, *args, **kwargs)

    monkeypatch.setattr(runner, "queue_video", flaky)
    config = config_for(demo, tmp_path / "cache", tmp_path / "run", batch_size=N_FRAMES)  # no video left buffered
    with pytest.raises(KeyboardInterrupt):
        runner.run(config, progress=False)
    first = timing_of(tmp_path / "run")  # written on the interrupt
    assert len(first["sessions"]) == 1 and first["faces"]["jobs"] == 3
    assert all(entry["videos"] == 2 for entry in first["levels"].values())
    assert len(results.read_scores(tmp_path / "run")) == 2 * 6

    monkeypatch.setattr(runner, "queue_video", original)
    runner.run(config_for(demo, tmp_path / "cache", tmp_path / "run", batch_size=7), progress=False)
    total = timing_of(tmp_path / "run")
    assert len(total["sessions"]) == 2 and total["sessions"][1]["videos"] == 2
    # the third video was extracted (and cached) before the interrupt, the fourth only now
    assert total["faces"]["jobs"] == 3 + 2 and total["faces"]["cache_hits"] == 1 and total["faces"]["extracted"] == 4
    assert_levels_complete(total, N_VIDEOS)
    for level, entry in total["levels"].items():
        for name, det in entry["detectors"].items():
            assert det["seconds"] > first["levels"][level]["detectors"][name]["seconds"]
    assert total["wall_seconds"] > first["wall_seconds"]


def test_cost_table_from_timing_alone():
    timing = {"levels": {"none": {"videos": 2, "perturb_seconds": 0.0,
                                  "detectors": {"meso": {"frames": 64, "seconds": 1.0}}},
                         "heavy": {"videos": 2, "perturb_seconds": 0.5,
                                   "detectors": {"meso": {"frames": 64, "seconds": 1.5}}}}}
    table = cost_table(timing, ["none", "heavy"])
    assert "| none | 2 | 0.00 | 1.00 | 64 | 500 |" in table
    assert "| heavy | 2 | 0.50 | 1.50 | 64 | 1000 |" in table
    assert "| all 2 levels | 2 | 0.50 | 2.50 | 128 | 1500 |" in table
    assert cost_table({"levels": {}}) is None
