"""`--cache-perturbed`: later runs load each level's perturbed crops instead of perturbing again, with the same rows."""
from __future__ import annotations

import json

import numpy as np
import pytest

import detectors
from benchmarks import runner
from benchmarks.cli import main
from benchmarks.config import RunConfig
from benchmarks.pipeline.perturbed_cache import PerturbedCache, PerturbedLevel
from datasets.demo import generate_demo
from reports import run_files as results

N_VIDEOS = 3
LEVELS = ["none", "heavy", "VC:3@video"]  # an imgaug level, and a re-encode of the file with re-detection
COMPARED = ("video_id", "detector", "level", "score", "n_frames", "frame_scores", "frame_indices", "params", "status",
            "message")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("perturbed-cache") / "demo"
    generate_demo(root, seed=3, n_train=0, n_test=N_VIDEOS, frames=12)
    return root


def config_for(demo, cache, out, **kw) -> RunConfig:
    base = dict(detectors=["meso"], levels=LEVELS, dataset="folder", data_root=str(demo),
                weights={"meso": str(detectors.default_weights("meso"))}, num_frames=4, bootstrap=0,
                cache_dir=str(cache), out=str(out), workers=1, score_cache=False)
    return RunConfig(**{**base, **kw})


def rows_of(run_dir) -> list[tuple]:
    return sorted(tuple(r[c] for c in COMPARED) for r in results.read_scores(run_dir))


def level_timing(run_dir) -> dict:
    return json.loads((run_dir / "timing.json").read_text())["levels"]


def test_a_later_run_loads_the_perturbed_crops_and_scores_the_same(demo, tmp_path):
    cache = tmp_path / "cache"
    plain = runner.run(config_for(demo, cache, tmp_path / "plain"), progress=False)
    first = runner.run(config_for(demo, cache, tmp_path / "first", cache_perturbed=True), progress=False)
    stored = PerturbedCache(cache)
    assert stored.entries() == N_VIDEOS * 2  # heavy and VC, never the identity level
    assert all(entry["from_perturbed_cache"] == 0 for entry in level_timing(first.run_dir).values())
    second = runner.run(config_for(demo, cache, tmp_path / "second", cache_perturbed=True), progress=False)
    spent = level_timing(second.run_dir)
    assert spent["heavy"]["from_perturbed_cache"] == spent["VC:3@video"]["from_perturbed_cache"] == N_VIDEOS
    assert spent["none"]["from_perturbed_cache"] == 0
    assert rows_of(plain.run_dir) == rows_of(first.run_dir) == rows_of(second.run_dir)  # bit-identical pixels


def test_other_inputs_miss_and_damaged_entries_are_computed_again(demo, tmp_path):
    cache = tmp_path / "cache"
    runner.run(config_for(demo, cache, tmp_path / "first", levels=["none", "heavy"], cache_perturbed=True),
               progress=False)
    stored = PerturbedCache(cache)
    damaged = sorted(stored.dir.rglob("*.npz"))[0]  # one of the 3 entries of the first run
    damaged.write_bytes(damaged.read_bytes()[:100])
    other_seed = runner.run(config_for(demo, cache, tmp_path / "seed", levels=["none", "heavy"], cache_perturbed=True,
                                       seed=1), progress=False)
    assert level_timing(other_seed.run_dir)["heavy"]["from_perturbed_cache"] == 0
    again = runner.run(config_for(demo, cache, tmp_path / "again", levels=["none", "heavy"], cache_perturbed=True),
                       progress=False)
    assert level_timing(again.run_dir)["heavy"]["from_perturbed_cache"] == N_VIDEOS - 1
    assert rows_of(again.run_dir) == rows_of(tmp_path / "first")


def test_entries_round_trip_and_cache_commands(tmp_path, capsys):
    stored = PerturbedCache(tmp_path)
    faces = np.random.default_rng(0).integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)
    stored.store("ab" * 32, PerturbedLevel("ok", "", faces, "0 4 8", '{"face": {"steps": []}}'))
    stored.store("cd" * 32, PerturbedLevel("no_face", "after perturbation VC:3: no face", None, "", "{}"))
    loaded = stored.load("ab" * 32)
    assert np.array_equal(loaded.faces, faces) and loaded.frame_indices == "0 4 8"
    assert stored.load("cd" * 32).status == "no_face" and stored.load("cd" * 32).faces is None
    assert stored.load("ef" * 32) is None
    assert main(["cache", "info", "--cache-dir", str(tmp_path)]) == 0
    assert "perturbed-crop cache" in capsys.readouterr().out
    assert main(["cache", "clear", "--cache-dir", str(tmp_path)]) == 0
    assert stored.entries() == 0
